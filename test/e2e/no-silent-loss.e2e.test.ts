/**
 * No silent loss on any failure path (issue #13), with the real bundled handlers (the assets `cdk deploy` shipped)
 * against the emulator's DynamoDB and Kinesis:
 * - the event source mapping gives a batch up (bounded retries, opt-in) after crashes mid-batch; the next batch
 *   re-reads the skipped range from the stream, and a later redrive of it changes nothing;
 * - 32 lanes write one window at once;
 * - an aggregator far behind wall-clock time, with the idle closer running beside it.
 * Each ends in the independent reference: nothing lost, nothing counted twice, no `final` result before its time.
 *
 * Each run gets a window table and a stream of its own (same layout as the stack's), so that the lanes it drives
 * (real shard ids, for the re-read) share nothing with the deployed stack's traffic.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { CreateTableCommand, DeleteTableCommand, DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateStreamCommand, DeleteStreamCommand, DescribeStreamSummaryCommand, PutRecordsCommand, type _Record } from '@aws-sdk/client-kinesis';
import type { Context, KinesisStreamEvent } from 'aws-lambda';
import fc from 'fast-check';
import { REDRIVE_EVENT_FIELD, type AggregatorResponse } from '../../lambda/adapters/kinesis-handler';
import { ATTR, PENDING_INDEX } from '../../lambda/contract/window-table-layout';
import { parseAggregationSpec, type AggregationSpec } from '../../lambda/domain/spec';
import { awsClients, clientConfig } from '../../scripts/lib/aws-target';
import { REPO_ROOT } from '../../scripts/local/local-stack';
import { kinesisEventFor, readRange } from '../../scripts/lib/redrive';
import { NdjsonPrefixReader } from '../../scripts/lib/s3-sinks';
import { readStackOutputs } from '../../scripts/lib/stack-outputs';
import { functionEnvFor, loadBundledHandler } from '../support/bundled-function';
import { FaultProxy } from '../support/fault-proxy';
import { kinesisEvent, sequenceNumber } from '../support/harness';
import { pollUntil } from '../support/poll';
import { measuresClose, referenceAggregate, windowIdentity } from '../support/reference';
import { readTableWindows } from '../support/table-windows';
import { ENV } from '../../lambda/contract/env';

const outputsFile = process.env.E2E_OUTPUTS_FILE;
if (!outputsFile) throw new Error('E2E_OUTPUTS_FILE is not set: run the e2e suite through "npm test"');
const outputs = readStackOutputs(outputsFile);
const endpoint = process.env.E2E_ENDPOINT;
const target = { endpoint };
const clients = awsClients(target);
const ddb = new DynamoDBClient(clientConfig(target));

/** Co-partitioned on `site`, with a 30 s lateness: a skipped range applied after later batches would be late. */
const SPEC: AggregationSpec = parseAggregationSpec(JSON.parse(readFileSync(join(REPO_ROOT, 'specs', 'site-partitioned.json'), 'utf8')));
const LANE_IDLE_TIMEOUT_MS = 3_000;
const suffix = randomBytes(3).toString('hex');
const TABLE = `loss-${suffix}`;
const STREAM = `loss-${suffix}`;
let streamArn = '';

let proxy: FaultProxy | undefined;
let aggregator: (event: KinesisStreamEvent, context?: Context) => Promise<AggregatorResponse>;
let closer: (event?: unknown) => Promise<void>;

async function waitFor<T>(probe: () => Promise<T>, done: (v: T) => boolean, what: string): Promise<T> {
  return pollUntil(probe, done, { timeoutMs: 60_000, intervalMs: 250, describe: () => what });
}

beforeAll(async () => {
  if (endpoint) {
    proxy = new FaultProxy(new URL(endpoint));
    process.env.AWS_ENDPOINT_URL = await proxy.start();
  }
  await ddb.send(
    new CreateTableCommand({
      TableName: TABLE,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: ATTR.pk, AttributeType: 'S' },
        { AttributeName: ATTR.sk, AttributeType: 'S' },
        { AttributeName: ATTR.pending, AttributeType: 'S' },
        { AttributeName: ATTR.fireAt, AttributeType: 'N' },
      ],
      KeySchema: [
        { AttributeName: ATTR.pk, KeyType: 'HASH' },
        { AttributeName: ATTR.sk, KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: [
        {
          IndexName: PENDING_INDEX,
          KeySchema: [
            { AttributeName: ATTR.pending, KeyType: 'HASH' },
            { AttributeName: ATTR.fireAt, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'KEYS_ONLY' },
        },
      ],
    }),
  );
  await clients.kinesis.send(new CreateStreamCommand({ StreamName: STREAM, ShardCount: 1 }));
  await waitFor(() => ddb.send(new DescribeTableCommand({ TableName: TABLE })), (r) => r.Table?.TableStatus === 'ACTIVE', `table ${TABLE} active`);
  const summary = await waitFor(
    () => clients.kinesis.send(new DescribeStreamSummaryCommand({ StreamName: STREAM })),
    (r) => r.StreamDescriptionSummary?.StreamStatus === 'ACTIVE',
    `stream ${STREAM} active`,
  );
  streamArn = summary.StreamDescriptionSummary!.StreamARN!;
  Object.assign(process.env, functionEnvFor(outputs, SPEC, {
    [ENV.windowTableName]: TABLE,
    [ENV.pendingStaleAfterMs]: '0',
    // What the stack sets when retries are bounded (the opt-in): each batch marks itself in flight on its lane.
    [ENV.skipDetection]: 'retries',
    [ENV.laneIdleTimeoutMs]: String(LANE_IDLE_TIMEOUT_MS),
  }));
  aggregator = loadBundledHandler<typeof aggregator>(outputs.stackName, 'aggregator');
  closer = loadBundledHandler<typeof closer>(outputs.stackName, 'closer');
});

afterAll(async () => {
  await proxy?.stop();
  await ddb.send(new DeleteTableCommand({ TableName: TABLE })).catch(() => undefined);
  await clients.kinesis.send(new DeleteStreamCommand({ StreamName: STREAM })).catch(() => undefined);
});

interface Ev extends Record<string, unknown> {
  site: string;
  deviceId: string;
  ts: number;
  temperature: number;
}

function workload(runId: string, count: number, startMs: number, stepMs: number): Ev[] {
  return Array.from({ length: count }, (_, i) => ({
    site: `${runId}site-${i % 2}`,
    deviceId: `${runId}dev-${i % 4}`,
    ts: startMs + i * stepMs,
    temperature: 15 + ((i * 7) % 13),
  }));
}

/** Puts events on the run's stream, keyed by site as the spec says, and reads them back as the shard holds them. */
async function putAndRead(events: readonly Ev[]): Promise<_Record[]> {
  const res = await clients.kinesis.send(
    new PutRecordsCommand({ StreamName: STREAM, Records: events.map((e) => ({ PartitionKey: e.site, Data: Buffer.from(JSON.stringify(e)) })) }),
  );
  expect(res.FailedRecordCount ?? 0).toBe(0);
  const seqs = res.Records!.map((r) => r.SequenceNumber!);
  const read = await readRange(clients.kinesis, { shardId: res.Records![0].ShardId!, startSequenceNumber: seqs[0], endSequenceNumber: seqs.at(-1)!, streamArn });
  expect(read.problem).toBeUndefined();
  expect(read.records.map((r) => r.SequenceNumber)).toEqual(seqs);
  return read.records;
}

function eventOf(records: readonly _Record[]): KinesisStreamEvent {
  return kinesisEventFor({ shardId: 'shardId-000000000000', startSequenceNumber: '0', endSequenceNumber: '0', streamArn }, records, 'arn:aws:iam::000000000000:role/test');
}

const ours = (runId: string) => (l: { key?: Record<string, unknown> }) => !!l.key && Object.values(l.key).some((v) => String(v).startsWith(runId));

/** The table equals the reference fold; every result id has one content; `final` results are never corrected. */
async function assertExact(runId: string, events: readonly Ev[]): Promise<void> {
  const expected = referenceAggregate(SPEC, events);
  const actual = await readTableWindows(clients.doc, TABLE, SPEC, runId);
  expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
  for (const [id, w] of actual) {
    if (!measuresClose(w.measures, expected.get(id)!.measures)) throw new Error(`${id}: ${JSON.stringify(w.measures)} != ${JSON.stringify(expected.get(id)!.measures)}`);
  }
  const late = (await new NdjsonPrefixReader(clients.s3, outputs.BucketName, outputs.LatePrefix).readAll()) as { partitionKey?: string }[];
  expect(late.filter((l) => String(l.partitionKey ?? '').startsWith(runId))).toEqual([]);
  const results = ((await new NdjsonPrefixReader(clients.s3, outputs.BucketName, outputs.ResultsPrefix).readAll()) as { id: string; version: number; key?: Record<string, unknown>; windowStart: string; aggregation: string }[]).filter(ours(runId));
  const byId = new Map<string, string>();
  for (const r of results) {
    const body = JSON.stringify(r);
    expect(byId.get(r.id) ?? body).toBe(body);
    byId.set(r.id, body);
  }
  // No lateness in these workloads: a version above 1 would mean a window was declared final too early.
  expect(results.filter((r) => r.version !== 1).map((r) => `${windowIdentity(r as never)} v${r.version}`)).toEqual([]);
}

jest.setTimeout(10 * 60_000);
let run = 0;
describe('no silent loss', () => {
  test('the mapping gives up a batch after crashes mid-batch; the next batch repairs it; its redrive changes nothing', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 4 }),
        fc.integer({ min: 1, max: 3 }),
        fc.boolean(),
        async (afterWrites, attempts, redriveFirst) => {
          const runId = `nl${randomBytes(3).toString('hex')}-`;
          // Event times 20 s apart: the later batches move the watermark well past the given-up batch's windows. The
          // runs share the stream's shard (its lane), so each run's events come a day after the last's.
          const events = workload(runId, 60, 1_700_000_000_000 + run++ * 86_400_000, 20_000);
          const recs = await putAndRead(events);
          const [b1, b2, b3] = [recs.slice(0, 20), recs.slice(20, 40), recs.slice(40)];
          expect((await aggregator(eventOf(b1))).batchItemFailures).toEqual([]);
          for (let i = 0; i < attempts; i++) {
            // Each attempt: the in-flight mark and `afterWrites` window writes land, then the store fails.
            if (proxy) proxy.updatesLeft = 1 + afterWrites;
            const res = await aggregator(eventOf(b2)).catch(() => ({ batchItemFailures: [{ itemIdentifier: 'error' }] }));
            if (proxy) proxy.updatesLeft = undefined;
            if (proxy) expect(res.batchItemFailures.length).toBe(1);
          }
          // The mapping gives b2 up and sends its range to the failure queue; the redrive re-feeds it (as
          // scripts/lib/redrive.ts builds it), before or after the mapping's next batch.
          const redrive = () => aggregator({ ...eventOf(b2), [REDRIVE_EVENT_FIELD]: true } as KinesisStreamEvent);
          if (redriveFirst) expect(await redrive()).toEqual({ batchItemFailures: [] });
          expect(await aggregator(eventOf(b3))).toEqual({ batchItemFailures: [] });
          if (!redriveFirst) expect(await redrive()).toEqual({ batchItemFailures: [] });
          await assertExact(runId, events);
        },
      ),
      { numRuns: 4 },
    );
  });

  test('32 lanes writing one window at once all succeed', async () => {
    const runId = `nc${randomBytes(3).toString('hex')}-`;
    const start = 1_600_000_000_000 + Math.floor(Math.random() * 1e6) * 60_000;
    const lanes = Array.from({ length: 32 }, (_, i) => `shardId-${runId}${i}`);
    const perLane = lanes.map((_, l) =>
      Array.from({ length: 5 }, (__, j): Ev => ({ site: `${runId}hq`, deviceId: `${runId}dev-${l}`, ts: start + l * 100 + j, temperature: l + j })),
    );
    const responses = await Promise.all(
      lanes.map((lane, l) =>
        aggregator(kinesisEvent(lane, perLane[l].map((e, j) => ({ data: JSON.stringify(e), partitionKey: e.site, sequenceNumber: sequenceNumber(j + 1) })))),
      ),
    );
    expect(responses).toEqual(lanes.map(() => ({ batchItemFailures: [] })));
    await assertExact(runId, perLane.flat());
  });

  test('a lagging aggregator with the closer running: no window is final before its records are in', async () => {
    const runId = `ng${randomBytes(3).toString('hex')}-`;
    const lane = `shardId-${runId}lagging`;
    const events: Ev[] = [];
    let running = true;
    // The closer runs all along, as its schedule would, against wall-clock time.
    const closing = (async () => {
      while (running) {
        await closer();
        await new Promise((r) => setTimeout(r, 300));
      }
    })();
    try {
      // Batches keep coming, their event times minutes behind wall-clock time (windows long past in processing time)
      // and in order, 2 s apart, so that nothing is late.
      const base = Math.floor((Date.now() - 10 * 60_000) / 60_000) * 60_000;
      for (let b = 0; b < 12; b++) {
        const batch = Array.from({ length: 5 }, (_, j): Ev => ({ site: `${runId}s`, deviceId: `${runId}d`, ts: base + (b * 5 + j) * 2_000, temperature: b + j }));
        events.push(...batch);
        const res = await aggregator(kinesisEvent(lane, batch.map((e, j) => ({ data: JSON.stringify(e), partitionKey: e.site, sequenceNumber: sequenceNumber(b * 10 + j + 1) }))));
        expect(res).toEqual({ batchItemFailures: [] });
        await new Promise((r) => setTimeout(r, 500));
      }
      // Traffic stops: once the lane has been idle for the timeout, the closer fires what is left.
      const expected = referenceAggregate(SPEC, events);
      await pollUntil(
        () => readTableWindows(clients.doc, TABLE, SPEC, runId),
        (ws) => ws.size === expected.size && [...ws.values()].every((w) => w.version > 0 && !w.pending),
        // The closer pages the whole pending index each run; on a loaded machine a pass can take tens of seconds.
        { timeoutMs: 150_000, intervalMs: 500, describe: (ws) => `${ws ? [...ws.values()].filter((w) => w.version === 0 || w.pending).length : '?'} windows not yet closed and emitted` },
      );
    } finally {
      // Stop the closer even when the test fails, so that it cannot outlive the test and hit the next one's endpoint.
      running = false;
      await closing;
    }
    await assertExact(runId, events);
  });
});

/**
 * The torture suite (issue #12): hostile records through the real bundled aggregator, with the real
 * DynamoDBDocumentClient marshalling against the emulator's DynamoDB and the real S3 sinks. It asserts three things:
 * the shard keeps flowing (records after a bad one are aggregated, none of them late), every record is accounted for
 * (aggregated per an independent reference, or in the errors or late sink with a reason), and no item passes its
 * budget.
 */
import { randomBytes } from 'node:crypto';

import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import fc from 'fast-check';
import { itemBytes, WINDOW_ITEM_BUDGET_BYTES } from '../../lambda/domain/item-budget';
import { MAX_QUANTILE_SKETCH_BYTES } from '../../lambda/domain/quantile-sketch';
import { parseAggregationSpec, type AggregationSpec } from '../../lambda/domain/spec';
import { awsClients } from '../../scripts/lib/aws-target';
import { NdjsonPrefixReader } from '../../scripts/lib/s3-sinks';
import { readStackOutputs } from '../../scripts/lib/stack-outputs';
import { functionEnvFor, loadBundledHandler } from '../support/bundled-function';
import { everyMeasure } from '../support/factories';
import { kinesisEvent, sequenceNumber } from '../support/harness';
import { measuresClose, referenceAggregate } from '../support/reference';
import { readTableWindows, readWatermarks } from '../support/table-windows';

const outputsFile = process.env.E2E_OUTPUTS_FILE;
if (!outputsFile) throw new Error('E2E_OUTPUTS_FILE is not set: run the e2e suite through "npm test"');
const outputs = readStackOutputs(outputsFile);
const clients = awsClients({ endpoint: process.env.E2E_ENDPOINT });

/** Every measure type, keyed by run and device so that a run finds its own windows. */
const SPEC: AggregationSpec = parseAggregationSpec({
  eventTime: { field: 'ts' },
  aggregations: [
    {
      name: 'torture_1m',
      groupBy: ['run', 'deviceId'],
      window: { type: 'tumbling', sizeSeconds: 60 },
      allowedLatenessSeconds: 0,
      measures: everyMeasure(),
    },
  ],
});

let handler: (event: KinesisStreamEvent) => Promise<KinesisStreamBatchResponse>;

beforeAll(() => {
  Object.assign(process.env, functionEnvFor(outputs, SPEC));
  if (process.env.E2E_ENDPOINT) process.env.AWS_ENDPOINT_URL = process.env.E2E_ENDPOINT;
  handler = loadBundledHandler<typeof handler>(outputs.stackName, 'aggregator');
});

/** One record of a torture run: its payload text and what must become of it. */
interface Case {
  readonly label: string;
  readonly payload: string;
  /** The event as the reference must see it (event time in epoch ms), or the sink it must end in. */
  readonly expect: Record<string, unknown> | 'error' | 'late';
}

interface Sent extends Case {
  readonly sequenceNumber: string;
}

async function sinkEntries(prefix: string, lane: string): Promise<{ sequenceNumber: string; reason: string; payload?: string; payloadBase64?: string }[]> {
  const lines = (await new NdjsonPrefixReader(clients.s3, outputs.BucketName, prefix).readAll()) as Record<string, unknown>[];
  return lines.filter((l) => l.shardId === lane) as never;
}

/** Delivers batches in order, as the event source mapping would, and checks none reports a failure. */
async function deliver(lane: string, batches: readonly (readonly Case[])[]): Promise<Sent[]> {
  const sent: Sent[] = [];
  for (const batch of batches) {
    const recs = batch.map((c, i) => ({ ...c, sequenceNumber: sequenceNumber(sent.length + i + 1) }));
    const res = await handler(kinesisEvent(lane, recs.map((r) => ({ data: r.payload, partitionKey: 'p', sequenceNumber: r.sequenceNumber }))));
    expect(res).toEqual({ batchItemFailures: [] });
    sent.push(...recs);
  }
  return sent;
}

/** The three assertions of the suite, over everything a run sent. */
async function assertAccountedFor(runId: string, lane: string, sent: readonly Sent[]): Promise<void> {
  const valid = sent.filter((s) => typeof s.expect === 'object');
  const expected = referenceAggregate(SPEC, valid.map((s) => s.expect as Record<string, unknown>));
  const actual = await readTableWindows(clients.doc, outputs.WindowTableName, SPEC, runId);
  expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
  for (const [id, w] of actual) {
    if (!measuresClose(w.measures, expected.get(id)!.measures)) {
      throw new Error(`${id}: ${JSON.stringify(w.measures)} != ${JSON.stringify(expected.get(id)!.measures)}`);
    }
  }
  const errors = await sinkEntries(outputs.ErrorsPrefix, lane);
  const late = await sinkEntries(outputs.LatePrefix, lane);
  const label = (seq: string) => sent.find((s) => s.sequenceNumber === seq)?.label ?? seq;
  expect(errors.map((e) => label(e.sequenceNumber)).sort()).toEqual(sent.filter((s) => s.expect === 'error').map((s) => s.label).sort());
  expect(late.map((e) => label(e.sequenceNumber)).sort()).toEqual(sent.filter((s) => s.expect === 'late').map((s) => s.label).sort());
  for (const e of [...errors, ...late]) {
    expect(e.reason).toEqual(expect.stringMatching(/\S/));
    // The raw payload travels with the reason: nothing is lost to a decoding problem.
    const raw = sent.find((s) => s.sequenceNumber === e.sequenceNumber)!.payload;
    expect(e.payload ?? Buffer.from(e.payloadBase64 ?? '', 'base64').toString('utf8')).toBe(raw);
  }
  // No item passes its budget.
  const mine: Record<string, unknown>[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await clients.doc.send(new ScanCommand({ TableName: outputs.WindowTableName, ExclusiveStartKey: startKey }));
    mine.push(...(page.Items ?? []).filter((i) => String(i.pk).includes(runId)));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  expect(mine.length).toBeGreaterThan(0);
  for (const item of mine) {
    expect(itemBytes(item)).toBeLessThanOrEqual(WINDOW_ITEM_BUDGET_BYTES);
    const dd = (item.m as Record<string, { dd?: string }>).p99?.dd;
    if (dd) expect(dd.length).toBeLessThanOrEqual(MAX_QUANTILE_SKETCH_BYTES);
  }
  // The watermark is the largest accepted event time: a refused far-future record never moved it.
  const wm = (await readWatermarks(clients.doc, outputs.WindowTableName)).get(lane);
  expect(wm).toBe(Math.max(...valid.map((s) => (s.expect as { ts: number }).ts)));
}

jest.setTimeout(5 * 60_000);

describe('torture: hostile records through the bundled handler', () => {
  test('every hostile case is refused with a reason or aggregated exactly, and the shard keeps flowing', async () => {
    const runId = `tt${randomBytes(3).toString('hex')}-`;
    const lane = `shardId-${runId}torture`;
    const now = Date.now();
    const t0 = Math.floor((now - 30 * 60_000) / 60_000) * 60_000;
    const ok = (deviceId: string, ts: number, v: number, extra: Record<string, unknown> = {}) => {
      const e = { run: runId, deviceId, ts, v, user: `u${Math.round(Math.abs(v)) % 7}`, ...extra };
      return { label: `${deviceId}@${ts - t0}:${v}`, payload: JSON.stringify(e), expect: e as Record<string, unknown> };
    };
    const bad = (label: string, payload: string): Case => ({ label, payload, expect: 'error' });
    const base = { run: runId, deviceId: 'a', ts: t0 + 10_000, v: 1, user: 'u' };
    const withField = (field: string, value: unknown) => JSON.stringify({ ...base, [field]: value });

    const before = [0, 1, 2, 3].map((i) => ok('a', t0 + i * 1000, i));
    const hostile: Case[] = [
      bad('far future ISO', withField('ts', '9999-01-01T00:00:00Z')),
      bad('clock a day fast', withField('ts', now + 86_400_000)),
      bad('Feb 30', withField('ts', '2024-02-30T00:00:00Z')),
      bad('no zone', withField('ts', '2024-03-01T00:00:00')),
      bad('ts 1e308', withField('ts', 1e308)),
      bad('ts object', withField('ts', { at: 1 })),
      bad('ts "constructor"', withField('ts', 'constructor')),
      bad('v 1e308', withField('v', 1e308)),
      bad('v 1e400 (Infinity)', withField('v', 1).replace('"v":1', '"v":1e400')),
      bad('v nested object', withField('v', { value: 1 })),
      bad('v numeric string', withField('v', '12')),
      bad('deviceId 3,000 chars', withField('deviceId', 'x'.repeat(3000))),
      bad('deviceId lone surrogate', withField('deviceId', 'a\ud800')),
      bad('deviceId array', withField('deviceId', ['a'])),
      bad('deviceId 2^53+2', withField('deviceId', 2 ** 53 + 2)),
      bad('user missing', JSON.stringify({ ...base, user: undefined })),
      bad('not JSON', '{"ts": 1,'),
      bad('a JSON array', '[1,2,3]'),
      bad('empty payload', ''),
      bad('JSON null', 'null'),
    ];
    const valid: Case[] = [
      // Epoch seconds, read as seconds (auto-detected against the arrival time).
      { label: 'epoch seconds', payload: JSON.stringify({ ...base, ts: (t0 + 5000) / 1000 }), expect: { ...base, ts: t0 + 5000 } },
      { label: '-0', payload: withField('v', 1).replace('"v":1', '"v":-0'), expect: { ...base, v: -0 } },
      ok('huge', t0 + 1000, 1e100),
      ok('huge', t0 + 2000, 1e100),
      ok('big sum', t0 + 1000, 4e15),
      ok('big sum', t0 + 2000, 4e15),
      ok('big sum', t0 + 3000, 4e15),
      ok('tiny', t0 + 1000, 1e-300),
      ok('tiny', t0 + 2000, 5e-324),
      ok('𝓤ñí©ødé-👩‍👩‍👧', t0 + 1000, 3),
      ok('a', t0 + 4000, 7, { user: 'u'.repeat(10_000) }),
      {
        label: '__proto__ key',
        payload: `{"__proto__":{"v":999,"deviceId":"evil"},${JSON.stringify({ ...base, v: 2 }).slice(1)}`,
        expect: { ...base, v: 2 },
      },
      ok('a', t0 + 20_000, 0, { extra: { deeply: { nested: [1, { x: null }] } } }),
    ];
    const wide = Array.from({ length: 436 }, (_, i) => ok('wide', t0 + 30_000 + i, 10 ** (-9 + i / 4)));
    // Hostile records interleaved with good ones, so that every bad record has a good one right behind it.
    const middle = hostile.flatMap((h, i) => [h, ok('b', t0 + 40_000 + i, i)]);
    // After the storm, normal records of a later minute: none may be late.
    const after = [ok('a', t0 + 60_000, 1), ok('b', t0 + 61_000, 2)];
    // An epoch-seconds value from 2017: plausible only as seconds, and by now far behind the watermark.
    const tooLate: Case = { label: 'epoch seconds from 2017', payload: JSON.stringify({ ...base, ts: 1_500_000_000 }), expect: 'late' };

    const sent = await deliver(lane, [before, [...middle, ...valid], wide, [...after, tooLate]]);
    await assertAccountedFor(runId, lane, sent);
  });

  test('arbitrary JSON in every field never fails a batch, through the real document client', async () => {
    const now = Date.now();
    const anyValue = fc.oneof(
      fc.jsonValue({ maxDepth: 2 }),
      fc.constantFrom(-0, 1e308, -1e308, 1e-300, 2 ** 53 + 2, '__proto__', 'a\udc00', '2024-02-30', 'x'.repeat(2000), now + 86_400_000),
      fc.integer({ min: now - 20 * 60_000, max: now }),
      fc.double({ noNaN: true }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ ts: anyValue, v: anyValue, deviceId: anyValue, user: anyValue }, { requiredKeys: [] }), { minLength: 1, maxLength: 25 }),
        async (events) => {
          const runId = `tp${randomBytes(3).toString('hex')}-`;
          const lane = `shardId-${runId}property`;
          const payloads = events.map((e) => JSON.stringify({ run: runId, ...e }));
          const res = await handler(kinesisEvent(lane, payloads.map((p, i) => ({ data: p, partitionKey: 'p', sequenceNumber: sequenceNumber(i + 1) }))));
          expect(res).toEqual({ batchItemFailures: [] });
          // Every record is either counted in a window or in a sink with a reason.
          const windows = await readTableWindows(clients.doc, outputs.WindowTableName, SPEC, runId);
          const counted = [...windows.values()].reduce((n, w) => n + (w.measures.events as number), 0);
          const errors = await sinkEntries(outputs.ErrorsPrefix, lane);
          const late = await sinkEntries(outputs.LatePrefix, lane);
          expect([...errors, ...late].every((e) => e.reason.length > 0)).toBe(true);
          expect(counted + errors.length + late.length).toBe(payloads.length);
        },
      ),
      { numRuns: 6 },
    );
  });
});

/**
 * The replay harness: the real bundled aggregator (the asset `cdk deploy` shipped), driven as the event source
 * mapping would drive it, against the deployed table, stream of results and bucket, under adversarial redelivery
 * schedules from fast-check: whole batches again, suffixes, shifted halves, crashes after some of a batch's writes
 * (injected by a proxy in front of the emulator), failed emissions, KPL aggregates, resharding (a parent shard read
 * to its end, then its children) and parallel batches of one shard (ParallelizationFactor > 1, per partition key).
 *
 * The emulator's own event source mapping honours none of these retry semantics (see the README), which is why the
 * harness drives the handler itself. The final table must equal an independent reference fold over the distinct
 * records, with no double count and no loss.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import fc from 'fast-check';
import { compileSpec } from '../../lambda/domain/compiled-spec';
import { parseAggregationSpec, type AggregationSpec } from '../../lambda/domain/spec';
import { awsClients } from '../../scripts/lib/aws-target';
import { aggregateKpl } from '../../scripts/lib/kpl-aggregate';
import { REPO_ROOT } from '../../scripts/local/local-stack';
import { NdjsonPrefixReader } from '../../scripts/lib/s3-sinks';
import { readStackOutputs } from '../../scripts/lib/stack-outputs';
import { generateIotWorkload } from '../../scripts/workload';
import { functionEnvFor, loadBundledHandler } from '../support/bundled-function';
import { FaultProxy } from '../support/fault-proxy';
import { kinesisEvent, sequenceNumber } from '../support/harness';
import { measuresClose, referenceAggregate, windowIdentity } from '../support/reference';
import { playSchedule, stepArb, type Step } from '../support/redelivery';
import { readTableKeyWindows, readTableWindows, scanTable } from '../support/table-windows';
import { keyWindowIdentity, referenceKeyWindows } from '../support/key-window-reference';
import { windowResultsOfItems } from '../../scripts/lib/window-results';
import { ENV } from '../../lambda/contract/env';

const outputsFile = process.env.E2E_OUTPUTS_FILE;
if (!outputsFile) throw new Error('E2E_OUTPUTS_FILE is not set: run the e2e suite through "npm test"');
const outputs = readStackOutputs(outputsFile);
const endpoint = process.env.E2E_ENDPOINT;
const clients = awsClients({ endpoint });

/**
 * The harness's spec: co-partitioned on `site` (so parallel batches of a shard are allowed) and with a lateness
 * longer than any schedule's disorder, so that every record counts and the reference is a plain fold. Beside the
 * tumbling and hopping windows, the session and stagger aggregations of specs/sessions.json, whose merges and fences
 * go through the same schedules.
 */
const readSpec = (name: string) => JSON.parse(readFileSync(join(REPO_ROOT, 'specs', name), 'utf8')) as { aggregations: object[] };
const SITE_PARTITIONED = readSpec('site-partitioned.json');
/**
 * An aggregation grouped by device alone, which is not co-partitioned with `site`: `state: auto` keeps it per shard
 * (a partial per window and lane under a root), so the schedules exercise that layout too. A device always reports
 * from one site, so each of its windows still sees one partition key per shard. Its name is the harness's own: the
 * closer the harness runs (with every lane idle) reads only this aggregation's windows, not other tests'.
 */
const PER_SHARD = {
  name: 'rh_device_any_1m',
  groupBy: ['deviceId'],
  window: { type: 'tumbling', sizeSeconds: 60 },
  allowedLatenessSeconds: 3600,
  measures: [
    { name: 'events', op: 'count' },
    { name: 'sum_temp', op: 'sum', field: 'temperature' },
  ],
};
const SPEC: AggregationSpec = parseAggregationSpec({
  ...SITE_PARTITIONED,
  aggregations: [...SITE_PARTITIONED.aggregations, ...readSpec('sessions.json').aggregations, PER_SHARD],
});
for (const a of SPEC.aggregations) (a as { allowedLatenessSeconds: number }).allowedLatenessSeconds = 3600;
/** The closer's spec: the per-shard aggregation alone (see {@link PER_SHARD}). */
const CLOSER_SPEC: AggregationSpec = parseAggregationSpec({ ...SITE_PARTITIONED, aggregations: [PER_SHARD] });

let proxy: FaultProxy | undefined;
let handler: (event: KinesisStreamEvent) => Promise<KinesisStreamBatchResponse>;
let closer: () => Promise<void>;

beforeAll(async () => {
  if (endpoint) {
    proxy = new FaultProxy(new URL(endpoint));
    process.env.AWS_ENDPOINT_URL = await proxy.start();
  }
  Object.assign(process.env, functionEnvFor(outputs, SPEC, {
    // Every delivery may emit what a crashed one left pending, so a schedule's end shows all that was left.
    [ENV.pendingStaleAfterMs]: '0',
    // The handler runs in this process: keep its per-batch log lines and EMF documents (and the injected faults'
    // error lines) out of the test output. Jest gives each test file its own process.env.
    [ENV.serviceName]: 'aggregator',
    [ENV.metricsNamespace]: 'ReplayHarness',
    POWERTOOLS_METRICS_DISABLED: 'true',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
  }));
  handler = loadBundledHandler<typeof handler>(outputs.stackName, 'aggregator');
  // The closer reads its environment when loaded: its own spec, and every lane idle after a millisecond, so that a
  // pass fires every per-shard window the schedules left open (their content is in the partials until then).
  const aggregatorEnv = { ...process.env };
  Object.assign(process.env, functionEnvFor(outputs, CLOSER_SPEC, { [ENV.serviceName]: 'closer', [ENV.laneIdleTimeoutMs]: '1' }));
  closer = loadBundledHandler<typeof closer>(outputs.stackName, 'closer');
  Object.assign(process.env, aggregatorEnv);
});
afterAll(async () => proxy?.stop());

interface Rec {
  readonly partitionKey: string;
  readonly data: Buffer;
  readonly sequenceNumber: string;
  /** The events inside (several for a KPL aggregate). */
  readonly events: Record<string, unknown>[];
}

/** The workload of one run as stream records: some of them KPL aggregates of several events. */
function records(seed: number, runId: string, count: number, kplEvery: number): Rec[] {
  const workload = generateIotWorkload({ seed, count, startMs: 1_700_000_000_000, devices: 8, sites: 3, stepMs: 1000, malformedRatio: 0, idPrefix: runId });
  const out: Rec[] = [];
  for (let i = 0; i < workload.length; ) {
    const take = kplEvery > 0 && out.length % kplEvery === kplEvery - 1 ? 3 : 1;
    // A KPL aggregate packs consecutive events of one partition key (the site).
    const group = [workload[i]];
    while (group.length < take && i + group.length < workload.length && workload[i + group.length].event!.site === workload[i].event!.site) {
      group.push(workload[i + group.length]);
    }
    i += group.length;
    const seq = sequenceNumber(out.length + 1);
    const pk = String(group[0].event!.site);
    if (group.length === 1) out.push({ partitionKey: pk, data: Buffer.from(group[0].data), sequenceNumber: seq, events: [group[0].event!] });
    else {
      const [agg] = aggregateKpl(group.map((g) => ({ partitionKey: pk, data: g.data })));
      out.push({ partitionKey: pk, data: agg.data, sequenceNumber: seq, events: group.map((g) => g.event!) });
    }
  }
  return out;
}

function deliveryTo(lane: string) {
  return {
    sequenceNumberOf: (r: Rec) => r.sequenceNumber,
    arm: (step: Step) => {
      if (!proxy) return;
      if (step.kind === 'crash') proxy.updatesLeft = step.afterWrites;
      if (step.kind === 'emit-fails') proxy.failEmissions = true;
    },
    disarm: () => {
      if (!proxy) return;
      proxy.updatesLeft = undefined;
      proxy.failEmissions = false;
    },
    deliver: async (batch: readonly Rec[]) => {
      const res = await handler(kinesisEvent(lane, batch));
      return res.batchItemFailures[0]?.itemIdentifier;
    },
  };
}

/**
 * @param applied the records in the order their lanes applied them (stagger windows depend on it for out-of-order
 * events; see lambda/domain/key-windows.ts)
 */
async function assertExactlyOnce(runId: string, recs: readonly Rec[], applied: readonly Rec[] = recs): Promise<void> {
  const expected = referenceAggregate(SPEC, recs.flatMap((r) => r.events));
  // Session and stagger windows: the key items hold every window of their key (lateness is longer than any schedule,
  // so none is dropped), each equal to the reference computed from the whole event set.
  const expectedKeyed = referenceKeyWindows(SPEC, applied.flatMap((r) => r.events));
  // What `pipeline query` and the live status read, before the closer runs: every window of the three layouts equal
  // to the reference, the per-shard ones that no firing has merged yet read from their partials.
  const live = windowResultsOfItems(compileSpec(SPEC), await scanTable(clients.doc, outputs.WindowTableName)).filter((r) => Object.values(r.key).some((v) => String(v).startsWith(runId)));
  const liveIds = live.map((r) => (r.sessionId === undefined ? windowIdentity(r) : keyWindowIdentity(r)));
  expect(liveIds.sort()).toStrictEqual([...expected.keys(), ...expectedKeyed.keys()].sort());
  for (const r of live) {
    const want = r.sessionId === undefined ? expected.get(windowIdentity(r)) : expectedKeyed.get(keyWindowIdentity(r));
    expect({ id: windowIdentity(r), close: measuresClose(r.measures, want!.measures) }).toStrictEqual({ id: windowIdentity(r), close: true });
  }
  // Per-shard windows hold their content in partials until fired: the closer fires them (and re-fires corrected ones),
  // so that their root items show what was emitted.
  await new Promise((r) => setTimeout(r, 5));
  await closer();
  const actualKeyed = await readTableKeyWindows(clients.doc, outputs.WindowTableName, SPEC, runId);
  expect([...actualKeyed.keys()].sort()).toStrictEqual([...expectedKeyed.keys()].sort());
  for (const [id, w] of actualKeyed) {
    expect(measuresClose(w.measures, expectedKeyed.get(id)!.measures)).toBe(true);
    expect(w.emitted).toBe(w.version);
  }
  const actual = await readTableWindows(clients.doc, outputs.WindowTableName, SPEC, runId);
  expect([...actual.keys()].sort()).toStrictEqual([...expected.keys()].sort());
  for (const [id, w] of actual) {
    expect(measuresClose(w.measures, expected.get(id)!.measures)).toBe(true);
    expect((w.version > 0 && w.pending)).toBe(false);
  }
  const lines = (await new NdjsonPrefixReader(clients.s3, outputs.BucketName, outputs.ResultsPrefix).readAll()) as { id: string; key?: Record<string, unknown> }[];
  const byId = new Map<string, string>();
  for (const l of lines.filter((x) => x.key && Object.values(x.key).some((v) => String(v).startsWith(runId)))) {
    const body = JSON.stringify(l);
    expect(byId.get(l.id) ?? body).toBe(body);
    byId.set(l.id, body);
  }
}

jest.setTimeout(10 * 60_000);
describe('replay harness: the bundled handler under redelivery', () => {
  test('the common path writes each touched window once per batch', async () => {
    // On real AWS there is no proxy in front of DynamoDB to count writes with; the other schedules still run there.
    if (!proxy) return;
    const runId = `rh${randomBytes(3).toString('hex')}-`;
    const recs = records(11, runId, 120, 0);
    const lane = `shardId-${runId}clean`;
    for (let i = 0; i < recs.length; i += 40) {
      const batch = recs.slice(i, i + 40);
      const from: number = proxy.calls.length;
      expect(await handler(kinesisEvent(lane, batch))).toStrictEqual({ batchItemFailures: [] });
      // Window items (`w#`): a per-shard aggregation's partials (`p#`) are written once per batch too, and may be
      // sealed again when the batch's own watermark fires their window.
      // A window write puts the whole item, measures included (an update that SETs it all where the index key is not
      // known); session and stagger key sets are put too, without a measures map.
      const writes: string[] = proxy.calls.slice(from).flatMap((c) => {
        type Key = { pk: { S: string }; sk: { S: string } };
        const body = JSON.parse(c.body) as { Item?: Key & { m?: unknown }; Key?: Key; UpdateExpression?: string };
        const key = c.target.endsWith('.PutItem') && body.Item?.m ? body.Item : c.target.endsWith('.UpdateItem') && body.UpdateExpression?.startsWith('SET ') ? body.Key : undefined;
        return key && key.pk.S.startsWith('w#') ? [JSON.stringify({ pk: key.pk, sk: key.sk })] : [];
      });
      const single = parseAggregationSpec({ ...SITE_PARTITIONED });
      const touched = referenceAggregate(single, batch.flatMap((r) => r.events));
      expect(new Set(writes).size).toBe(writes.length);
      expect(writes.length).toBeGreaterThanOrEqual(touched.size);
    }
    await assertExactlyOnce(runId, recs);
  });

  test('adversarial schedules, KPL aggregates and resharding end in the reference state', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.array(stepArb(30), { maxLength: 14 }),
        fc.array(stepArb(30), { maxLength: 6 }),
        async (seed, parentSteps, childSteps) => {
          const runId = `rh${randomBytes(3).toString('hex')}-`;
          const recs = records(seed, runId, 90, 4);
          // Resharding: the parent shard is read to its end before its two children, which have new shard ids.
          const cut = Math.floor(recs.length / 2);
          await playSchedule(recs.slice(0, cut), parentSteps, deliveryTo(`shardId-${runId}parent`));
          const children = recs.slice(cut);
          await playSchedule(children.filter((_, i) => i % 2 === 0), childSteps, deliveryTo(`shardId-${runId}child1`));
          await playSchedule(children.filter((_, i) => i % 2 === 1), childSteps, deliveryTo(`shardId-${runId}child2`));
          // A last clean delivery emits whatever a failed attempt left pending.
          await handler(kinesisEvent(`shardId-${runId}child2`, children.filter((_, i) => i % 2 === 1).slice(-1)));
          await assertExactlyOnce(runId, recs, [...recs.slice(0, cut), ...children.filter((_, i) => i % 2 === 0), ...children.filter((_, i) => i % 2 === 1)]);
        },
      ),
      { numRuns: 4 },
    );
  });

  // ParallelizationFactor > 1 is refused at synth (see lib/config/rules.ts); concurrent deliveries of one shard still happen
  // when a redrive runs beside the event source mapping, and must not lose or double-count.
  test('concurrent deliveries of one shard, ordered per partition key only', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 1_000_000 }), fc.array(stepArb(20), { maxLength: 10 }), async (seed, steps) => {
        const runId = `rh${randomBytes(3).toString('hex')}-`;
        const recs = records(seed, runId, 90, 0);
        const lane = `shardId-${runId}parallel`;
        // One sequence of the shard, split by partition key into lanes that run concurrently.
        const keys = [...new Set(recs.map((r) => r.partitionKey))];
        await Promise.all(keys.map((k) => playSchedule(recs.filter((r) => r.partitionKey === k), steps, deliveryTo(lane))));
        await handler(kinesisEvent(lane, recs.slice(-1)));
        await assertExactlyOnce(runId, recs);
      }),
      { numRuns: 3 },
    );
  });
});

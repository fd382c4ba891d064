import { fc, test } from '@fast-check/jest';
import { processBatch, type BatchDeps } from '../../lambda/app/process-batch';
import { closeIdleWindows } from '../../lambda/app/close-idle-windows';
import { compileSpec } from '../../lambda/domain/compiled-spec';
import { emptyState, mergeInto, toMeasureValues } from '../../lambda/domain/aggregate-state';
import { toIsoUtc } from '../../lambda/domain/event-time';
import { keyRecord, windowId } from '../../lambda/domain/window-ref';
import { generateIotWorkload } from '../../scripts/workload';
import { MemoryRecordSink, MemoryResultSink, sourceRecords } from '../support/harness';
import { MemoryWindowStore } from '../support/memory-window-store';
import { measuresClose, referenceAggregate, windowIdentity } from '../support/reference';
import { playSchedule, stepArb } from '../support/redelivery';
import { memoryFaults } from '../support/memory-delivery';
import { specFactory } from '../support/factories';

/**
 * Per-shard window state (`state: per-shard`): several lanes feed the same windows, each through its own partial,
 * under adversarial delivery schedules (redeliveries, suffixes, crashes between item writes, failed emissions), with
 * the idle closer running in between (its firings by idleness seal partials). The final state and the last emitted
 * version of every window must equal a plain fold of the distinct records.
 */
const spec = specFactory(
  {
    name: 'device_1m',
    groupBy: ['deviceId'],
    window: { type: 'tumbling', sizeSeconds: 60 },
    allowedLatenessSeconds: 3600,
    measures: [
      { name: 'events', op: 'count' },
      { name: 'max_temp', op: 'max', field: 'temperature' },
    ],
    state: 'per-shard',
  },
  {
    name: 'site_5m',
    groupBy: ['site'],
    window: { type: 'hopping', sizeSeconds: 300, hopSeconds: 60 },
    allowedLatenessSeconds: 3600,
    measures: [
      { name: 'events', op: 'count' },
      { name: 'sum_temp', op: 'sum', field: 'temperature' },
      { name: 'devices', op: 'distinct', field: 'deviceId' },
    ],
    state: 'per-shard',
  },
);
const compiled = compileSpec(spec);
const LANES = ['shardId-000000000001', 'shardId-000000000002', 'shardId-000000000003'];
const IDLE_MS = 60_000;

const laneSchedule = fc.record({ seed: fc.integer({ min: 1, max: 1_000_000 }), steps: fc.array(stepArb(), { maxLength: 15 }) });

test.prop([fc.tuple(laneSchedule, laneSchedule, laneSchedule), fc.integer({ min: 2, max: 12 })], { numRuns: 40 })(
  'several lanes feeding per-shard windows: state and last emitted versions equal the reference fold, ids never change content',
  async (lanes, closerEvery) => {
    const store = new MemoryWindowStore();
    const results = new MemoryResultSink();
    const deps: BatchDeps = { spec: compiled, store, results, errors: new MemoryRecordSink(), late: new MemoryRecordSink() };
    const closer = { spec: compiled, store, results, laneIdleTimeoutMs: IDLE_MS };
    // Processing time an hour past the records' event times: the closer's last pass reaches every window.
    let now = 1_700_000_000_000 + 3_600_000;
    let deliveries = 0;
    const workloads = lanes.map(({ seed }, i) =>
      generateIotWorkload({ seed, count: 60, startMs: 1_700_000_000_000, devices: 4, sites: 2, stepMs: 3000, idPrefix: `l${i}-`, malformedRatio: 0 }),
    );
    await Promise.all(
      lanes.map(({ steps }, i) => {
        const records = sourceRecords(workloads[i].map((w) => w.data), workloads[i].map((w) => w.partitionKey), i * 1000);
        return playSchedule(records, steps, {
          sequenceNumberOf: (r) => r.sequenceNumber,
          ...memoryFaults(store, results),
          deliver: async (batch) => {
            // Every few deliveries the closer runs at a time every lane looks idle to: it fires open windows by
            // idleness, while the lanes still have records for them.
            if (++deliveries % closerEvery === 0) await closeIdleWindows(closer, (now += IDLE_MS + 1000));
            return (await processBatch(deps, { lane: LANES[i], records: [...batch] }, (now += 1000))).failedSequenceNumber;
          },
        });
      }),
    );
    // Everything through; the closer, with every lane idle, fires what is open and re-fires what was corrected.
    await closeIdleWindows(closer, (now += 3_600_000));

    for (const p of store.partials.values()) expect(p.stored.dirty).toBe(false);
    for (const { stored } of store.windows.values()) expect(stored.version > 0 && !stored.pending).toBe(true);

    const events = workloads.flat().filter((w) => w.event).map((w) => w.event!);
    const expected = referenceAggregate(spec, events);
    const identity = (ref: { aggregation: (typeof compiled.aggregations)[number]; keyJson: string; start: number }) =>
      windowIdentity({ aggregation: ref.aggregation.name, key: keyRecord(ref.aggregation, ref.keyJson), windowStart: toIsoUtc(ref.start) });
    const roots = [...store.windows.values()];
    expect(roots.map(({ ref }) => identity(ref)).sort()).toStrictEqual([...expected.keys()].sort());
    for (const { ref, stored } of roots) {
      const want = expected.get(identity(ref))!.measures;
      // The partials merged, and the snapshot of the last version, both hold every distinct record once.
      const merged = emptyState(ref.aggregation.layout);
      for (const { key, stored: p } of store.partials.values()) {
        if (windowId(key.ref.aggregation.name, key.ref.keyJson, key.ref.start) === windowId(ref.aggregation.name, ref.keyJson, ref.start)) {
          mergeInto(ref.aggregation.layout, merged, p.state);
        }
      }
      expect(measuresClose(toMeasureValues(ref.aggregation.layout, merged), want)).toBe(true);
      expect(measuresClose(toMeasureValues(ref.aggregation.layout, stored.state), want)).toBe(true);
      const last = results.emitted.filter((r) => r.aggregation === ref.aggregation.name && r.windowStart === toIsoUtc(ref.start) && JSON.stringify(r.key) === JSON.stringify(keyRecord(ref.aggregation, ref.keyJson)));
      const newest = last.reduce((a, b) => (b.version > a.version ? b : a));
      expect(newest.version).toBe(stored.version);
      expect(measuresClose(newest.measures, want)).toBe(true);
    }
    const byId = new Map<string, string>();
    for (const r of results.emitted) {
      const body = JSON.stringify(r);
      expect(byId.get(r.id) ?? body).toBe(body);
      byId.set(r.id, body);
    }
  },
);

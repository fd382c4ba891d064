
import { fc, test } from '@fast-check/jest';
import { closeIdleWindows } from '../../lambda/app/close-idle-windows';
import { processBatch, type BatchDeps } from '../../lambda/app/process-batch';
import type { SourceRecord } from '../../lambda/app/ports';
import { toMeasureValues } from '../../lambda/domain/aggregate-state';
import { compileSpec } from '../../lambda/domain/compiled-spec';
import { toIsoUtc } from '../../lambda/domain/event-time';
import { keyRecord } from '../../lambda/domain/window-ref';
import { QuantileSketch } from '../../lambda/domain/quantile-sketch';
import { generateIotWorkload } from '../../scripts/workload';
import { MemoryRecordSink, MemoryResultSink, sourceRecords } from '../support/harness';
import { MemoryWindowStore } from '../support/memory-window-store';
import { measuresClose, referenceAggregate, windowIdentity } from '../support/reference';
import { stepArb, type Step } from '../support/redelivery';
import { playInMemory } from '../support/memory-delivery';
import { specFactory } from '../support/factories';

const spec = specFactory(
  {
    name: 'device_1m',
    groupBy: ['deviceId'],
    window: { type: 'tumbling', sizeSeconds: 60 },
    allowedLatenessSeconds: 3600,
    measures: [
      { name: 'events', op: 'count' },
      { name: 'avg_temp', op: 'avg', field: 'temperature' },
      { name: 'max_temp', op: 'max', field: 'temperature' },
      { name: 'min_temp', op: 'min', field: 'temperature' },
    ],
  },
  {
    name: 'site_5m',
    groupBy: ['site'],
    window: { type: 'hopping', sizeSeconds: 300, hopSeconds: 60 },
    allowedLatenessSeconds: 3600,
    measures: [
      { name: 'events', op: 'count' },
      { name: 'sum_temp', op: 'sum', field: 'temperature' },
    ],
  },
);
const compiled = compileSpec(spec);
const LANE = 'shardId-000000000007';

function setup(with_ = compiled) {
  const store = new MemoryWindowStore();
  const results = new MemoryResultSink();
  const deps: BatchDeps = { spec: with_, store, results, errors: new MemoryRecordSink(), late: new MemoryRecordSink() };
  return { store, results, deps, errors: deps.errors as MemoryRecordSink };
}

/** Plays a schedule against the use case, with the in-memory store's crash injection. */
function play(records: SourceRecord[], steps: Step[], deps: BatchDeps, store: MemoryWindowStore, results: MemoryResultSink) {
  return playInMemory(records, steps, deps, store, results, LANE);
}

describe('exactly-once effect under redelivery (in-memory store)', () => {
  test.prop([fc.integer({ min: 1, max: 1_000_000 }), fc.array(stepArb(), { maxLength: 30 })], { numRuns: 60 })('the window state equals the reference fold of the distinct records, and result ids never change content', async (seed, steps) => {
    const workload = generateIotWorkload({ seed, count: 150, startMs: 1_700_000_000_000, devices: 6, sites: 2, stepMs: 2000 });
    const records = sourceRecords(workload.map((w) => w.data), workload.map((w) => w.partitionKey));
    const { store, results, deps, errors } = setup();
    await play(records, steps, deps, store, results);
    // One clean redelivery of the last record, then a pass of the idle closer (which sweeps every pending window, where a
    // batch looks only at those its watermark passes): whatever a failed attempt left pending must now be emitted.
    await processBatch(deps, { lane: LANE, records: records.slice(-1) }, 9_000_000);
    await closeIdleWindows(deps, 9_000_000);
    for (const { stored } of store.windows.values()) {
      expect((stored.version > 0 && stored.pending)).toBe(false);
    }

    const expected = referenceAggregate(spec, workload.filter((w) => w.event).map((w) => w.event!));
    const actual = new Map(
      [...store.windows.values()].map(({ ref, stored }) => [
        windowIdentity({ aggregation: ref.aggregation.name, key: keyRecord(ref.aggregation, ref.keyJson), windowStart: toIsoUtc(ref.start) }),
        { ref, stored },
      ]),
    );
    expect([...actual.keys()].sort()).toStrictEqual([...expected.keys()].sort());
    for (const [id, { ref, stored }] of actual) {
      expect(measuresClose(toMeasureValues(ref.aggregation.layout, stored.state), expected.get(id)!.measures)).toBe(true);
    }

    const byId = new Map<string, string>();
    for (const r of results.emitted) {
      const body = JSON.stringify(r);
      expect(byId.get(r.id) ?? body).toBe(body);
      byId.set(r.id, body);
    }
    for (const { ref, stored } of store.windows.values()) {
      if (stored.version > 0 && !stored.pending) {
        const last = results.emitted.filter((r) => r.windowStart === toIsoUtc(ref.start) && r.aggregation === ref.aggregation.name && JSON.stringify(r.key) === JSON.stringify(keyRecord(ref.aggregation, ref.keyJson)));
        expect(last.some((r) => r.version === stored.version)).toBe(true);
      }
    }
    const malformed = workload.filter((w) => w.malformation).length;
    expect(new Set(errors.all().map((e) => e.sequenceNumber)).size).toBe(malformed);
  });

  test('the common path writes each touched window once per batch', async () => {
    const workload = generateIotWorkload({ seed: 7, count: 400, startMs: 1_700_000_000_000, malformedRatio: 0 });
    const records = sourceRecords(workload.map((w) => w.data), workload.map((w) => w.partitionKey));
    const { store, deps } = setup();
    const out = await processBatch(deps, { lane: LANE, records }, 5);
    const distinct = new Set<string>();
    for (const w of workload) {
      for (const agg of compiled.aggregations) {
        for (const win of agg.assigner.assign(typeof w.event!.ts === 'number' ? (w.event!.ts) : Date.parse(w.event!.ts as string))) {
          distinct.add(`${agg.name}|${JSON.stringify(agg.groupBy.map((g) => w.event![g.field]))}|${win.start}`);
        }
      }
    }
    expect(out.stats.windowWrites).toBe(distinct.size);
    expect(store.writes).toBe(distinct.size);
    expect(out.stats.conflicts).toBe(0);
  });

  test('distinct and percentile sketches merge exactly once under the same schedules', async () => {
    const sketchSpec = specFactory(
      {
        name: 'site_sketch_1m',
        groupBy: ['site'],
        window: { type: 'tumbling', sizeSeconds: 60 },
        allowedLatenessSeconds: 3600,
        measures: [
          { name: 'events', op: 'count' },
          { name: 'devices', op: 'distinct', field: 'deviceId' },
          { name: 'p90_temp', op: 'percentile', field: 'temperature', quantile: 0.9 },
        ],
      },
    );
    const sketchCompiled = compileSpec(sketchSpec);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 1_000_000 }), fc.array(stepArb(), { maxLength: 20 }), async (seed, steps) => {
        const workload = generateIotWorkload({ seed, count: 120, startMs: 1_700_000_000_000, devices: 30, sites: 2, stepMs: 2000 });
        const records = sourceRecords(workload.map((w) => w.data), workload.map((w) => w.partitionKey));
        const { store, results, deps } = setup(sketchCompiled);
        await play(records, steps, deps, store, results);
        const expected = referenceAggregate(sketchSpec, workload.filter((w) => w.event).map((w) => w.event!));
        expect(store.windows.size).toBe(expected.size);
        for (const { ref, stored } of store.windows.values()) {
          const id = windowIdentity({ aggregation: ref.aggregation.name, key: keyRecord(ref.aggregation, ref.keyJson), windowStart: toIsoUtc(ref.start) });
          const want = expected.get(id)!.measures;
          const got = toMeasureValues(ref.aggregation.layout, stored.state);
          const quantiles = stored.state[2] as QuantileSketch;
          // The sketch holds each record once: its count is the exact count, under every redelivery.
          expect(quantiles.count).toBe(want.events);
          expect(measuresClose(got, want)).toBe(true);
        }
      }),
      { numRuns: 30 },
    );
  });
});

/**
 * P2: DynamoDB writes per batch on the generator's key mix (50 devices over 5 sites, 10 % of events out of order, 2 %
 * malformed), delivered as the event source mapping would: consecutive 500-record batches of one shard, against a
 * stateful in-memory store with DynamoDB's conditional semantics.
 *
 * Every store call stands for one DynamoDB request in `DynamoWindowStore`: `writeWindow` (a PutItem) and `markEmitted`
 * (an UpdateItem) are one each on a window item, `advanceWatermark` one PutItem on the lane's item. The minimum is computed
 * here independently of the aggregator: the distinct (aggregation, key, window) that the batch's valid, not-too-late
 * events fall into. The naive design is one write per valid record.
 */
import { createKinesisHandler } from '../lambda/adapters/kinesis-handler';
import type { WindowStore } from '../lambda/app/ports';
import { windowId, type WindowRef } from '../lambda/domain/window-ref';
import { windowHopMs, windowSizeMs, type AggregationSpec } from '../lambda/domain/spec';
import type { GeneratedRecord } from '../scripts/workload';
import { referenceTime } from '../fixtures/event-time';
import type { BenchLog, FigureResult } from './lib/figure';
import { CountingRecordSink, CountingResultSink, LeanWindowStore } from './lib/memory-ports';
import { median, round } from './lib/stats';
import { BENCH_START_MS, benchEvent, benchSpec, benchWorkload } from './lib/workload';
import { compileSpec, type CompiledSpec } from '../lambda/domain/compiled-spec';
import { parseAggregationSpec } from '../lambda/domain/spec';

/** Options of {@link runP2}. */
export interface P2Options {
  /** Records in all. @default 20000 */
  readonly records?: number;
  /** Records per batch: the stack's default BatchSize. @default 500 */
  readonly batchSize?: number;
}

/** Independently computed: the distinct windows the batch's events must update, and the records that count. */
function minimumWrites(
  spec: AggregationSpec,
  batch: readonly GeneratedRecord[],
  watermarkBefore: number | undefined,
): { ids: Set<string>; valid: number; recordWindows: number; maxTs: number | undefined } {
  const ids = new Set<string>();
  let valid = 0;
  let recordWindows = 0;
  let maxTs: number | undefined;
  for (const r of batch) {
    if (!r.event) continue;
    valid++;
    const ts = referenceTime(r.event[spec.eventTime.field]);
    if (maxTs === undefined || ts > maxTs) maxTs = ts;
    for (const agg of spec.aggregations) {
      // Per-key windows (session, stagger) keep one item per key: modelled here as one window per key.
      const size = windowSizeMs(agg.window);
      const hop = windowHopMs(agg.window);
      const lateness = agg.allowedLatenessSeconds * 1000;
      const keyJson = JSON.stringify(agg.groupBy.map((g) => r.event![g]));
      for (let start = Math.floor(ts / hop) * hop; start > ts - size; start -= hop) {
        recordWindows++;
        // Too late for its window: the late-data sink gets it, and no window write is due.
        if (watermarkBefore !== undefined && start + size + lateness <= watermarkBefore) continue;
        ids.add(windowId(agg.name, keyJson, start));
      }
    }
  }
  return { ids, valid, recordWindows, maxTs };
}

/**
 * Wraps a store to see which windows each write goes to: a window item's write, or a per-shard partial's write that
 * moves its fence (its data). A per-shard root's writes (registration, firing) and a partial's seal or clear are
 * counted in `other`.
 */
function observed(store: LeanWindowStore, written: string[], other: { writes: number }): WindowStore {
  const fences = new Map<string, string | undefined>();
  return {
    readLanes: () => store.readLanes(),
    writeLane: (lane, next, rev) => store.writeLane(lane, next, rev),
    getWindows: (refs) => store.getWindows(refs),
    findPending: (agg, end) => store.findPending(agg, end),
    markEmitted: (ref, v) => store.markEmitted(ref, v),
    getPartials: (keys) => store.getPartials(keys),
    writePartial: async (key, next, rev) => {
      const outcome = await store.writePartial(key, next, rev);
      const id = windowId(key.ref.aggregation.name, key.ref.keyJson, key.ref.start);
      if (outcome === 'written') {
        if (fences.get(`${id}|${key.lane}`) !== next.fence) written.push(id);
        else other.writes++;
        fences.set(`${id}|${key.lane}`, next.fence);
      }
      return outcome;
    },
    registerLane: (ref, lane, nowMs) => {
      other.writes++;
      return store.registerLane(ref, lane, nowMs);
    },
    writeWindow: async (ref: WindowRef, next, rev, nowMs) => {
      const outcome = await store.writeWindow(ref, next, rev, nowMs);
      if (outcome === 'written') {
        if (ref.aggregation.perShard) other.writes++;
        else written.push(windowId(ref.aggregation.name, ref.keyJson, ref.start));
      }
      return outcome;
    },
  };
}

/** The demo spec with every aggregation's state layout set to `state`. */
function specIn(state: 'single' | 'per-shard'): CompiledSpec {
  const { json } = benchSpec();
  const parsed = JSON.parse(json) as { aggregations: { state?: string }[] };
  for (const a of parsed.aggregations) a.state = state;
  return compileSpec(parseAggregationSpec(parsed));
}

/** Measures P2: the single-item layout is the figure; the per-shard layout is measured beside it (`raw.perShard`). */
export async function runP2(opts: P2Options = {}, log: BenchLog = () => undefined): Promise<FigureResult> {
  const single = await measureP2(specIn('single'), opts, log);
  const perShard = await measureP2(specIn('per-shard'), opts, log);
  return { ...single, raw: { ...single.raw, perShard: perShard.raw } };
}

async function measureP2(spec: CompiledSpec, opts: P2Options, log: BenchLog): Promise<FigureResult> {
  const n = opts.records ?? 20_000;
  const batchSize = opts.batchSize ?? 500;
  const records = benchWorkload(n);
  const store = new LeanWindowStore();
  const written: string[] = [];
  const other = { writes: 0 };
  const handler = createKinesisHandler(
    { spec, store: observed(store, written, other), results: new CountingResultSink(), errors: new CountingRecordSink(), late: new CountingRecordSink() },
    () => BENCH_START_MS + n * 100,
  );

  const perBatch: {
    minimum: number;
    dataWrites: number;
    fireWrites: number;
    markEmitted: number;
    watermarkWrites: number;
    validRecords: number;
    recordWindows: number;
    duplicateWrites: number;
  }[] = [];
  let watermark: number | undefined;
  for (let first = 0; first < n; first += batchSize) {
    const batch = records.slice(first, first + batchSize);
    const { ids, valid, recordWindows, maxTs } = minimumWrites(spec.spec, batch, watermark);
    const before = { ...store.calls };
    written.length = 0;
    other.writes = 0;
    const res = await handler(benchEvent(batch, first));
    if (res.batchItemFailures.length > 0) throw new Error('P2: a batch reported failures');
    const data = written.filter((id) => ids.has(id));
    perBatch.push({
      minimum: ids.size,
      dataWrites: data.length,
      fireWrites: written.length - data.length + other.writes,
      markEmitted: store.calls.markEmitted - before.markEmitted,
      watermarkWrites: store.calls.watermarkWrites - before.watermarkWrites,
      validRecords: valid,
      recordWindows,
      duplicateWrites: data.length - new Set(data).size,
    });
    if (maxTs !== undefined && (watermark === undefined || maxTs > watermark)) watermark = maxTs;
  }

  const sum = (k: keyof (typeof perBatch)[number]) => perBatch.reduce((a, b) => a + b[k], 0);
  const med = (k: keyof (typeof perBatch)[number]) => median(perBatch.map((b) => b[k]));
  const atMinimum = perBatch.filter((b) => b.dataWrites === b.minimum && b.duplicateWrites === 0).length;
  const ratioToMinimum = sum('dataWrites') / sum('minimum');
  const ratioToNaive = sum('dataWrites') / sum('validRecords');
  const allUpdates = sum('dataWrites') + sum('fireWrites') + sum('markEmitted') + sum('watermarkWrites');
  log(`P2 (${spec.aggregations.every((a) => a.perShard) ? 'per-shard' : 'single'}): ${perBatch.length} batches, ${atMinimum} at the minimum`);
  return {
    id: 'P2',
    figure: `${med('dataWrites')} window writes/batch (median)`,
    reference: `minimum ${med('minimum')}; naive ${med('validRecords')} (${round(ratioToNaive * 100, 1)} % of naive)`,
    ratio: ratioToMinimum,
    target: '= 1.00 × minimum',
    met: atMinimum === perBatch.length,
    raw: {
      records: n,
      batchSize,
      batches: perBatch.length,
      batchesAtMinimum: atMinimum,
      totals: {
        minimum: sum('minimum'),
        windowDataWrites: sum('dataWrites'),
        naiveOnePerRecord: sum('validRecords'),
        naiveOnePerRecordWindow: sum('recordWindows'),
        fireWrites: sum('fireWrites'),
        markEmittedWrites: sum('markEmitted'),
        watermarkWrites: sum('watermarkWrites'),
        allUpdateItems: allUpdates,
      },
      ratioToMinimum: round(ratioToMinimum, 4),
      ratioToNaivePerRecord: round(ratioToNaive, 4),
      ratioToNaivePerRecordWindow: round(sum('dataWrites') / sum('recordWindows'), 4),
      allUpdateItemsToNaivePerRecord: round(allUpdates / sum('validRecords'), 4),
      medianPerBatch: {
        minimum: med('minimum'),
        windowDataWrites: med('dataWrites'),
        fireWrites: med('fireWrites'),
        markEmitted: med('markEmitted'),
        watermarkWrites: med('watermarkWrites'),
        validRecords: med('validRecords'),
      },
    },
  };
}

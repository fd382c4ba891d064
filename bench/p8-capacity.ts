/**
 * P8: DynamoDB capacity at internet scale. The real `processBatch` and the real closer run against
 * {@link CapacityWindowStore}, a partition-aware in-memory store with DynamoDB's semantics and billing, on simulated
 * time: 200 shards × 1,000 records/s, 1,000,000 distinct keys, 5 % of records on one hot key, 10 shards lagging 10
 * minutes. Simulated time is the workload's: each shard delivers a batch every `batchSize / rate` seconds, so the run
 * fits a 2-core machine by simulating a window of `seconds` (which crosses a window boundary, where firing bursts).
 */
import { processBatch, type BatchDeps } from '../lambda/app/process-batch';
import { closeIdleWindows } from '../lambda/app/close-idle-windows';
import type { SourceRecord } from '../lambda/app/ports';
import { compileSpec, type CompiledSpec } from '../lambda/domain/compiled-spec';
import { parseAggregationSpecJson } from '../lambda/domain/spec';
import { positionOf } from '../lambda/domain/sequence';
import { seededRandom } from '../scripts/workload';
import { sequenceNumber } from '../fixtures/kinesis';
import {
  CapacityWindowStore,
  PARTITION_RCU_PER_SECOND,
  PARTITION_WCU_PER_SECOND,
  TABLE_DEFAULT_QUOTA_PER_SECOND,
  type SideFigures,
} from './lib/capacity-store';
import { monthlyCost, type MonthlyCost } from './lib/cost-model';
import type { BenchLog, FigureResult } from './lib/figure';
import { CountingRecordSink, CountingResultSink } from './lib/memory-ports';
import { round } from './lib/stats';
import { BENCH_SEED, ROOT } from './lib/workload';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The load the issue sets. */
export interface P8Options {
  readonly shards?: number;
  readonly recordsPerShardPerSecond?: number;
  readonly keys?: number;
  /** Share of records on one hot key (spread over every shard: one key cannot exceed a shard's write limit). */
  readonly hotShare?: number;
  readonly laggingShards?: number;
  readonly lagMs?: number;
  /** Records per batch: the event source mapping's BatchSize default. */
  readonly batchSize?: number;
  /** Simulated seconds. @default 6 (P8_SECONDS overrides) */
  readonly seconds?: number;
  /** Lambda time per batch for the cost (P9's latency model measures it). @default 150 */
  readonly lambdaMsPerBatch?: number;
}

/** Mean DynamoDB round trip, and the Firehose one, of the latency model used for the closer's time per pass. */
const DYNAMODB_RTT_MS = 5;
const FIREHOSE_RTT_MS = 30;
/**
 * Items a batch may read per window it touches or makes due: the window's item (or root and its lane's partial), its
 * index entry, and the due windows of the lanes that share its slot of the `pending` index (about 200 / 128 of them).
 */
const READS_PER_TOUCHED_OR_DUE = 8;
/** Window writes a pass keeps in flight (WRITE_CONCURRENCY). */
const CLOSER_CONCURRENCY = 16;

interface Workload {
  readonly name: string;
  readonly specFile: string;
  /** A record of key `key` (a number; -1: the hot key) at event time `ts`. */
  payload(key: number, ts: number, rnd: () => number): string;
}

const WORKLOADS: Workload[] = [
  {
    name: 'demo',
    specFile: 'specs/demo.json',
    payload: (key, ts, rnd) =>
      `{"deviceId":"${key < 0 ? 'hot' : `d${key}`}","site":"site-${key < 0 ? 0 : key % 100}","ts":${ts},"temperature":${round(15 + rnd() * 10, 1)},"humidity":${round(40 + rnd() * 20, 1)}}`,
  },
  {
    name: 'clickstream',
    specFile: 'specs/clickstream.json',
    payload: (key, ts, rnd) =>
      `{"page":"${key < 0 ? '/' : `/p/${key}`}","eventType":"${['view', 'click', 'scroll', 'purchase', 'signup', 'share', 'search', 'exit'][Math.floor(rnd() * 8)]}","ts":${ts},"durationMs":${Math.floor(rnd() * 5000)}}`,
  },
];

/** What one workload came to. */
export interface P8Workload {
  readonly workload: string;
  readonly table: SideFigures;
  readonly gsi: SideFigures;
  readonly hottestTableWriteRatio: number;
  readonly hottestTableReadRatio: number;
  readonly hottestGsiWriteRatio: number;
  readonly hottestGsiReadRatio: number;
  readonly tableWcuRatioToQuota: number;
  readonly tableRcuRatioToQuota: number;
  readonly meanTableWcuPerSecond: number;
  readonly meanTableRcuPerSecond: number;
  readonly batches: number;
  readonly itemsReadPerBatch: {
    mean: number;
    max: number;
    pendingWindowsAtMax: number;
    maxPendingWindows: number;
    windowsTouchedAtMax: number;
    windowsMadeDueAtMax: number;
    /** The largest ratio, over batches, of items read to the windows the batch touched or made due (plus one). */
    maxPerTouchedOrDue: number;
    firstBatchOfLaneMax: number;
  };
  readonly closer: { itemsRead: number; pages: number; truncated: boolean; modelledSeconds: number; emitted: number };
  readonly conflicts: number;
  readonly emitted: number;
  readonly cost: MonthlyCost;
}

/**
 * A workload's spec, every aggregation with `state: per-shard`: the workloads key records at random (a key's records,
 * the hot one's above all, reach every shard), which no `partitionKey` can declare, so the bench states the layout as
 * a user with such traffic must.
 */
function loadSpec(file: string): CompiledSpec {
  const parsed = JSON.parse(readFileSync(join(ROOT, file), 'utf8')) as { aggregations: { state?: string }[] };
  for (const a of parsed.aggregations) a.state = 'per-shard';
  return compileSpec(parseAggregationSpecJson(JSON.stringify(parsed), file));
}

/** Simulates one workload. */
export async function simulate(w: Workload, o: Required<P8Options>, log: BenchLog): Promise<P8Workload> {
  const spec = loadSpec(w.specFile);
  const store = new CapacityWindowStore();
  const results = new CountingResultSink();
  const deps: BatchDeps = { spec, store, results, errors: new CountingRecordSink(), late: new CountingRecordSink() };
  const rnd = seededRandom(BENCH_SEED);
  // Three seconds before a minute boundary, so that the run sees windows fill up and then fire.
  const startMs = Date.UTC(2024, 4, 1, 12, 0, 57);
  const intervalMs = (o.batchSize / o.recordsPerShardPerSecond) * 1000;
  const keysPerShard = Math.floor(o.keys / o.shards);
  const seq = new Array<number>(o.shards).fill(0);
  const watermarks = new Array<number | undefined>(o.shards).fill(undefined);
  let batches = 0;
  let readSum = 0;
  let steady = 0;
  let firstBatchMaxRead = 0;
  const seen = new Set<number>();
  let payloadBytes = 0;
  const perBatch = { mean: 0, max: 0, pendingWindowsAtMax: 0, maxPendingWindows: 0, windowsTouchedAtMax: 0, windowsMadeDueAtMax: 0, maxPerTouchedOrDue: 0 };
  const events: { at: number; shard: number }[] = [];
  for (let t = 0; t < o.seconds * 1000; t += intervalMs) {
    for (let s = 0; s < o.shards; s++) events.push({ at: startMs + t + (s / o.shards) * intervalMs, shard: s });
  }
  events.sort((a, b) => a.at - b.at);
  let lastLog = startMs;
  for (const { at, shard } of events) {
    store.setNow(at);
    const lag = shard < o.laggingShards ? o.lagMs : 0;
    const records: SourceRecord[] = [];
    for (let i = 0; i < o.batchSize; i++) {
      const key = rnd() < o.hotShare ? -1 : shard + o.shards * Math.floor(rnd() * keysPerShard);
      const ts = Math.floor(at - lag - rnd() * 2_000);
      const sn = sequenceNumber(seq[shard]++);
      records.push({ sequenceNumber: sn, subSequenceNumber: 0, position: positionOf(sn), partitionKey: String(key), payload: w.payload(key, ts, rnd), payloadBase64: '' });
    }
    for (const r of records) payloadBytes += r.payload.length;
    const readBefore = store.calls.itemsRead + store.calls.indexItemsRead;
    const pendingBefore = store.pendingWindows;
    const lane = `shardId-${String(shard).padStart(12, '0')}`;
    const out = await processBatch(deps, { lane, records }, at);
    const read = store.calls.itemsRead + store.calls.indexItemsRead - readBefore;
    // The windows this batch made due: those its lane fed whose end its watermark passed.
    const due = out.watermark === undefined || out.watermark === watermarks[shard] ? 0 : store.fedEnding(lane, watermarks[shard], out.watermark);
    if (out.watermark !== undefined) watermarks[shard] = out.watermark;
    batches++;
    // A lane's first batch has no previous watermark, so it looks at every pending window up to its own: once per
    // lane, reported apart.
    if (!seen.has(shard)) {
      seen.add(shard);
      firstBatchMaxRead = Math.max(firstBatchMaxRead, read);
      continue;
    }
    steady++;
    readSum += read;
    perBatch.maxPendingWindows = Math.max(perBatch.maxPendingWindows, pendingBefore);
    if (read > perBatch.max) Object.assign(perBatch, { max: read, pendingWindowsAtMax: pendingBefore, windowsTouchedAtMax: out.stats.windowsTouched, windowsMadeDueAtMax: due });
    perBatch.maxPerTouchedOrDue = Math.max(perBatch.maxPerTouchedOrDue, round(read / (out.stats.windowsTouched + due + 1), 2));
    if (at - lastLog >= 2_000) {
      lastLog = at;
      log(`${w.name}: ${round((at - startMs) / 1000, 1)} s simulated, ${batches} batches, ${store.pendingWindows} pending windows`);
    }
  }
  perBatch.mean = round(readSum / Math.max(1, steady), 1);
  // One closing pass at the end: the lagging shards' windows are past their lateness in processing time but their lanes
  // are busy, so the pass reads them and fires none; its bound is what matters.
  const endMs = startMs + o.seconds * 1000;
  store.setNow(endMs);
  const tripsBefore = store.roundTrips;
  const emittedBefore = results.emitted;
  const closer = await closeIdleWindows({ spec, store, results }, endMs + 30_000);
  const trips = store.roundTrips - tripsBefore;
  // Pages run one after another; within a page, reads and writes run WRITE_CONCURRENCY at a time.
  const modelledSeconds = round(((closer.pages * 2 + Math.ceil(Math.max(0, trips - closer.pages * 2) / CLOSER_CONCURRENCY)) * DYNAMODB_RTT_MS + closer.pages * FIREHOSE_RTT_MS) / 1000, 2);
  const { table, gsi } = store.finish();
  const seconds = o.seconds;
  const meanWcu = table.totalWcu / seconds + gsi.totalWcu / seconds;
  const meanRcu = table.totalRcu / seconds + gsi.totalRcu / seconds;
  return {
    workload: w.name,
    table,
    gsi,
    hottestTableWriteRatio: round(table.hottestWritesPerSecond / PARTITION_WCU_PER_SECOND, 3),
    hottestTableReadRatio: round(table.hottestReadsPerSecond / PARTITION_RCU_PER_SECOND, 3),
    hottestGsiWriteRatio: round(gsi.hottestWritesPerSecond / PARTITION_WCU_PER_SECOND, 3),
    hottestGsiReadRatio: round(gsi.hottestReadsPerSecond / PARTITION_RCU_PER_SECOND, 3),
    tableWcuRatioToQuota: round((table.peakWcuPerSecond + gsi.peakWcuPerSecond) / TABLE_DEFAULT_QUOTA_PER_SECOND, 3),
    tableRcuRatioToQuota: round((table.peakRcuPerSecond + gsi.peakRcuPerSecond) / TABLE_DEFAULT_QUOTA_PER_SECOND, 3),
    meanTableWcuPerSecond: round(meanWcu, 0),
    meanTableRcuPerSecond: round(meanRcu, 0),
    batches,
    itemsReadPerBatch: { ...perBatch, firstBatchOfLaneMax: firstBatchMaxRead },
    closer: { itemsRead: closer.windowsRead, pages: closer.pages, truncated: closer.truncated, modelledSeconds, emitted: results.emitted - emittedBefore },
    conflicts: store.calls.conflicts,
    emitted: results.emitted,
    cost: monthlyCost({
      shards: o.shards,
      recordsPerSecond: o.shards * o.recordsPerShardPerSecond,
      batchSize: o.batchSize,
      wcuPerSecond: meanWcu,
      rcuPerSecond: meanRcu,
      bytesPerRecord: payloadBytes / Math.max(1, batches * o.batchSize),
      resultsPerSecond: results.emitted / seconds,
      bytesPerResult: 400,
      lambdaMsPerBatch: o.lambdaMsPerBatch,
    }),
  };
}

/** Runs P8 on every workload. */
export async function runP8(opts: P8Options, log: BenchLog): Promise<FigureResult> {
  const o: Required<P8Options> = {
    shards: 200,
    recordsPerShardPerSecond: 1_000,
    keys: 1_000_000,
    hotShare: 0.05,
    laggingShards: 10,
    lagMs: 600_000,
    batchSize: 500,
    seconds: Number(process.env.P8_SECONDS ?? 6),
    lambdaMsPerBatch: 150,
    ...opts,
  };
  const out: P8Workload[] = [];
  for (const w of WORKLOADS) out.push(await simulate(w, o, log));
  // The same per-shard load (5,000 keys a shard, the hot key, no lag) on 1 and 10 shards, for the cost at each size.
  const smaller: Record<string, { shards: number; cost: MonthlyCost; hottestTableWriteRatio: number; hottestGsiWriteRatio: number; meanTableWcuPerSecond: number }> = {};
  for (const shards of [1, 10]) {
    const r = await simulate(WORKLOADS[0], { ...o, shards, keys: (o.keys / o.shards) * shards, laggingShards: 0 }, log);
    smaller[`demo@${shards}`] = { shards, cost: r.cost, hottestTableWriteRatio: r.hottestTableWriteRatio, hottestGsiWriteRatio: r.hottestGsiWriteRatio, meanTableWcuPerSecond: r.meanTableWcuPerSecond };
  }
  const worst = Math.max(...out.flatMap((r) => [r.hottestTableWriteRatio, r.hottestTableReadRatio, r.hottestGsiWriteRatio, r.hottestGsiReadRatio]));
  const boundedCloser = out.every((r) => r.closer.modelledSeconds < 60);
  // Reads follow the windows a batch touches or makes due (not the pending ones): a bounded number of items per such
  // window (its index entry, its item or root, the partials of its lanes, and the slot neighbours' due windows).
  const readsBounded = out.every((r) => r.itemsReadPerBatch.maxPerTouchedOrDue <= READS_PER_TOUCHED_OR_DUE);
  return {
    id: 'P8',
    figure: out
      .map((r) => `${r.workload}: hottest pk ${round(r.hottestTableWriteRatio * 100, 0)}% W / ${round(r.hottestTableReadRatio * 100, 0)}% R, GSI ${round(r.hottestGsiWriteRatio * 100, 0)}% W; table ${round(r.tableWcuRatioToQuota * 100, 0)}% of WCU quota; $${r.cost.total}/mo`)
      .join('; '),
    reference: 'partition 1,000 WCU/s, 3,000 RCU/s; table quota 40,000/s',
    ratio: round(worst, 3),
    target: 'hottest partition ≤ 0.5 of its limit; reads per batch follow touched/due windows; closer bounded',
    met: worst <= 0.5 && boundedCloser && readsBounded,
    raw: { options: o, workloads: out, smaller },
  };
}

export { WORKLOADS as P8_WORKLOADS };

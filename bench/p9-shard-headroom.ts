/**
 * P9: per-shard headroom. The real Kinesis handler runs one shard's batches, one after another as the event source
 * mapping delivers them (ParallelizationFactor 1), against in-memory ports that add a latency model: DynamoDB calls
 * take a log-normal time with a 5 ms median and a 25 ms p99, a Firehose call 30 ms. The figure is the records/s the
 * function sustains, against the shard's 1,000 records/s write limit: at ≥ 3× a shard can never outrun its function.
 */
import { createKinesisHandler } from '../lambda/adapters/kinesis-handler';
import type { PartialKey, PendingQuery, WindowStore } from '../lambda/app/ports';
import { compileSpec, type CompiledAggregation, type CompiledSpec } from '../lambda/domain/compiled-spec';
import { parseAggregationSpec } from '../lambda/domain/spec';
import type { LaneState } from '../lambda/domain/lane';
import type { WindowRef } from '../lambda/domain/window-ref';
import type { StoredPartial, StoredWindow } from '../lambda/domain/window-lifecycle';
import { seededRandom } from '../scripts/workload';
import type { BenchLog, FigureResult } from './lib/figure';
import { CountingRecordSink, LeanWindowStore } from './lib/memory-ports';
import { round } from './lib/stats';
import { BENCH_SEED, BENCH_SHARD, benchSpec } from './lib/workload';
import { kinesisEvent, sequenceNumber } from '../fixtures/kinesis';
import type { ResultSink } from '../lambda/app/ports';

/** A shard's write limit. @see https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html */
export const SHARD_RECORDS_PER_SECOND = 1_000;
/** DynamoDB latency model: log-normal, 5 ms median, 25 ms at the 99th percentile. */
export const DYNAMODB_MEDIAN_MS = 5;
export const DYNAMODB_P99_MS = 25;
/** Firehose PutRecordBatch latency. */
export const FIREHOSE_MS = 30;
/** The standard normal's 99th percentile. */
const Z99 = 2.3263;

/** Options of {@link runP9}. */
export interface P9Options {
  /** Records per batch (the event source mapping's BatchSize default). @default 500 */
  readonly batchSize?: number;
  /** Batches delivered. @default 40 */
  readonly batches?: number;
  /** Distinct device keys on the shard: 1,000,000 keys over 200 shards. @default 5000 */
  readonly keys?: number;
}

/** A log-normal delay with the model's median and p99, from a seeded source. */
function latencyModel(rnd: () => number): () => number {
  const mu = Math.log(DYNAMODB_MEDIAN_MS);
  const sigma = (Math.log(DYNAMODB_P99_MS) - mu) / Z99;
  return () => {
    // Box-Muller.
    const z = Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
    return Math.exp(mu + sigma * z);
  };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A store whose every call takes one modelled DynamoDB round trip (a BatchGet of up to 100 keys is one call). */
export class SlowStore implements WindowStore {
  calls = 0;
  constructor(
    private readonly inner: LeanWindowStore,
    private readonly delay: () => number,
  ) {}
  private async rtt<T>(f: () => Promise<T>): Promise<T> {
    this.calls++;
    await sleep(this.delay());
    return f();
  }
  readLanes(): Promise<Map<string, LaneState>> {
    return this.rtt(() => this.inner.readLanes());
  }
  writeLane(lane: string, next: LaneState, rev: number) {
    return this.rtt(() => this.inner.writeLane(lane, next, rev));
  }
  getWindows(refs: readonly WindowRef[], consistent: boolean): Promise<Map<string, StoredWindow>> {
    void consistent;
    return this.rtt(() => this.inner.getWindows(refs));
  }
  writeWindow(ref: WindowRef, next: StoredWindow, rev: number | undefined, nowMs: number, fileUnder?: string) {
    void fileUnder;
    return this.rtt(() => this.inner.writeWindow(ref, next, rev, nowMs));
  }
  findPending(agg: CompiledAggregation, q: PendingQuery) {
    return this.rtt(() => this.inner.findPending(agg, q));
  }
  markEmitted(ref: WindowRef, version: number) {
    return this.rtt(() => this.inner.markEmitted(ref, version));
  }
  getPartials(keys: readonly PartialKey[]) {
    return this.rtt(() => this.inner.getPartials(keys));
  }
  writePartial(key: PartialKey, next: StoredPartial, rev: number | undefined) {
    return this.rtt(() => this.inner.writePartial(key, next, rev));
  }
  registerLane(ref: WindowRef, lane: string, nowMs: number) {
    return this.rtt(() => this.inner.registerLane(ref, lane, nowMs));
  }
}

/** A results sink that takes {@link FIREHOSE_MS} per call. */
class SlowResults implements ResultSink {
  emitted = 0;
  async emit(results: readonly unknown[]): Promise<void> {
    await sleep(FIREHOSE_MS);
    this.emitted += results.length;
  }
}

/**
 * Measures P9 on the demo spec as shipped (no `partitionKey`: the single-item layout), and beside it, in the same
 * run, with every aggregation in the per-shard layout (`raw.perShardState`).
 */
export async function runP9(opts: P9Options = {}, log: BenchLog = () => undefined): Promise<FigureResult> {
  const shipped = await measureP9(benchSpec().spec, opts, log);
  const parsed = JSON.parse(benchSpec().json) as { aggregations: { state?: string }[] };
  for (const a of parsed.aggregations) a.state = 'per-shard';
  const perShard = await measureP9(compileSpec(parseAggregationSpec(parsed)), opts, log);
  return { ...shipped, raw: { ...shipped.raw, perShardState: perShard.raw } };
}

async function measureP9(spec: CompiledSpec, opts: P9Options, log: BenchLog): Promise<FigureResult> {
  const batchSize = opts.batchSize ?? 500;
  const batches = opts.batches ?? 40;
  const keys = opts.keys ?? 5_000;
  const rnd = seededRandom(BENCH_SEED);
  const store = new SlowStore(new LeanWindowStore(), latencyModel(seededRandom(BENCH_SEED + 1)));
  const results = new SlowResults();
  // Event time advances at the shard's rate, 1,000 records/s, from 10 s before a minute boundary: the run crosses it
  // and fires the windows.
  const startMs = Date.UTC(2024, 4, 1, 12, 0, 50);
  let clock = startMs;
  const errors = new CountingRecordSink();
  const handler = createKinesisHandler({ spec, store, results, errors, late: new CountingRecordSink() }, () => clock);
  let seq = 0;
  let records = 0;
  const t0 = performance.now();
  for (let b = 0; b < batches; b++) {
    const batch = Array.from({ length: batchSize }, () => {
      const i = seq++;
      const ts = startMs + i;
      const key = rnd() < 0.05 ? 'hot' : `d${Math.floor(rnd() * keys)}`;
      const data = JSON.stringify({ deviceId: key, site: `site-${Math.floor(rnd() * 100)}`, ts, temperature: round(15 + rnd() * 10, 1), humidity: 50 });
      return { data, partitionKey: key, sequenceNumber: sequenceNumber(i) };
    });
    clock = startMs + seq;
    const res = await handler(kinesisEvent(BENCH_SHARD, batch));
    if (res.batchItemFailures.length > 0) throw new Error('P9: a batch reported failures');
    if (errors.entries > 0) throw new Error(`P9: ${errors.entries} records went to the errors sink`);
    records += batchSize;
  }
  const seconds = (performance.now() - t0) / 1000;
  const perSecond = records / seconds;
  const ratio = perSecond / SHARD_RECORDS_PER_SECOND;
  log(`${records} records in ${round(seconds, 2)} s with ${store.calls} modelled DynamoDB calls; ${results.emitted} results emitted`);
  return {
    id: 'P9',
    figure: `${round(perSecond, 0)} records/s on one shard (batch ${batchSize}, DynamoDB 5 ms median / 25 ms p99, Firehose 30 ms)`,
    reference: `${SHARD_RECORDS_PER_SECOND} records/s (a shard's write limit)`,
    ratio: round(ratio, 3),
    target: '≥ 3× the shard write limit',
    met: ratio >= 3,
    raw: { batchSize, batches, keys, records, seconds: round(seconds, 3), recordsPerSecond: round(perSecond, 0), dynamodbCalls: store.calls, emitted: results.emitted, msPerBatch: round((seconds * 1000) / batches, 1) },
  };
}

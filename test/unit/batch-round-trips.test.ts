/**
 * Where a batch's requests go out, since each request to the store is a round trip (issue #17, P5): the lanes' read is
 * in flight while the batch is prepared, and the single-item aggregations' due-window lookup goes out beside the window
 * reads instead of after the writes. These tests pin that order, and that the batch's outcome is what it was: found
 * windows fire, per-shard roots the batch files are still fired by it, and a failure of either request fails the
 * batch with no write left running.
 */
import type { PartialKey, PendingQuery, SourceRecord, WriteOutcome } from '../../lambda/app/ports';
import { processBatch, type BatchDeps } from '../../lambda/app/process-batch';
import type { CompiledAggregation } from '../../lambda/domain/compiled-spec';
import { compileSpec } from '../../lambda/domain/compiled-spec';
import type { WindowRef } from '../../lambda/domain/window-ref';
import type { StoredPartial, StoredWindow } from '../../lambda/domain/window-lifecycle';
import { specFactory } from '../support/factories';
import { MemoryRecordSink, MemoryResultSink, sourceRecords } from '../support/harness';
import { MemoryWindowStore } from '../support/memory-window-store';

const MINUTE = 60_000;
const T0 = 1_700_000_040_000 - (1_700_000_040_000 % MINUTE);
const LANE = 'shardId-000';

/** A store that logs its calls in order, with each write in flight for a few milliseconds. */
class LoggingStore extends MemoryWindowStore {
  readonly log: string[] = [];
  inFlight = 0;
  failLookup = false;
  failFoundRead = false;
  lanesDelayMs = 0;

  override async readLanes() {
    this.log.push('readLanes');
    if (this.lanesDelayMs > 0) await new Promise((r) => setTimeout(r, this.lanesDelayMs));
    const lanes = await super.readLanes();
    this.log.push('lanes read');
    return lanes;
  }

  override async findPending(aggregation: CompiledAggregation, q: PendingQuery) {
    this.log.push(`findPending ${aggregation.name}`);
    if (this.failLookup) throw new Error('injected lookup failure');
    return super.findPending(aggregation, q);
  }

  override async getWindows(refs: readonly WindowRef[], consistent?: boolean) {
    this.log.push(consistent ? 'read found' : 'read touched');
    if (consistent && this.failFoundRead) {
      await new Promise((r) => setTimeout(r, 1));
      throw new Error('injected read failure');
    }
    return super.getWindows(refs);
  }

  private async writing<T>(what: string, write: () => Promise<T>): Promise<T> {
    this.log.push(what);
    this.inFlight++;
    try {
      await new Promise((r) => setTimeout(r, 5));
      return await write();
    } finally {
      this.inFlight--;
    }
  }

  override writeWindow(ref: WindowRef, next: StoredWindow, expectedRev: number | undefined, nowMs: number): Promise<WriteOutcome> {
    return this.writing(`write ${ref.aggregation.name}`, () => super.writeWindow(ref, next, expectedRev, nowMs));
  }

  override writePartial(key: PartialKey, next: StoredPartial, expectedRev: number | undefined): Promise<WriteOutcome> {
    return this.writing(`write ${key.ref.aggregation.name}`, () => super.writePartial(key, next, expectedRev));
  }
}

const spec = compileSpec(
  specFactory(
    { name: 'single_1m', groupBy: ['d'], window: { type: 'tumbling', sizeSeconds: 60 }, allowedLatenessSeconds: 0, measures: [{ name: 'n', op: 'count' }] },
    { name: 'spread_1m', groupBy: ['d'], window: { type: 'tumbling', sizeSeconds: 60 }, allowedLatenessSeconds: 0, state: 'per-shard', measures: [{ name: 'n', op: 'count' }] },
  ),
);

/** Records of `device` at the given event times, numbered from `first`, with every payload read logged to `log`. */
function records(log: string[], device: string, times: readonly number[], first: number): SourceRecord[] {
  return sourceRecords(
    times.map((ts) => JSON.stringify({ d: device, ts })),
    times.map(() => device),
    first,
  ).map((r) => {
    const payload = r.payload;
    return Object.defineProperty({ ...r }, 'payload', {
      get: () => {
        log.push('payload');
        return payload;
      },
    });
  });
}

async function run(store: LoggingStore, results: MemoryResultSink, recs: readonly SourceRecord[], nowMs: number) {
  const deps: BatchDeps = { spec, store, results, errors: new MemoryRecordSink(), late: new MemoryRecordSink() };
  return processBatch(deps, { lane: LANE, records: recs, deadlineMs: nowMs + 30_000 }, nowMs);
}

/** A first batch that leaves device a's first-minute windows pending, and a second that passes their end without them. */
async function twoBatches(store: LoggingStore, results: MemoryResultSink) {
  await run(store, results, records(store.log, 'a', [T0 + 1_000, T0 + 2_000], 0), T0 + 2_000);
  expect(results.emitted).toHaveLength(0);
  store.log.length = 0;
  return run(store, results, records(store.log, 'b', [T0 + 2 * MINUTE + 1_000], 2), T0 + 2 * MINUTE + 1_000);
}

describe('a batch’s round trips', () => {
  test('the lookup of due single-item windows goes out with the window reads, before any write, and the windows it finds fire', async () => {
    const store = new LoggingStore();
    const results = new MemoryResultSink();
    const out = await twoBatches(store, results);
    expect(out.failedSequenceNumber).toBeUndefined();
    const at = (entry: string) => store.log.indexOf(entry);
    expect(at('findPending single_1m')).toBeGreaterThan(-1);
    const firstWrite = store.log.findIndex((e) => e.startsWith('write '));
    expect(firstWrite).toBeGreaterThan(-1);
    expect(at('findPending single_1m')).toBeLessThan(firstWrite);
    // The per-shard aggregation's lookup waits for the writes: they may file a root the batch makes due.
    expect(at('findPending spread_1m')).toBeGreaterThan(at('write spread_1m'));
    // Device a's first-minute windows, untouched by the second batch, fired by it, in both layouts.
    const fired = results.emitted.filter((r) => r.key.d === 'a').map((r) => [r.aggregation, r.measures.n, r.final]);
    expect(fired.sort()).toEqual([
      ['single_1m', 2, true],
      ['spread_1m', 2, true],
    ]);
  });

  test('the lanes’ read is in flight while the batch is prepared', async () => {
    const store = new LoggingStore();
    store.lanesDelayMs = 20;
    await run(store, new MemoryResultSink(), records(store.log, 'a', [T0 + 1_000, T0 + 2_000], 0), T0 + 2_000);
    expect(store.log.slice(0, 4)).toEqual(['readLanes', 'payload', 'payload', 'lanes read']);
  });

  test('a failed lanes’ read fails the batch, and has a handler before the batch lets the event loop run', async () => {
    // A rejection with no handler when the event loop turns is reported as unhandled, and Lambda's runtime fails the
    // invocation on it: the read's handler must be attached before the batch yields to let the request go out.
    const store = new LoggingStore();
    let yielded = false;
    let handledBeforeYield = false;
    store.readLanes = () => {
      const read = Promise.reject(new Error('injected lanes failure'));
      const then = read.then.bind(read);
      // `await` on a native promise does not call `then`; `.catch` does.
      read.then = ((...args: Parameters<typeof then>) => {
        if (!yielded) handledBeforeYield = true;
        return then(...args);
      }) as typeof read.then;
      setImmediate(() => (yielded = true));
      return read;
    };
    await expect(run(store, new MemoryResultSink(), records(store.log, 'a', [T0 + 1_000], 0), T0 + 1_000)).rejects.toThrow('injected lanes failure');
    expect(handledBeforeYield).toBe(true);
    expect(store.writes).toBe(0);
  });

  test('a failed lookup fails the batch before any window is written', async () => {
    const store = new LoggingStore();
    const results = new MemoryResultSink();
    await run(store, results, records(store.log, 'a', [T0 + 1_000], 0), T0 + 1_000);
    const before = store.writes;
    store.failLookup = true;
    await expect(run(store, results, records(store.log, 'b', [T0 + 2 * MINUTE], 1), T0 + 2 * MINUTE)).rejects.toThrow('injected lookup failure');
    expect(store.writes).toBe(before);
    expect(store.inFlight).toBe(0);
  });

  test('a failed read of the found windows fails the batch once the touched windows’ writes have finished', async () => {
    const store = new LoggingStore();
    const results = new MemoryResultSink();
    await run(store, results, records(store.log, 'a', [T0 + 1_000], 0), T0 + 1_000);
    store.failFoundRead = true;
    const before = store.writes;
    await expect(run(store, results, records(store.log, 'b', [T0 + 2 * MINUTE], 1), T0 + 2 * MINUTE)).rejects.toThrow('injected read failure');
    // Device b's windows in both layouts were written, and nothing was still being written when the batch failed.
    expect(store.writes).toBeGreaterThan(before);
    expect(store.inFlight).toBe(0);
  });
});

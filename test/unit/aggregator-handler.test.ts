
import { createKinesisHandler } from '../../lambda/adapters/kinesis-handler';
import { closeIdleWindows } from '../../lambda/app/close-idle-windows';
import { DEFAULT_PENDING_STALE_AFTER_MS } from '../../lambda/app/window-settlement';
import { kinesisEvent, MemoryRecordSink, MemoryResultSink, sequenceNumber } from '../support/harness';
import { MemoryWindowStore } from '../support/memory-window-store';
import { aggregationFactory, compiledSpecFactory } from '../support/factories';

const spec = compiledSpecFactory(
  aggregationFactory({
    allowedLatenessSeconds: 60,
    measures: [
      { name: 'n', op: 'count' },
      { name: 'total', op: 'sum', field: 'v' },
    ],
  }),
);
const SHARD = 'shardId-000000000000';

function setup() {
  const store = new MemoryWindowStore();
  const results = new MemoryResultSink();
  const errors = new MemoryRecordSink();
  const late = new MemoryRecordSink();
  const handler = createKinesisHandler({ spec, store, results, errors, late }, () => 1_000);
  let seq = 0;
  const deliver = (events: unknown[]) =>
    handler(
      kinesisEvent(
        SHARD,
        events.map((e) => ({ data: typeof e === 'string' ? e : JSON.stringify(e), partitionKey: 'p', sequenceNumber: sequenceNumber(seq++) })),
      ),
    );
  return { store, results, errors, late, deliver };
}

describe('aggregator handler', () => {
  test('bad records go to the errors sink with payload, shard, sequence number and reason; the rest is processed', async () => {
    const { errors, deliver, store } = setup();
    const res = await deliver([{ d: 'a', ts: 1000, v: 1 }, '{oops', { d: 'a', ts: 'soon', v: 2 }, { d: 'a', ts: 2000, v: 3 }]);
    expect(res).toStrictEqual({ batchItemFailures: [] });
    const bad = errors.all();
    expect(bad.length).toBe(2);
    expect(bad.map((b) => [b.shardId, b.sequenceNumber, b.payload])).toStrictEqual([
      [SHARD, sequenceNumber(1), '{oops'],
      [SHARD, sequenceNumber(2), JSON.stringify({ d: 'a', ts: 'soon', v: 2 })],
    ]);
    expect(bad[0].reason).toMatch(/invalid JSON/);
    expect(bad[1].reason).toMatch(/invalid timestamp/);
    const [w] = store.windows.values();
    expect(w.stored.state).toStrictEqual([2, 4]);
  });

  test('a window fires once the watermark reaches its end, and a late event within lateness emits a correction', async () => {
    const { results, deliver, late } = setup();
    await deliver([{ d: 'a', ts: 10_000, v: 1 }, { d: 'a', ts: 20_000, v: 2 }]);
    expect(results.emitted.length).toBe(0);
    await deliver([{ d: 'a', ts: 60_000, v: 5 }]);
    expect(results.emitted.map((r) => [r.windowStart, r.version, r.final, r.measures])).toStrictEqual([
      ['1970-01-01T00:00:00.000Z', 1, true, { n: 2, total: 3 }],
    ]);
    await deliver([{ d: 'a', ts: 30_000, v: 10 }]);
    expect(results.emitted.slice(1).map((r) => [r.windowStart, r.version, r.measures])).toStrictEqual([
      ['1970-01-01T00:00:00.000Z', 2, { n: 3, total: 13 }],
    ]);
    expect(results.emitted[0].id).not.toBe(results.emitted[1].id);
    // Lateness is judged against the watermark at the start of a batch: 125s, past window [0, 60s) + 60s lateness.
    await deliver([{ d: 'a', ts: 125_000, v: 1 }]);
    await deliver([{ d: 'a', ts: 5_000, v: 100 }]);
    const lateEntries = late.all();
    expect(lateEntries.length).toBe(1);
    expect(lateEntries[0].sequenceNumber).toBe(sequenceNumber(5));
    expect(lateEntries[0].reason).toMatch(/too late/);
    expect(results.emitted.some((r) => r.measures.total === 113)).toBe(false);
  });

  test('a failing emission reports the batch as failed and the redelivery emits the same result without double counting', async () => {
    const { results, deliver, store } = setup();
    results.failNext = 1;
    const events = [{ d: 'a', ts: 1_000, v: 1 }, { d: 'a', ts: 61_000, v: 2 }];
    const first = await deliver(events);
    expect(first).toStrictEqual({ batchItemFailures: [{ itemIdentifier: sequenceNumber(0) }] });
    // Redeliver the same records (same sequence numbers) once the unemitted version counts as left behind.
    const { handler } = { handler: createKinesisHandler({ spec, store, results, errors: new MemoryRecordSink(), late: new MemoryRecordSink() }, () => 1_000 + DEFAULT_PENDING_STALE_AFTER_MS) };
    const again = await handler(kinesisEvent(SHARD, events.map((e, i) => ({ data: JSON.stringify(e), partitionKey: 'p', sequenceNumber: sequenceNumber(i) }))));
    expect(again).toStrictEqual({ batchItemFailures: [] });
    expect(results.emitted.map((r) => [r.version, r.measures])).toStrictEqual([[1, { n: 1, total: 1 }]]);
  });
});

describe('firing across shards and idle closing', () => {
  const siteSpec = compiledSpecFactory(aggregationFactory({ name: 'per_site', groupBy: ['s'], allowedLatenessSeconds: 30 }));

  function twoShards(now: { t: number }) {
    const store = new MemoryWindowStore();
    const results = new MemoryResultSink();
    const deps = { spec: siteSpec, store, results, errors: new MemoryRecordSink(), late: new MemoryRecordSink() };
    const handler = createKinesisHandler(deps, () => now.t);
    let seq = 0;
    const deliver = (shard: string, events: unknown[]) =>
      handler(kinesisEvent(shard, events.map((e) => ({ data: JSON.stringify(e), partitionKey: 'p', sequenceNumber: sequenceNumber(seq++) }))));
    return { store, results, deliver, deps };
  }

  test('a window fed by two shards fires only once both watermarks have passed its end', async () => {
    const now = { t: 0 };
    const { results, deliver } = twoShards(now);
    await deliver('shard-a', [{ s: 'x', ts: 10_000 }]);
    await deliver('shard-b', [{ s: 'x', ts: 20_000 }]);
    await deliver('shard-a', [{ s: 'y', ts: 61_000 }]);
    expect(results.emitted.length).toBe(0);
    await deliver('shard-b', [{ s: 'x', ts: 30_000 }, { s: 'y', ts: 62_000 }]);
    expect(results.emitted.map((r) => [r.key, r.version, r.measures])).toStrictEqual([[{ s: 'x' }, 1, { n: 3 }]]);
  });

  test('the idle closer fires a window once its end plus lateness has passed in processing time', async () => {
    const now = { t: 0 };
    const { results, deliver, deps } = twoShards(now);
    await deliver('shard-a', [{ s: 'x', ts: 10_000 }, { s: 'x', ts: 15_000 }]);
    // Processing time 89.999 s: window [0, 60 s) + 30 s lateness has not passed yet.
    let stats = await closeIdleWindows(deps, 89_999);
    expect(stats.emitted).toBe(0);
    stats = await closeIdleWindows(deps, 90_000);
    expect(stats.emitted).toBe(1);
    expect(results.emitted.map((r) => [r.key, r.version, r.final, r.measures])).toStrictEqual([[{ s: 'x' }, 1, true, { n: 2 }]]);
    stats = await closeIdleWindows(deps, 200_000);
    expect(stats.emitted + stats.windowWrites).toBe(0);
    // The aggregator's later traffic does not fire or emit it again.
    await deliver('shard-a', [{ s: 'y', ts: 300_000 }]);
    expect(results.emitted.filter((r) => r.key.s === 'x').length).toBe(1);
  });

  test('a version someone else wrote is emitted only once it is stale, so two live writers never both emit it', async () => {
    const now = { t: 1_000 };
    const { results, deliver, deps, store } = twoShards(now);
    results.failNext = 1;
    await deliver('shard-a', [{ s: 'x', ts: 10_000 }, { s: 'x', ts: 70_000 }]);
    const [w] = [...store.windows.values()].filter((v) => v.ref.start === 0);
    expect([w.stored.version, w.stored.pending]).toStrictEqual([1, true]);
    expect((await closeIdleWindows(deps, 1_000)).emitted).toBe(0);
    const later = 1_000 + DEFAULT_PENDING_STALE_AFTER_MS;
    expect((await closeIdleWindows(deps, later)).emitted).toBe(1);
    expect((await closeIdleWindows(deps, later + 1)).emitted).toBe(0);
    const ids = results.emitted.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

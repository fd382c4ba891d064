/**
 * Bounded retries (opt-in): when the event source mapping gives a batch up, the next batch of the shard notices the
 * skipped range and re-reads it from the stream before any fence moves; if the stream no longer holds it, the range is
 * recorded as lost and reported. A redrive re-applies exactly what was never applied, or refuses and says why.
 */
import { expect } from '@jest/globals';
import { processBatch, type BatchDeps } from '../../lambda/app/process-batch';
import type { SourceRecord, StreamReader } from '../../lambda/app/ports';
import { compileSpec } from '../../lambda/domain/compiled-spec';
import { parseAggregationSpec } from '../../lambda/domain/spec';
import { MemoryRecordSink, MemoryResultSink, sourceRecords } from '../support/harness';
import { MemoryWindowStore } from '../support/memory-window-store';
import { referenceAggregate } from '../support/reference';

const spec = parseAggregationSpec({
  eventTime: { field: 'ts' },
  partitionKey: ['d'],
  aggregations: [
    {
      name: 'per_device',
      groupBy: ['d'],
      window: { type: 'tumbling', sizeSeconds: 60 },
      // No lateness: a skipped range re-fed after later batches would be late, unless it is applied in order.
      allowedLatenessSeconds: 0,
      measures: [{ name: 'n', op: 'count' }],
    },
  ],
});
const compiled = compileSpec(spec);
const LANE = 'shardId-000000000001';
const STREAM_ARN = 'arn:aws:kinesis:us-east-1:000000000000:stream/test';
const T0 = 1_700_000_040_000;

/** The shard as the stream holds it: 30 records, one every 20 s of event time, over two devices. */
const events = Array.from({ length: 30 }, (_, i) => ({ d: `dev-${i % 2}`, ts: T0 + i * 20_000 }));
const shard: SourceRecord[] = sourceRecords(events.map((e) => JSON.stringify(e)), events.map((e) => e.d), 100);
const B1 = shard.slice(0, 10);
const B2 = shard.slice(10, 20);
const B3 = shard.slice(20, 30);

/** Reads the in-memory shard; `trimmedBefore` records have left the stream. */
function reader(trimmedBefore = 0): StreamReader & { calls: number } {
  return {
    calls: 0,
    readRange(_arn, _shard, from, before) {
      this.calls++;
      const inRange = shard.filter((r) => BigInt(r.sequenceNumber) >= BigInt(from) && BigInt(r.sequenceNumber) < BigInt(before));
      const kept = inRange.filter((r) => shard.indexOf(r) >= trimmedBefore);
      return Promise.resolve({ records: kept, trimmed: kept.length < inRange.length });
    },
  };
}

function setup(streamReader?: StreamReader, unseenSkipsPossible = false) {
  const store = new MemoryWindowStore();
  const errors = new MemoryRecordSink();
  const late = new MemoryRecordSink();
  const deps: BatchDeps = { spec: compiled, store, results: new MemoryResultSink(), errors, late, skipDetection: true, streamReader, unseenSkipsPossible };
  let now = T0 + 3_600_000;
  const deliver = (records: readonly SourceRecord[], redrive = false) => processBatch(deps, { lane: LANE, records, streamArn: STREAM_ARN, redrive }, (now += 1_000));
  const counts = () => new Map([...store.windows.values()].map((w) => [w.ref.keyJson + '@' + w.ref.start, w.stored.state[0] as number]));
  return { store, errors, late, deliver, counts };
}

function expectedCounts(evs: readonly { d: string; ts: number }[]) {
  return new Map([...referenceAggregate(spec, evs).values()].map((w) => [JSON.stringify([w.key.d]) + '@' + Date.parse(w.windowStart), w.measures.n as number]));
}

/** The event source mapping retrying a failing batch, then giving it up: each attempt crashes after one window write. */
async function giveUp(ctx: ReturnType<typeof setup>, batch: readonly SourceRecord[], attempts = 3) {
  for (let i = 0; i < attempts; i++) {
    ctx.store.failAfterWrites = ctx.store.writes + 1;
    const out = await ctx.deliver(batch).catch(() => ({ failedSequenceNumber: batch[0].sequenceNumber }));
    expect(out.failedSequenceNumber).toBeDefined();
  }
  ctx.store.failAfterWrites = undefined;
}

describe('skip detection and repair', () => {
  test('a batch given up after a partial write is re-read and applied before the next batch moves any fence', async () => {
    const r = reader();
    const ctx = setup(r);
    expect((await ctx.deliver(B1)).failedSequenceNumber).toBeUndefined();
    await giveUp(ctx, B2);
    const out = await ctx.deliver(B3);
    expect(out.failedSequenceNumber).toBeUndefined();
    expect(out.stats.repairedRecords).toBeGreaterThan(0);
    expect(r.calls).toBe(1);
    expect(ctx.counts()).toEqual(expectedCounts(events));
    expect(ctx.late.all()).toEqual([]);
    expect(ctx.store.lanes.get(LANE)?.repaired).toHaveLength(1);

    // The redrive of the given-up batch finds it counted: nothing changes, and it is not refused.
    const redriven = await ctx.deliver(B2, true);
    expect(redriven.refused).toBeUndefined();
    expect(redriven.failedSequenceNumber).toBeUndefined();
    expect(ctx.counts()).toEqual(expectedCounts(events));
    expect(ctx.late.all()).toEqual([]);
  });

  test('a skipped range no longer in the stream is recorded as lost, reported, and its redrive refused', async () => {
    // The first 15 records have expired: B2's first half is gone, its second half can still be read.
    const ctx = setup(reader(15));
    await ctx.deliver(B1);
    await giveUp(ctx, B2);
    const out = await ctx.deliver(B3);
    expect(out.failedSequenceNumber).toBeUndefined();
    expect(out.stats.lostRanges).toBe(1);
    const lost = ctx.store.lanes.get(LANE)!.lost;
    expect(lost).toEqual([{ from: expect.any(String), before: shard[15].position }]);
    const report = ctx.errors.all().find((e) => e.fromPosition === lost[0].from);
    expect(report).toMatchObject({ shardId: LANE, beforeSequenceNumber: shard[15].sequenceNumber });
    // Reported in the day's folder of the shard, where the catalog's errors table reads (dt=YYYY-MM-DD/<shard>/).
    const lostObjects = [...ctx.errors.objects.keys()].filter((name) => name.includes('lost'));
    expect(lostObjects).toEqual([`dt=${new Date(T0 + 3_600_000).toISOString().slice(0, 10)}/${LANE}/lost-${lost[0].from}-${lost[0].before}`]);
    expect(report?.reason).toMatch(/no longer in the stream/);
    // What could be read was applied; what was lost was counted at most once by the failed attempts.
    const counts = ctx.counts();
    const full = expectedCounts(events);
    const floor = expectedCounts([...events.slice(0, 10), ...events.slice(15)]);
    for (const [w, n] of full) expect(counts.get(w) ?? 0).toBeLessThanOrEqual(n);
    for (const [w, n] of floor) expect(counts.get(w) ?? 0).toBeGreaterThanOrEqual(n);

    const redriven = await ctx.deliver(B2.slice(0, 5), true);
    expect(redriven.refused).toMatch(/lost/);
    expect(redriven.failedSequenceNumber).toBe(B2[0].sequenceNumber);
    expect(ctx.counts()).toEqual(counts);
  });

  test('a batch skipped before it was ever attempted (record age) cannot be re-fed exactly: the redrive is refused, nothing counted twice or late', async () => {
    const ctx = setup(reader(), true);
    await ctx.deliver(B1);
    // B2 aged out unseen; B3 arrives next.
    await ctx.deliver(B3);
    const before = ctx.counts();
    const redriven = await ctx.deliver(B2, true);
    expect(redriven.refused).toMatch(/skipped this range/);
    expect(redriven.failedSequenceNumber).toBe(B2[0].sequenceNumber);
    expect(ctx.counts()).toEqual(before);
    expect(ctx.late.all()).toEqual([]);
  });

  test('with retries bounded but no record age, a range behind the applied mark was applied: its redrive changes nothing', async () => {
    const ctx = setup(reader(), false);
    await ctx.deliver(B1);
    await ctx.deliver(B2);
    await ctx.deliver(B3);
    const redriven = await ctx.deliver(B2, true);
    expect(redriven.refused).toBeUndefined();
    expect(ctx.counts()).toEqual(expectedCounts(events));
    expect(ctx.late.all()).toEqual([]);
  });

  test('a given-up batch redriven before any later batch is applied as the mapping would have, once', async () => {
    const ctx = setup(reader());
    await ctx.deliver(B1);
    await giveUp(ctx, B2);
    expect((await ctx.deliver(B2, true)).failedSequenceNumber).toBeUndefined();
    expect((await ctx.deliver(B3)).failedSequenceNumber).toBeUndefined();
    expect(ctx.counts()).toEqual(expectedCounts(events));
    expect(ctx.late.all()).toEqual([]);
  });

  test('without skip detection (infinite retries) a batch writes no in-flight mark: one lane write per batch', async () => {
    const ctx = setup();
    const deps: BatchDeps = { spec: compiled, store: ctx.store, results: new MemoryResultSink(), errors: ctx.errors, late: ctx.late };
    await processBatch(deps, { lane: LANE, records: B1 }, T0 + 3_600_000);
    await processBatch(deps, { lane: LANE, records: B2 }, T0 + 3_601_000);
    expect(ctx.store.laneWrites).toBe(2);
    expect(ctx.store.lanes.get(LANE)?.inFlight).toBeUndefined();
  });
});

describe('co-partitioning at run time', () => {
  test("a record whose partition key contradicts the spec's partitionKey goes to the errors sink with the reason", async () => {
    const ctx = setup();
    const [good, bad] = sourceRecords([JSON.stringify({ d: 'dev-0', ts: T0 }), JSON.stringify({ d: 'dev-1', ts: T0 })], ['dev-0', '17'], 500);
    const out = await ctx.deliver([good, bad]);
    expect(out.stats.invalid).toBe(1);
    const [entry] = ctx.errors.all();
    expect(entry).toMatchObject({ sequenceNumber: bad.sequenceNumber, partitionKey: '17' });
    expect(entry.reason).toMatch(/partition key "17" contradicts the spec's partitionKey \[d\].*"dev-1"/);
    expect([...ctx.counts().values()]).toEqual([1]);
  });
});

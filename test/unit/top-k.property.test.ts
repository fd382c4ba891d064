import { fc, test } from '@fast-check/jest';
import type { BatchDeps } from '../../lambda/app/process-batch';
import { toMeasureValues, toTopKValues } from '../../lambda/domain/aggregate-state';
import { compileSpec } from '../../lambda/domain/compiled-spec';
import { parseEvent } from '../../lambda/domain/event-parser';
import { toIsoUtc } from '../../lambda/domain/event-time';
import { parseAggregationSpec } from '../../lambda/domain/spec';
import { maxTopKStoredBytes, MAX_TOP_K_VALUE_BYTES, TopKSketch, type TopKValue } from '../../lambda/domain/top-k';
import { itemBytes } from '../../lambda/domain/item-budget';
import { rawColumns } from '../../lib/constructs/data-lake-catalog';
import { formatResultsTable } from '../../scripts/lib/window-query';
import { keyRecord } from '../../lambda/domain/window-ref';
import { generateClickstreamWorkload } from '../../scripts/workload';
import { MemoryRecordSink, MemoryResultSink, sourceRecords } from '../support/harness';
import { MemoryWindowStore } from '../support/memory-window-store';
import { measuresClose, referenceAggregate, topKWithinBound, windowIdentity } from '../support/reference';
import { stepArb } from '../support/redelivery';
import { playInMemory } from '../support/memory-delivery';
import { specFactory } from '../support/factories';

/** Exact frequencies, keyed by JSON text: the independent reference. */
function exactCounts(values: readonly TopKValue[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const v of values) m.set(JSON.stringify(v), (m.get(JSON.stringify(v)) ?? 0) + 1);
  return m;
}

/** Skewed values (a few heavy hitters among many light ones) of every scalar kind, 1 and "1" both. */
const valueArb: fc.Arbitrary<TopKValue> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom<TopKValue>('a', 'b', 'c', 1, '1', true) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 60 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 6 }) },
);

/** Builds a summary from chunks merged in a random tree: the shape of batches folded into stored windows. */
function mergedTree(chunks: readonly TopKValue[][], capacity: number, order: readonly number[]): TopKSketch {
  const parts = chunks.map((c) => {
    const s = new TopKSketch(capacity);
    for (const v of c) s.add(v);
    return s;
  });
  while (parts.length > 1) {
    const i = order[parts.length % order.length] % (parts.length - 1);
    const [a, b] = parts.splice(i, 2);
    // Either side may be the target: merge must be commutative within the bound.
    if (order[0] % 2 === 0) {
      a.merge(b);
      parts.splice(i, 0, a);
    } else {
      b.merge(a);
      parts.splice(i, 0, b);
    }
  }
  return parts[0] ?? new TopKSketch(capacity);
}

describe('topK summary (Misra-Gries, mergeable)', () => {
  test.prop([fc.array(fc.array(valueArb, { maxLength: 200 }), { maxLength: 8 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 40 }), fc.array(fc.nat(), { minLength: 1, maxLength: 5 })], { numRuns: 300 })(
    'any merge tree keeps every count within n/(capacity+1) of the truth and lists every guaranteed heavy hitter',
    (chunks, k, extra, order) => {
      const capacity = k + extra;
      const all = chunks.flat();
      const s = mergedTree(chunks, capacity, order);
      expect(s.n).toBe(all.length);
      const want = { exactTopK: exactCounts(all), n: all.length, k, capacity };
      expect(topKWithinBound(s.top(k), want)).toBe(true);
      // Every value above n / (capacity + 1) holds a counter.
      const held = new Set(s.top(capacity).map((x) => JSON.stringify(x.value)));
      for (const [v, f] of want.exactTopK) if (f > all.length / (capacity + 1)) expect(held.has(v)).toBe(true);
    },
  );

  test.prop([fc.array(valueArb, { maxLength: 400 }), fc.integer({ min: 1, max: 20 })])('with fewer distinct values than counters it is exact', (values, k) => {
    const s = new TopKSketch(1_000);
    values.forEach((v) => s.add(v));
    const exact = exactCounts(values);
    const top = s.top(k);
    expect(top.every((x) => x.error === 0 && x.count === exact.get(JSON.stringify(x.value)))).toBe(true);
    const counts = [...exact.values()].sort((a, b) => b - a).slice(0, k);
    expect(top.map((x) => x.count)).toStrictEqual(counts);
  });

  test.prop([fc.array(valueArb, { maxLength: 300 }), fc.array(valueArb, { maxLength: 50 }), fc.integer({ min: 1, max: 30 })])(
    'the stored form round-trips: same result, same text, and the same summary after more values',
    (values, more, capacity) => {
      const s = new TopKSketch(capacity);
      values.forEach((v) => s.add(v));
      const back = TopKSketch.decode(s.encode());
      expect(back.encode()).toBe(s.encode());
      expect(back.top(capacity)).toStrictEqual(s.top(capacity));
      more.forEach((v) => {
        s.add(v);
        back.add(v);
      });
      expect(back.encode()).toBe(s.encode());
      expect(s.clone().encode()).toBe(s.encode());
    },
  );

  test('1 and "1", true and "true" are different values; odd unicode is kept as is', () => {
    const s = new TopKSketch(10);
    for (const v of [1, '1', '1', true, 'true', '🏳️‍🌈', 'ע֑ב', '\u200b', '🏳️‍🌈']) s.add(v);
    expect(s.top(10)).toStrictEqual([
      { value: '1', count: 2, error: 0 },
      { value: '🏳️‍🌈', count: 2, error: 0 },
      { value: 1, count: 1, error: 0 },
      { value: true, count: 1, error: 0 },
      { value: 'true', count: 1, error: 0 },
      { value: '\u200b', count: 1, error: 0 },
      { value: 'ע֑ב', count: 1, error: 0 },
    ].sort((a, b) => b.count - a.count || (key(a.value) < key(b.value) ? -1 : 1)));
  });

  test.prop([fc.integer({ min: 1, max: 60 }), fc.array(fc.oneof(fc.string({ unit: 'binary', maxLength: 84 }), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean()), { maxLength: 300 })])(
    'the stored form never outgrows the synth-time worst case, even with values at the size limit',
    (capacity, values) => {
      const s = new TopKSketch(capacity);
      // Values of the largest accepted size
      // (each control character is 6 bytes of JSON: \u0001), then whatever else.
      const largest = (i: number) => `${i}`.padEnd(Math.floor((MAX_TOP_K_VALUE_BYTES - 2) / 6), '\u0001');
      for (let i = 0; i < 3 * capacity; i++) {
        expect(Buffer.byteLength(JSON.stringify(largest(i)))).toBeLessThanOrEqual(MAX_TOP_K_VALUE_BYTES);
        s.add(largest(i));
      }
      values.forEach((v) => s.add(v));
      const stored = { tk: s.encode() };
      expect(itemBytes(stored)).toBeLessThanOrEqual(maxTopKStoredBytes(capacity));
    },
  );

  test('summaries of different capacities do not merge', () => {
    expect(() => new TopKSketch(4).merge(new TopKSketch(8))).toThrow(/capacity 8 and 4/);
  });
});

/** The ordering key of a value, as documented: strings and other scalars tagged apart. */
function key(v: TopKValue): string {
  return typeof v === 'string' ? `s${v}` : `j${String(v)}`;
}

const spec = specFactory({
  name: 'top_pages',
  groupBy: ['eventType'],
  window: { type: 'tumbling', sizeSeconds: 60 },
  allowedLatenessSeconds: 3600,
  measures: [
    { name: 'events', op: 'count' },
    { name: 'top_pages', op: 'topK', field: 'page', k: 3, capacity: 4 },
    { name: 'top_users', op: 'topK', field: 'userId', k: 5 },
  ],
});
const compiled = compileSpec(spec);

describe('topK under the window fences', () => {
  test.prop([fc.integer({ min: 1, max: 1_000_000 }), fc.array(stepArb(), { maxLength: 25 })], { numRuns: 40 })(
    'redelivered, crashed and re-run batches never double count: the state is the reference within the bound',
    async (seed, steps) => {
      const workload = generateClickstreamWorkload({ seed, count: 160, startMs: 1_700_000_000_000, users: 12, stepMs: 1500 });
      const records = sourceRecords(workload.map((w) => w.data), workload.map((w) => w.partitionKey));
      const store = new MemoryWindowStore();
      const results = new MemoryResultSink();
      const deps: BatchDeps = { spec: compiled, store, results, errors: new MemoryRecordSink(), late: new MemoryRecordSink() };
      await playInMemory(records, steps, deps, store, results, 'shardId-000000000001');
      const expected = referenceAggregate(spec, workload.map((w) => w.event!));
      const actual = [...store.windows.values()];
      expect(actual.length).toBe(expected.size);
      for (const { ref, stored } of actual) {
        const id = windowIdentity({ aggregation: ref.aggregation.name, key: keyRecord(ref.aggregation, ref.keyJson), windowStart: toIsoUtc(ref.start) });
        const got = { ...toMeasureValues(ref.aggregation.layout, stored.state), ...toTopKValues(ref.aggregation.layout, stored.state) };
        expect(measuresClose(got, expected.get(id)!.measures)).toBe(true);
      }
      // Results carry the topK measures apart from the numbers.
      for (const r of results.emitted) {
        expect(Object.keys(r.measures)).toStrictEqual(['events']);
        expect(Object.keys(r.topK ?? {})).toStrictEqual(['top_pages', 'top_users']);
      }
    },
  );
});

describe('topK values from hostile events', () => {
  const hostile = compileSpec(parseAggregationSpec({
    eventTime: { field: 'ts' },
    aggregations: [{ name: 'a', groupBy: ['g'], window: { type: 'tumbling', sizeSeconds: 60 }, measures: [{ name: 't', op: 'topK', field: 'v', k: 2 }] }],
  }));
  const parse = (v: unknown) => parseEvent(hostile, JSON.stringify({ ts: 1_700_000_000_000, g: 'x', v }));
  test.each([
    ['a huge string', 'x'.repeat(600), /invalid topK field "v": 602 bytes as JSON, over the 512-byte limit/],
    ['a string that escapes past the limit', '\u0001'.repeat(100), /invalid topK field "v": 602 bytes/],
    ['an object', { a: 1 }, /invalid topK field "v": expected a string, number or boolean, got object/],
    ['an array', [1], /got array/],
    ['null', null, /missing topK field "v"/],
  ])('refuses %s, naming the field and the limit', (_, v, reason) => {
    const r = parse(v);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toMatch(reason);
  });
  test('refuses a lone surrogate', () => {
    const r = parseEvent(hostile, `{"ts":1700000000000,"g":"x","v":"\\ud800"}`);
    expect(!r.ok && r.reason).toMatch(/not well-formed Unicode/);
  });
  test.each([['emoji', '🏳️‍🌈'], ['a 510-byte string', 'y'.repeat(510)], ['zero', 0], ['a float', -1.5e-300], ['false', false]])('accepts %s', (_, v) => {
    expect(parse(v).ok).toBe(true);
  });
});

describe('topK in the spec', () => {
  const withTopK = (m: Record<string, unknown>) => () =>
    parseAggregationSpec({
      eventTime: { field: 'ts' },
      aggregations: [{ name: 'a', groupBy: ['g'], window: { type: 'tumbling', sizeSeconds: 60 }, measures: [{ name: 't', op: 'topK', field: 'v', ...m }] }],
    });
  test.each([
    ['k above 100', { k: 101 }, /measures\[0\]\.k/],
    ['k of 0', { k: 0 }, /measures\[0\]\.k/],
    ['no k', {}, /measures\[0\]\.k/],
    ['capacity below k', { k: 10, capacity: 5 }, /measures\[0\]\.capacity: must be >= k \(10\)/],
    ['a typo', { k: 3, capacty: 12 }, /did you mean "capacity"/],
  ])('refuses %s', (_, m, message) => expect(withTopK(m)).toThrow(message));
  test('refuses measures whose full summaries would not fit a window item', () => {
    const measures = Array.from({ length: 3 }, (_, i) => ({ name: `t${i}`, op: 'topK', field: 'v', k: 100, capacity: 400 }));
    expect(() =>
      parseAggregationSpec({ eventTime: { field: 'ts' }, aggregations: [{ name: 'a', groupBy: ['g'], window: { type: 'tumbling', sizeSeconds: 60 }, measures }] }),
    ).toThrow(/3 topK\).*lower the HyperLogLog precision or a topK capacity/s);
  });
  test('k = 100 at the default capacity fits', () => expect(withTopK({ k: 100 })).not.toThrow());
});

describe('topK outside the aggregator', () => {
  test('the raw Glue table reads a topK field as a string', () => {
    expect(rawColumns(parseAggregationSpec({
      eventTime: { field: 'ts' },
      aggregations: [{ name: 'a', groupBy: ['g'], window: { type: 'tumbling', sizeSeconds: 60 }, measures: [{ name: 't', op: 'topK', field: 'page', k: 2 }] }],
    }))).toStrictEqual([{ name: 'ts', type: 'string' }, { name: 'g', type: 'string' }, { name: 'page', type: 'string' }]);
  });
  test('pipeline query shows a topK list, with its bound when the summary pruned', () => {
    const table = formatResultsTable([
      { id: 'x', aggregation: 'a', key: { g: 'k' }, windowStart: '2026-01-27T09:30:00.000Z', windowEnd: '2026-01-27T09:31:00.000Z', measures: { n: 5 }, topK: { t: [{ value: '/cart', count: 3, error: 1 }, { value: 7, count: 1, error: 1 }] }, final: true, version: 1 },
    ]);
    expect(table.split('\n')[0]).toMatch(/key\s+n\s+t\s+final/);
    expect(table).toContain('"/cart":3,7:1 (+≤1)');
  });
});


import { fc, test } from '@fast-check/jest';
import { HyperLogLog, hllStandardError } from '../../lambda/domain/hyperloglog';
import { QuantileSketch } from '../../lambda/domain/quantile-sketch';
import * as compiledProto from '@datadog/sketches-js/dist/ddsketch/proto/compiled';
import { DenseStore } from '@datadog/sketches-js/dist/ddsketch/store';
import { seededRandom } from '../../scripts/workload';

describe('HyperLogLog (distinct)', () => {
  for (const precision of [11, 14]) {
    for (const n of [1, 10, 100, 1_000, 10_000, 100_000]) {
      test(`precision ${precision}: ${n} distinct values within 4 standard errors`, () => {
        const hll = new HyperLogLog(precision);
        const rnd = seededRandom(n * 31 + precision);
        // n distinct ids that look like real keys, each added twice (the second pass in a seeded shuffled order, as a
        // redelivery would): duplicates must not count.
        const ids = Array.from({ length: n }, (_, i) => `user-${i}-${Math.floor(rnd() * 1e9)}`);
        const shuffled = ids.map((id) => [rnd(), id] as const).sort((x, y) => x[0] - y[0]).map(([, id]) => id);
        for (const id of [...ids, ...shuffled]) hll.add(id);
        const exact = new Set(ids).size;
        const error = Math.abs(hll.estimate() - exact) / exact;
        expect(error).toBeLessThanOrEqual(4 * hllStandardError(precision));
      });
    }
  }

  test.prop([fc.array(fc.oneof(fc.string(), fc.integer(), fc.boolean()), { maxLength: 300 }), fc.nat(300)])(
    'adding a value again, or merging a sketch twice, changes nothing (idempotent, so redeliveries cannot inflate it)',
    (values, cut) => {
      const all = new HyperLogLog(10);
      for (const v of values) all.add(v);
      const left = new HyperLogLog(10);
      const right = new HyperLogLog(10);
      values.slice(0, cut).forEach((v) => left.add(v));
      values.slice(cut).forEach((v) => right.add(v));
      left.merge(right);
      left.merge(right);
      for (const v of values.slice(0, 10)) left.add(v);
      expect(left.registers).toStrictEqual(all.registers);
    },
  );

  test('1 and "1" are different values', () => {
    const hll = new HyperLogLog(11);
    hll.add(1);
    hll.add('1');
    expect(Math.round(hll.estimate())).toBe(2);
  });

  test('encodes sparse while small and dense when full, and decodes to the same registers', () => {
    const small = new HyperLogLog(11);
    for (let i = 0; i < 50; i++) small.add(`v${i}`);
    const big = new HyperLogLog(11);
    for (let i = 0; i < 50_000; i++) big.add(`v${i}`);
    expect(small.encode()).toMatch(/^s11:/);
    expect(big.encode()).toMatch(/^d11:/);
    expect(small.encode().length).toBeLessThan(300);
    for (const h of [small, big]) expect(HyperLogLog.decode(h.encode()).registers).toStrictEqual(h.registers);
  });

  // Sketches list their set registers while few are set; merging and estimating then visit only those. Whatever path
  // a sketch takes (built by adds, merged, cloned, decoded, sparse or dense), its registers must be the register-wise
  // maximum and its estimate the textbook formula over all registers, computed here independently.
  test.prop([fc.array(fc.array(fc.oneof(fc.string({ maxLength: 6 }), fc.integer()), { maxLength: 300 }), { minLength: 1, maxLength: 5 }), fc.boolean()])(
    'merged, cloned and decoded sketches have the register-wise maximum and the textbook estimate',
    (groups, viaCodec) => {
      const precision = 8;
      const parts = groups.map((values) => {
        const h = new HyperLogLog(precision);
        for (const v of values) h.add(v);
        return viaCodec ? HyperLogLog.decode(h.encode()) : h;
      });
      const merged = parts[0].clone();
      for (const p of parts.slice(1)) merged.merge(p);
      const expected = new Uint8Array(1 << precision);
      for (const p of parts) p.registers.forEach((r, i) => (expected[i] = Math.max(expected[i], r)));
      expect(merged.registers).toStrictEqual(expected);
      const m = expected.length;
      const sum = [...expected].reduce((acc, r) => acc + 2 ** -r, 0);
      const zeros = expected.filter((r) => r === 0).length;
      const raw = ((0.7213 / (1 + 1.079 / m)) * m * m) / sum;
      expect(merged.estimate()).toBe(raw <= 2.5 * m && zeros > 0 ? m * Math.log(m / zeros) : raw);
    },
  );

  test('sketches of different precisions do not merge', () => {
    expect(() => new HyperLogLog(10).merge(new HyperLogLog(11))).toThrow(/precision/);
  });
});

interface ProtoStore {
  readonly contiguousBinCounts?: number[];
  readonly contiguousBinIndexOffset?: number;
}
// The compiled protobuf module's typings declare its root only, not the message types.
const ProtoDDSketch = (compiledProto as unknown as { DDSketch: { decode(bytes: Uint8Array): { positiveValues?: ProtoStore; negativeValues?: ProtoStore } } }).DDSketch;

/** A store's counted keys and their counts. */
function binsOfStore(st: { minKey: number; maxKey: number; offset: number; bins: number[] }): Record<number, number> {
  const out: Record<number, number> = {};
  for (let key = st.minKey; key <= st.maxKey; key++) if (st.bins[key - st.offset]) out[key] = st.bins[key - st.offset];
  return out;
}

/** A quantile sketch's content: the zero count and each store's counts by bin key. */
function binsOf(q: QuantileSketch) {
  return { zero: q.sketch.zeroCount, positive: binsOfStore(q.sketch.store), negative: binsOfStore(q.sketch.negativeStore) };
}

describe('DDSketch (percentile)', () => {
  const exactAtRank = (sorted: number[], q: number) => sorted[Math.floor(q * (sorted.length - 1))];

  for (const accuracy of [0.01, 0.05]) {
    test(`every quantile within ${accuracy * 100} % of the exact value, on seeded skewed data`, () => {
      const rnd = seededRandom(Math.round(accuracy * 1000));
      // Log-normal-ish latencies between about 1 ms and 10 s.
      const values = Array.from({ length: 20_000 }, () => Math.exp(rnd() * rnd() * 9));
      const built = new QuantileSketch(accuracy);
      for (const v of values) built.add(v);
      // As the pipeline reports it: after a round trip through the window item.
      const sketch = QuantileSketch.decode(built.encode(), accuracy);
      const sorted = [...values].sort((a, b) => a - b);
      for (const q of [0, 0.1, 0.5, 0.9, 0.95, 0.99, 0.999, 1]) {
        const exact = exactAtRank(sorted, q);
        const got = sketch.quantile(q)!;
        expect(Math.abs(got - exact)).toBeLessThanOrEqual(accuracy * Math.abs(exact) + 1e-12);
      }
    });
  }

  test.prop([fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }).map((v) => (Math.abs(v) < 1e-9 ? 0 : v)), { minLength: 1, maxLength: 300 }), fc.nat(300)])(
    'merging partial sketches equals one sketch of everything; encoding round-trips',
    (values, cut) => {
      const all = new QuantileSketch(0.01);
      values.forEach((v) => all.add(v));
      const left = new QuantileSketch(0.01);
      const right = new QuantileSketch(0.01);
      values.slice(0, cut).forEach((v) => left.add(v));
      values.slice(cut).forEach((v) => right.add(v));
      left.merge(right);
      const decoded = QuantileSketch.decode(left.encode(), 0.01);
      expect(decoded.count).toBe(values.length);
      // Stored sketches are always read back from their encoded form, which keeps the bins (not min and max).
      const allDecoded = QuantileSketch.decode(all.encode(), 0.01);
      for (const q of [0, 0.5, 0.95, 1]) expect(decoded.quantile(q)).toBe(allDecoded.quantile(q));
    },
  );

  test.prop([
    fc.array(fc.double({ min: -1e12, max: 1e12, noNaN: true }), { minLength: 1, maxLength: 200 }),
    fc.constantFrom(0.05, 0.01, 0.001),
    fc.array(fc.double({ min: -1e12, max: 1e12, noNaN: true }), { maxLength: 20 }),
  ])('a round trip through the encoded form reads back exactly what was written, and adds land where they would have', (values, accuracy, later) => {
    const built = new QuantileSketch(accuracy);
    values.forEach((v) => built.add(v));
    const decoded = QuantileSketch.decode(built.encode(), accuracy);
    const qs = [0, 0.01, 0.25, 0.5, 0.75, 0.99, 1];
    for (const q of qs) expect(decoded.quantile(q)).toBe(built.quantile(q));
    // The same values added on both sides keep them equal: the decoded sketch indexes values as the written one did.
    later.forEach((v) => {
      built.add(v);
      decoded.add(v);
    });
    for (const q of qs) expect(decoded.quantile(q)).toBe(built.quantile(q));
    // Same bins with the same counts (the encoded text also carries how each store grew its array, so it can differ).
    expect(binsOf(decoded)).toStrictEqual(binsOf(built));
  });

  test.prop([fc.array(fc.double({ min: -1e12, max: 1e12, noNaN: true }), { maxLength: 200 }), fc.constantFrom(0.05, 0.01, 0.001)])(
    "the encoded form carries each store's counted span only, and reads back as the library's whole-array form does",
    (values, accuracy) => {
      const built = new QuantileSketch(accuracy);
      values.forEach((v) => built.add(v));
      const text = built.encode();
      const proto = ProtoDDSketch.decode(Buffer.from(text, 'base64'));
      for (const [written, store] of [
        [proto.positiveValues, built.sketch.store],
        [proto.negativeValues, built.sketch.negativeStore],
      ] as const) {
        // The keys the sketch counted (from its state, not from the encoding): the span the encoding must carry.
        const keys = Object.keys(store.count === 0 ? {} : binsOfStore(store)).map(Number);
        const counts = written?.contiguousBinCounts ?? [];
        expect(counts.length).toBe(keys.length === 0 ? 0 : Math.max(...keys) - Math.min(...keys) + 1);
        if (keys.length > 0) expect(Number(written?.contiguousBinIndexOffset)).toBe(Math.min(...keys));
      }
      // What earlier versions wrote (the whole bins arrays, zeros included) reads back as the same sketch.
      const untrimmed = untrimmedEncoding(built);
      expect(untrimmed.length).toBeGreaterThanOrEqual(text.length);
      const old = QuantileSketch.decode(untrimmed, accuracy);
      const now = QuantileSketch.decode(text, accuracy);
      expect(binsOf(now)).toStrictEqual(binsOf(old));
      expect(now.count).toBe(old.count);
      for (const q of [0, 0.5, 0.95, 1]) expect(now.quantile(q)).toBe(old.quantile(q));
    },
  );

  test('an empty sketch reports no value', () => expect(new QuantileSketch().quantile(0.5)).toBe(null));
});

/** The library's own encoding of a sketch: its stores' whole bins arrays, as this project wrote them before. */
function untrimmedEncoding(q: QuantileSketch): string {
  const plain = (st: DenseStore) => Object.assign(Object.create(DenseStore.prototype) as DenseStore, st);
  const { store, negativeStore } = q.sketch;
  q.sketch.store = plain(store);
  q.sketch.negativeStore = plain(negativeStore);
  try {
    return q.encode();
  } finally {
    q.sketch.store = store;
    q.sketch.negativeStore = negativeStore;
  }
}

/**
 * The generated fold (measure-fold.ts) and the loop it replaces, each against an independent computation of every
 * measure over the same events: sums in event order, minima and maxima by comparison, sketches fed the values
 * directly. Random measure lists, top-level names that need quoting, dotted paths.
 */
import { fc, test } from '@fast-check/jest';
import type { AggregateState } from '../../lambda/domain/aggregate-state';
import { compileFieldGetter } from '../../lambda/domain/fields';
import { HyperLogLog } from '../../lambda/domain/hyperloglog';
import { compileFold, foldByLoop, type FoldedMeasure, type MeasureFold } from '../../lambda/domain/measure-fold';
import { QuantileSketch } from '../../lambda/domain/quantile-sketch';
import type { MeasureOp } from '../../lambda/domain/spec';
import { TopKSketch } from '../../lambda/domain/top-k';
import { withoutCodeGeneration } from '../support/no-code-generation';

const FIELDS = ['v', 'w', '__proto__', 'a"b', 'x\\y', '\u2028', 'a.b', 'a.c.d'] as const;
const OPS: readonly MeasureOp[] = ['count', 'sum', 'min', 'max', 'avg', 'distinct', 'percentile', 'topK'];

/** A field's value in an event, by walking the path (the reference's own read). */
function read(event: Record<string, unknown>, path: string): unknown {
  if (!path.includes('.')) return event[path];
  return path.split('.').reduce<unknown>((o, p) => (o as Record<string, unknown>)[p], event);
}

/** An event with every field of {@link FIELDS}, built by JSON.parse as events are (`__proto__` an own property). */
function eventOf(values: readonly number[]): Record<string, unknown> {
  const [v, w, proto, quote, backslash, sep, ab, acd] = values;
  const flat = ([['v', v], ['w', w], ['__proto__', proto], ['a"b', quote], ['x\\y', backslash], ['\u2028', sep]] as const).map(([k, x]) => `${JSON.stringify(k)}:${x}`);
  return JSON.parse(`{${flat.join(',')},"a":{"b":${ab},"c":{"d":${acd}}}}`) as Record<string, unknown>;
}

function slotsOf(op: MeasureOp): number {
  return op === 'avg' ? 2 : 1;
}

function initial(op: MeasureOp): number | HyperLogLog | QuantileSketch | TopKSketch {
  if (op === 'min') return Infinity;
  if (op === 'max') return -Infinity;
  if (op === 'distinct') return new HyperLogLog(8);
  if (op === 'percentile') return new QuantileSketch(0.02);
  if (op === 'topK') return new TopKSketch(8);
  return 0;
}

/** What each measure should hold after `events`, computed measure by measure from the values. */
function expected(measures: readonly FoldedMeasure[], events: readonly Record<string, unknown>[]): unknown[] {
  return measures.map((m) => {
    const vals = events.map((e) => (m.field === undefined ? undefined : read(e, m.field))) as number[];
    switch (m.op) {
      case 'count':
        return events.length;
      case 'sum':
        return vals.reduce((a, v) => a + v, 0);
      case 'min':
        return vals.reduce((a, v) => (v < a ? v : a), Infinity);
      case 'max':
        return vals.reduce((a, v) => (v > a ? v : a), -Infinity);
      case 'avg':
        return [vals.reduce((a, v) => a + v, 0), events.length];
      default: {
        const sketch = initial(m.op) as HyperLogLog | QuantileSketch | TopKSketch;
        for (const v of vals) sketch.add(v);
        return sketch.encode();
      }
    }
  });
}

function actual(measures: readonly FoldedMeasure[], fold: MeasureFold, events: readonly Record<string, unknown>[]): unknown[] {
  const state: AggregateState = [];
  for (const m of measures) {
    state[m.slot] = initial(m.op);
    if (slotsOf(m.op) === 2) state[m.slot + 1] = 0;
  }
  for (const e of events) fold(state, e);
  return measures.map((m) => {
    const s = state[m.slot];
    if (m.op === 'avg') return [s, state[m.slot + 1]];
    return typeof s === 'number' ? s : s.encode();
  });
}

const measureList = fc.array(fc.tuple(fc.constantFrom(...OPS), fc.constantFrom(...FIELDS)), { minLength: 1, maxLength: 8 }).map((list) => {
  let slot = 0;
  return list.map(([op, field]): FoldedMeasure => {
    const m = op === 'count' ? { op, slot } : { op, slot, field, get: compileFieldGetter(field) };
    slot += slotsOf(op);
    return m;
  });
});
const value = fc.oneof(fc.double({ min: -1e6, max: 1e6, noNaN: true }), fc.integer({ min: -5, max: 5 }));
const events = fc.array(fc.array(value, { minLength: FIELDS.length, maxLength: FIELDS.length }).map(eventOf), { maxLength: 30 });

describe('folding events into a state', () => {
  test.prop([measureList, events])('the generated fold holds what each measure computes from the values', (measures, evs) => {
    expect(actual(measures, compileFold(measures), evs)).toStrictEqual(expected(measures, evs));
  });

  test.prop([measureList, events])('the loop it replaces (and falls back to) holds the same', (measures, evs) => {
    expect(actual(measures, foldByLoop(measures), evs)).toStrictEqual(expected(measures, evs));
  });

  test('a runtime that refuses code generation gets the loop', () => {
    withoutCodeGeneration(() => {
      const measures: FoldedMeasure[] = [{ op: 'sum', slot: 0, field: 'v', get: compileFieldGetter('v') }];
      const fold = compileFold(measures);
      const state: AggregateState = [0];
      fold(state, { v: 2 });
      fold(state, { v: 3 });
      expect(state).toStrictEqual([5]);
    });
  });
});

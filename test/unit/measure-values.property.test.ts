/**
 * A layout's generated measure values (aggregate-state.ts, `compileValues`) against the loop that defines them: the
 * same properties in the same order (the emitted JSON follows it) with the same values, for random measure lists
 * folded over random events, and the loop where code generation is refused.
 */
import { fc, test } from '@fast-check/jest';
import { compileMeasureLayout, emptyState, toMeasureValues, valuesByLoop, type AggregateState } from '../../lambda/domain/aggregate-state';
import { specFactory, aggregationFactory, type AggregationInput } from '../support/factories';
import { withoutCodeGeneration } from '../support/no-code-generation';

type Measure = AggregationInput['measures'][number];
const OPS = ['count', 'sum', 'min', 'max', 'avg', 'distinct', 'percentile', 'topK'] as const;
// Valid measure names, `constructor` among them (an own property of the result, as the loop makes it).
const NAMES = ['events', 'total', 'lo', 'hi', 'mean', 'devices', 'p95', 'top', 'constructor', 'a1'];

function measureOf(op: (typeof OPS)[number], name: string): Measure {
  if (op === 'count') return { name, op };
  if (op === 'percentile') return { name, op, field: 'v', quantile: 0.9 };
  if (op === 'topK') return { name, op, field: 'v', k: 2 };
  if (op === 'distinct') return { name, op, field: 'v' };
  return { name, op, field: 'v' };
}

const measures = fc.uniqueArray(fc.tuple(fc.constantFrom(...OPS), fc.constantFrom(...NAMES)), { selector: ([, n]) => n, minLength: 1, maxLength: 8 });
const values = fc.array(fc.oneof(fc.double({ min: -1e6, max: 1e6, noNaN: true }), fc.integer({ min: -3, max: 3 })), { maxLength: 20 });

describe("a layout's measure values", () => {
  test.prop([measures, values])('the generated literal has the properties and values of the loop, in its order', (ms, vs) => {
    const agg = specFactory(aggregationFactory({ measures: ms.map(([op, name]) => measureOf(op, name)) })).aggregations[0];
    const layout = compileMeasureLayout(agg);
    const state: AggregateState = emptyState(layout);
    for (const v of vs) layout.fold(state, { v });
    const got = toMeasureValues(layout, state);
    const want = valuesByLoop(layout.measures)(state);
    expect(Object.keys(got)).toStrictEqual(ms.filter(([op]) => op !== 'topK').map(([, n]) => n));
    expect(JSON.stringify(got)).toBe(JSON.stringify(want));
    for (const k of Object.keys(want)) expect(Object.is(got[k], want[k])).toBe(true);
    expect(Object.getPrototypeOf(got)).toBe(Object.prototype);
  });

  test('a runtime that refuses code generation gets the loop', () => {
    withoutCodeGeneration(() => {
      const agg = specFactory(aggregationFactory({ measures: [{ name: 'n', op: 'count' }, { name: 'm', op: 'max', field: 'v' }] })).aggregations[0];
      const layout = compileMeasureLayout(agg);
      expect(toMeasureValues(layout, emptyState(layout))).toStrictEqual({ n: 0, m: null });
    });
  });
});

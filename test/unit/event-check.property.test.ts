/**
 * The spec's generated quick check (event-check.ts) against `fieldProblem`, the definition of valid fields: it never
 * accepts an event `fieldProblem` refuses, and it decides (accepts) every event `fieldProblem` accepts unless a
 * group-by string is long enough to need its JSON measured. Random specs (each field in any role, dotted paths) and
 * hostile values.
 */
import { fc, test } from '@fast-check/jest';
import { compileEventCheck } from '../../lambda/domain/event-check';
import { fieldProblem, parseEvent, SHORT_STRING_UNITS } from '../../lambda/domain/event-parser';
import { aggregationFactory, compiledSpecFactory, type AggregationInput } from '../support/factories';
import { withoutCodeGeneration } from '../support/no-code-generation';

// Field names as specs allow them (spec.ts refuses prototype names and quotes), dotted paths among them.
const FIELDS = ['k', 'x', 'y_1', 'n.m'] as const;

/** The aggregation over group-by `key` whose measures read `scalar` (distinct), `top` (topK) and `num` (sum, percentile). */
function aggregation(key: string, scalar: string | undefined, top: string | undefined, num: string | undefined): AggregationInput {
  return aggregationFactory({
    groupBy: [key],
    measures: [
      { name: 'n', op: 'count' },
      ...(scalar ? [{ name: 'd', op: 'distinct' as const, field: scalar }] : []),
      ...(top ? [{ name: 't', op: 'topK' as const, field: top, k: 2 }] : []),
      ...(num ? [{ name: 's', op: 'sum' as const, field: num }, { name: 'p', op: 'percentile' as const, field: num, quantile: 0.5 }] : []),
    ],
  });
}

const role = fc.option(fc.constantFrom(...FIELDS), { nil: undefined });
const spec = fc.tuple(fc.constantFrom(...FIELDS), role, role, role).map(([k, s, t, n]) => compiledSpecFactory(aggregation(k, s, t, n)));

/** Values at and beyond every limit: lone surrogates, long strings, magnitudes DynamoDB refuses, non-finite numbers. */
const value = fc.oneof(
  fc.constantFrom('\ud800', 'a\udc00', '\udc00\ud800', '\ud83d\ude00'),
  fc.string({ maxLength: 6 }),
  fc.string({ unit: 'binary', maxLength: 4 }),
  fc.constantFrom('x'.repeat(SHORT_STRING_UNITS), 'x'.repeat(SHORT_STRING_UNITS + 1), '"'.repeat(100), 'é'.repeat(600)),
  fc.double(),
  fc.constantFrom(0, -0, 1e-130, 1e-131, 2 ** 53 - 1, 2 ** 53, -(2 ** 53), 1e100, -1e100, 1e100 * (1 + Number.EPSILON), 1e101, Infinity, NaN),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.constant([1]),
  fc.constant({ a: 1 }),
);

/** An event holding `values` at the fields (an undefined value: the field is absent). */
function eventOf(values: readonly unknown[]): Record<string, unknown> {
  const event: Record<string, unknown> = { ts: 1_700_000_000_000, n: {} };
  FIELDS.forEach((f, i) => {
    if (values[i] === undefined) return;
    if (f === 'n.m') (event.n as Record<string, unknown>).m = values[i];
    else event[f] = values[i];
  });
  return event;
}

const values = fc.array(value, { minLength: FIELDS.length, maxLength: FIELDS.length });

describe("the spec's quick check of an event's fields", () => {
  test.prop([spec, values], { numRuns: 500 })('accepts only what fieldProblem accepts, and all of it but long group-by strings', (s, vs) => {
    const event = eventOf(vs);
    const problem = fieldProblem(s, event);
    const quick = s.checkEvent(event);
    if (quick) expect(problem).toBeUndefined();
    const keyValue = s.keyFields.map((f) => f.get(event));
    const longKey = keyValue.some((v) => typeof v === 'string' && v.length > SHORT_STRING_UNITS);
    if (problem === undefined && !longKey) expect(quick).toBe(true);
  });

  test.prop([spec, values], { numRuns: 300 })('parsing gives what fieldProblem says', (s, vs) => {
    const text = JSON.stringify(eventOf(vs));
    const parsed = parseEvent(s, text);
    const problem = fieldProblem(s, JSON.parse(text) as Record<string, unknown>);
    expect(parsed.ok ? undefined : parsed.reason).toBe(problem);
  });

  test('a runtime that refuses code generation leaves every event to fieldProblem', () => {
    withoutCodeGeneration(() => {
      const s = compiledSpecFactory(aggregation('k', undefined, undefined, 'x'));
      const check = compileEventCheck(s);
      expect(check({ ts: 1, k: 'a', x: 1 })).toBe(false);
    });
  });
});

/**
 * Test builders for aggregation specs, in the manner of Powertools' `packages/batch/tests/helpers/factories.ts`: one
 * default per shape, overridden field by field, so that a test states only what it is about.
 * Record builders (Kinesis events, source records, sequence numbers) are in `./harness`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { z } from 'zod';
import { compileSpec, type CompiledSpec } from '../../lambda/domain/compiled-spec';
import { type aggregationSchema, type AggregationSpec, type aggregationSpecSchema, parseAggregationSpec } from '../../lambda/domain/spec';

/** One aggregation as a spec file spells it (defaults not yet applied). */
export type AggregationInput = z.input<typeof aggregationSchema>;
/** A whole spec as a spec file spells it. */
export type SpecInput = z.input<typeof aggregationSpecSchema>;

/**
 * An aggregation: per `d`, one-minute tumbling windows, no lateness, a count `n`; each field can be overridden.
 */
export function aggregationFactory(overrides: Partial<AggregationInput> = {}): AggregationInput {
  return {
    name: 'per_device',
    groupBy: ['d'],
    window: { type: 'tumbling', sizeSeconds: 60 },
    allowedLatenessSeconds: 0,
    measures: [{ name: 'n', op: 'count' }],
    ...overrides,
  };
}

/**
 * One measure of every type over the numeric field `field` (count, sum, avg, min, max, a percentile at 0.1 %
 * accuracy) and a distinct count over `distinctField`: what the storage and hostile-input tests put through every
 * measure's encoding.
 */
export function everyMeasure(field = 'v', distinctField = 'user'): AggregationInput['measures'] {
  return [
    { name: 'events', op: 'count' },
    { name: 'total', op: 'sum', field },
    { name: 'mean', op: 'avg', field },
    { name: 'lo', op: 'min', field },
    { name: 'hi', op: 'max', field },
    { name: 'users', op: 'distinct', field: distinctField },
    { name: 'p99', op: 'percentile', field, quantile: 0.99, relativeAccuracy: 0.001 },
  ];
}

/**
 * The unvalidated spec over `aggregations` (the default aggregation when none is given), event time in `ts`. An
 * aggregation that does not say keeps its state in one item per window (`state: single`), whose items the tests
 * read; the per-shard layout's tests ask for `state: per-shard`.
 */
export function specInputFactory(...aggregations: AggregationInput[]): SpecInput {
  const list = aggregations.length > 0 ? aggregations : [aggregationFactory()];
  return { eventTime: { field: 'ts' }, aggregations: list.map((a) => ({ state: 'single' as const, ...a })) };
}

/** The validated spec over `aggregations`; see {@link specInputFactory}. */
export function specFactory(...aggregations: AggregationInput[]): AggregationSpec {
  return parseAggregationSpec(specInputFactory(...aggregations));
}

/** The compiled spec over `aggregations`, as the handlers use it; see {@link specInputFactory}. */
export function compiledSpecFactory(...aggregations: AggregationInput[]): CompiledSpec {
  return compileSpec(specFactory(...aggregations));
}

/** A fresh, mutable copy of `specs/demo.json`, the spec the project ships. */
export function demoSpecInput(): SpecInput {
  return JSON.parse(readFileSync(join(__dirname, '..', '..', 'specs', 'demo.json'), 'utf8')) as SpecInput;
}

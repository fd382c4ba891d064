import { compileMeasureLayout, type MeasureLayout } from './aggregate-state';
import { compileEventCheck, type EventCheck } from './event-check';
import type { EventTimeFormat } from './event-time';
import { compileFieldGetter, type FieldGetter } from './fields';
import { DEFAULT_MAX_FUTURE_SECONDS, nonCoPartitioned, type Aggregation, type AggregationSpec } from './spec';
import { compileWindowAssigner, type WindowAssigner } from './windows';
import { keyWindowRule, type KeyWindowRule } from './key-windows';

/** A group-by value: what a key field may hold. */
export type KeyValue = string | number | boolean;

/** An aggregation with everything the hot path needs precomputed. */
export interface CompiledAggregation {
  readonly def: Aggregation;
  readonly name: string;
  readonly layout: MeasureLayout;
  readonly assigner: WindowAssigner;
  readonly groupBy: readonly { readonly field: string; readonly get: FieldGetter }[];
  readonly latenessMs: number;
  /** Set for per-key windows (session, stagger), which are kept per key, not per window (see key-windows.ts). */
  readonly keyRule?: KeyWindowRule;
  /**
   * The window state is split into one partial item per (window, shard) under a small root item (`state`:
   * `per-shard`, or `auto` on an aggregation not co-partitioned with the spec's declared `partitionKey`); otherwise
   * one item per window.
   */
  readonly perShard: boolean;
}

/** A spec compiled once per process (handler init), then shared by every batch. */
export interface CompiledSpec {
  readonly spec: AggregationSpec;
  readonly eventTimeField: string;
  readonly getEventTime: FieldGetter;
  /** The spec's event-time format and bounds, in milliseconds. */
  readonly eventTime: { readonly format: EventTimeFormat; readonly maxFutureMs: number; readonly maxPastMs?: number };
  /** The epoch-aligned aggregations (tumbling, hopping): one item per window. */
  readonly aggregations: readonly CompiledAggregation[];
  /** The epoch-aligned aggregations by name. */
  readonly byName: ReadonlyMap<string, CompiledAggregation>;
  /** The per-key aggregations (session, stagger): one item per key (see key-windows.ts). */
  readonly keyed: readonly CompiledAggregation[];
  /** Every aggregation, in spec order. */
  readonly allAggregations: readonly CompiledAggregation[];
  /** Every field that must be a finite number, across aggregations, each checked once per event. */
  readonly numericFields: readonly { readonly field: string; readonly get: FieldGetter }[];
  /** Every group-by field, across aggregations, each checked once per event. */
  readonly keyFields: readonly { readonly field: string; readonly get: FieldGetter }[];
  /** Every field a `distinct` measure counts (not already checked as a number), each checked once per event. */
  readonly scalarFields: readonly { readonly field: string; readonly get: FieldGetter }[];
  /** Every field a `topK` measure counts, each checked once per event. */
  readonly topKFields: readonly { readonly field: string; readonly get: FieldGetter }[];
  /** The quick check of an event's fields, generated from the four lists above (see event-check.ts). */
  readonly checkEvent: EventCheck;
}

/** Compiles a validated spec. */
export function compileSpec(spec: AggregationSpec): CompiledSpec {
  // `auto`: per shard when the spec says how records are keyed and the group-by is not co-partitioned with it; a spec
  // that says nothing keeps the single-item layout (what it had before the per-shard layout existed). Session and
  // stagger windows keep one item per key (key-windows.ts), so the option does not apply to them.
  const spread = new Set(spec.partitionKey ? nonCoPartitioned(spec) : []);
  const all = spec.aggregations.map((def): CompiledAggregation => {
    const keyRule = keyWindowRule(def.window);
    return {
      def,
      name: def.name,
      layout: compileMeasureLayout(def),
      assigner: compileWindowAssigner(def.window),
      groupBy: def.groupBy.map((field) => ({ field, get: compileFieldGetter(field) })),
      latenessMs: def.allowedLatenessSeconds * 1000,
      perShard: !keyRule && (def.state === 'per-shard' || (def.state !== 'single' && spread.has(def.name))),
      ...(keyRule ? { keyRule } : {}),
    };
  });
  const aggregations = all.filter((a) => !a.keyRule);
  const numeric = new Map<string, FieldGetter>();
  const keys = new Map<string, FieldGetter>();
  const scalar = new Map<string, FieldGetter>();
  const topK = new Map<string, FieldGetter>();
  for (const a of all) {
    for (const f of a.layout.topKFields) topK.set(f.field, f.get);
    for (const f of a.layout.numericFields) numeric.set(f.field, f.get);
    for (const f of a.layout.scalarFields) scalar.set(f.field, f.get);
    for (const g of a.groupBy) keys.set(g.field, g.get);
  }
  const fields = {
    numericFields: [...numeric].map(([field, get]) => ({ field, get })),
    keyFields: [...keys].map(([field, get]) => ({ field, get })),
    scalarFields: [...scalar].filter(([field]) => !numeric.has(field) && !keys.has(field)).map(([field, get]) => ({ field, get })),
    topKFields: [...topK].map(([field, get]) => ({ field, get })),
  };
  return {
    spec,
    eventTimeField: spec.eventTime.field,
    getEventTime: compileFieldGetter(spec.eventTime.field),
    eventTime: {
      format: spec.eventTime.format ?? 'auto',
      maxFutureMs: (spec.eventTime.maxFutureSeconds ?? DEFAULT_MAX_FUTURE_SECONDS) * 1000,
      ...(spec.eventTime.maxPastSeconds !== undefined ? { maxPastMs: spec.eventTime.maxPastSeconds * 1000 } : {}),
    },
    aggregations,
    byName: new Map(aggregations.map((a) => [a.name, a])),
    keyed: all.filter((a) => a.keyRule),
    allAggregations: all,
    ...fields,
    checkEvent: compileEventCheck(fields),
  };
}

import { compileFieldGetter, type FieldGetter } from './fields';
import type { Aggregation, MeasureOp } from './spec';

/**
 * The partial aggregate of one window: a flat array of numbers, laid out by a {@link MeasureLayout}. Flat arrays keep
 * per-record work to a few arithmetic operations with no allocation, and every measure merges associatively, so a
 * batch's partial aggregate merges into the stored one.
 */
export type AggregateState = number[];

/** A measure's value in a window result: `avg`, `min` and `max` are null when no value was seen. */
export type MeasureValue = number | null;

/** A measure's stored form: avg is kept as sum and count so that it merges; min and max are null while empty. */
export type StoredMeasure = number | null | { s: number; c: number };

interface CompiledMeasure {
  readonly name: string;
  readonly op: MeasureOp;
  readonly field?: string;
  readonly get?: FieldGetter;
  /** First slot of this measure in the state array. */
  readonly slot: number;
}

/** How an aggregation's measures map onto an {@link AggregateState}. */
export interface MeasureLayout {
  readonly measures: readonly CompiledMeasure[];
  readonly width: number;
  /** The fields an event must carry as finite numbers. */
  readonly numericFields: readonly { field: string; get: FieldGetter }[];
}

const SLOTS: Record<MeasureOp, number> = { count: 1, sum: 1, min: 1, max: 1, avg: 2 };

/** Compiles an aggregation's measures into a slot layout. */
export function compileMeasureLayout(agg: Aggregation): MeasureLayout {
  let slot = 0;
  const measures: CompiledMeasure[] = [];
  const numeric = new Map<string, FieldGetter>();
  for (const m of agg.measures) {
    if (m.op === 'count') {
      measures.push({ name: m.name, op: m.op, slot });
    } else {
      const get = numeric.get(m.field) ?? compileFieldGetter(m.field);
      numeric.set(m.field, get);
      measures.push({ name: m.name, op: m.op, field: m.field, get, slot });
    }
    slot += SLOTS[m.op];
  }
  return {
    measures,
    width: slot,
    numericFields: [...numeric].map(([field, get]) => ({ field, get })),
  };
}

/** The identity element: merging it changes nothing. */
export function emptyState(layout: MeasureLayout): AggregateState {
  const s = new Array<number>(layout.width).fill(0);
  for (const m of layout.measures) {
    if (m.op === 'min') s[m.slot] = Infinity;
    else if (m.op === 'max') s[m.slot] = -Infinity;
  }
  return s;
}

/** Folds one (already validated) event into `state`, in place. */
export function addEvent(layout: MeasureLayout, state: AggregateState, event: Record<string, unknown>): void {
  for (const m of layout.measures) {
    const i = m.slot;
    switch (m.op) {
      case 'count':
        state[i] += 1;
        break;
      case 'sum':
        state[i] += m.get!(event) as number;
        break;
      case 'min': {
        const v = m.get!(event) as number;
        if (v < state[i]) state[i] = v;
        break;
      }
      case 'max': {
        const v = m.get!(event) as number;
        if (v > state[i]) state[i] = v;
        break;
      }
      case 'avg':
        state[i] += m.get!(event) as number;
        state[i + 1] += 1;
        break;
    }
  }
}

/** Merges `from` into `into`, in place. Associative and commutative up to floating-point rounding of sums. */
export function mergeInto(layout: MeasureLayout, into: AggregateState, from: AggregateState): void {
  for (const m of layout.measures) {
    const i = m.slot;
    switch (m.op) {
      case 'min':
        if (from[i] < into[i]) into[i] = from[i];
        break;
      case 'max':
        if (from[i] > into[i]) into[i] = from[i];
        break;
      case 'avg':
        into[i] += from[i];
        into[i + 1] += from[i + 1];
        break;
      default:
        into[i] += from[i];
    }
  }
}

/** The measures of a window result: avg computed from its sum and count. */
export function toMeasureValues(layout: MeasureLayout, state: AggregateState): Record<string, MeasureValue> {
  const out: Record<string, MeasureValue> = {};
  for (const m of layout.measures) {
    const v = state[m.slot];
    if (m.op === 'avg') out[m.name] = state[m.slot + 1] === 0 ? null : v / state[m.slot + 1];
    else if (m.op === 'min' || m.op === 'max') out[m.name] = Number.isFinite(v) ? v : null;
    else out[m.name] = v;
  }
  return out;
}

/** The stored (DynamoDB-safe: no infinities) form of a state. */
export function toStoredMeasures(layout: MeasureLayout, state: AggregateState): Record<string, StoredMeasure> {
  const out: Record<string, StoredMeasure> = {};
  for (const m of layout.measures) {
    const v = state[m.slot];
    if (m.op === 'avg') out[m.name] = { s: v, c: state[m.slot + 1] };
    else if (m.op === 'min' || m.op === 'max') out[m.name] = Number.isFinite(v) ? v : null;
    else out[m.name] = v;
  }
  return out;
}

/**
 * Rebuilds a state from its stored form. A measure missing from the stored map (one added to the spec after the window
 * opened) starts empty rather than failing the batch.
 */
export function fromStoredMeasures(layout: MeasureLayout, stored: Record<string, unknown> | undefined): AggregateState {
  const state = emptyState(layout);
  if (!stored) return state;
  for (const m of layout.measures) {
    const v = stored[m.name];
    if (v === undefined || v === null) continue;
    if (m.op === 'avg') {
      const { s, c } = v as { s: number; c: number };
      state[m.slot] = Number(s);
      state[m.slot + 1] = Number(c);
    } else {
      state[m.slot] = Number(v);
    }
  }
  return state;
}

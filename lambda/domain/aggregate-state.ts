import { compileFieldGetter, type FieldGetter } from './fields';
import { HyperLogLog } from './hyperloglog';
import { QuantileSketch } from './quantile-sketch';
import type { Aggregation, MeasureOp } from './spec';
import { compileFold, type MeasureFold } from './measure-fold';
import { defaultTopKCapacity, TopKSketch, type TopKItem } from './top-k';

/** A mergeable sketch held in one slot of a state. */
export type Sketch = HyperLogLog | QuantileSketch | TopKSketch;

/**
 * The partial aggregate of one window: a flat array laid out by a {@link MeasureLayout}. Numeric measures take number
 * slots, so per-record work is a few arithmetic operations with no allocation; `distinct` and `percentile` take one
 * slot holding their sketch, and so does `topK`. Every measure merges associatively, so a batch's partial aggregate merges into the
 * stored one.
 */
export type AggregateState = (number | Sketch)[];

/**
 * A measure's value in a window result: `avg`, `min`, `max` and `percentile` are null when no value was seen.
 * `topK` measures are not numbers: they are reported apart (see {@link toTopKValues}).
 */
export type MeasureValue = number | null;

/**
 * A measure's stored form: avg as sum and count so that it merges; min and max null while empty; distinct as an
 * encoded HyperLogLog (`{hll}`), percentile as a base64 DDSketch (`{dd}`), topK as a JSON Misra-Gries summary (`{tk}`).
 */
export type StoredMeasure = StoredNumber | null | { s: StoredNumber; c: number } | { hll: string } | { dd: string } | { tk: string };

/**
 * A number as stored in a window item: a DynamoDB number when the document client and DynamoDB both take it as is
 * (0, or a magnitude from 1E-130 to 2^53), otherwise its shortest round-trip decimal text (`String(v)`), which
 * `Number()` reads back exactly. Doubles carry at most 17 significant digits, within DynamoDB's 38, but the document
 * client refuses numbers beyond ±2^53 and DynamoDB magnitudes below 1E-130; the text form keeps every finite double
 * storable and exact.
 * @see https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html#HowItWorks.DataTypes.Number
 */
export type StoredNumber = number | string;

/** Smallest non-zero magnitude of a DynamoDB number. */
const DYNAMODB_MIN_MAGNITUDE = 1e-130;

/** The stored form of a finite number (see {@link StoredNumber}); -0 is stored as 0. */
export function toStoredNumber(v: number): StoredNumber {
  if (v === 0) return 0;
  const a = v < 0 ? -v : v;
  return a >= DYNAMODB_MIN_MAGNITUDE && a <= Number.MAX_SAFE_INTEGER ? v : String(v);
}

/** A measure compiled into a layout: where its slots are and what its type does with them. */
export interface CompiledMeasure {
  readonly name: string;
  readonly op: MeasureOp;
  readonly field?: string;
  readonly get?: FieldGetter;
  /** First slot of this measure in the state array. */
  readonly slot: number;
  /** A new empty sketch, for sketch measures. */
  readonly newSketch?: () => Sketch;
  /** The quantile a percentile measure reports. */
  readonly quantile?: number;
  readonly relativeAccuracy?: number;
  /** How many values a topK measure reports. */
  readonly k?: number;
  /** What its op does with its slots (see {@link MEASURE_TYPES}). */
  readonly type: MeasureType;
}

/** How an aggregation's measures map onto an {@link AggregateState}. */
export interface MeasureLayout {
  readonly measures: readonly CompiledMeasure[];
  readonly width: number;
  /** The fields an event must carry as finite numbers. */
  readonly numericFields: readonly { field: string; get: FieldGetter }[];
  /** The fields an event must carry as a string, number or boolean (the values `distinct` counts). */
  readonly scalarFields: readonly { field: string; get: FieldGetter }[];
  /** The fields `topK` measures count: each value a string, number or boolean of bounded size. */
  readonly topKFields: readonly { field: string; get: FieldGetter }[];
  /** Whether any measure keeps a sketch (such states are deep-copied, not sliced). */
  readonly hasSketches: boolean;
  /** Folds one validated event into a state of this layout (see {@link addEvent}). */
  readonly fold: MeasureFold;
  /** The numeric measures of a state of this layout (see {@link toMeasureValues}). */
  readonly values: MeasureValues;
}

/** The numeric measures of a state, by measure name. */
export type MeasureValues = (state: AggregateState) => Record<string, MeasureValue>;

type Slots = number[];

/**
 * What one measure type does with its slots: one entry per type, so that adding a measure type is one entry here,
 * its fold in measure-fold.ts (a case of the loop and of the generated code) and its spec schema. `i` is the
 * measure's first slot.
 */
interface MeasureType {
  /** Slots the type takes in a state. */
  readonly slots: number;
  /** The first slot's empty value: the identity of `merge` (the other slots start at 0). */
  init(m: CompiledMeasure): number | Sketch;
  /** Merges `from` into `into`. */
  merge(i: number, into: AggregateState, from: AggregateState): void;
  /** The value a window result reports. */
  readonly result: (m: CompiledMeasure, state: AggregateState) => MeasureValue;
  /** The stored (DynamoDB-safe) form. */
  store(i: number, state: AggregateState): StoredMeasure;
  /** Reads the stored form (neither undefined nor null) back into `state`. */
  load(m: CompiledMeasure, stored: unknown, state: AggregateState): void;
}

const storeNumber = (i: number, state: AggregateState): StoredMeasure => toStoredNumber(state[i] as number);
const loadNumber = (m: CompiledMeasure, stored: unknown, state: AggregateState): void => {
  state[m.slot] = Number(stored);
};
const finiteOrNull = (v: number | Sketch): MeasureValue => (Number.isFinite(v) ? (v as number) : null);

/** `count` and `sum`: one number that merges by addition (they differ only in what {@link addEvent} adds). */
const ADDITIVE: MeasureType = {
  slots: 1,
  init: () => 0,
  merge: (i, into, from) => {
    (into as Slots)[i] += (from as Slots)[i];
  },
  result: (m, s) => s[m.slot] as number,
  store: storeNumber,
  load: loadNumber,
};

/** The measure types, by op. */
const MEASURE_TYPES: Record<MeasureOp, MeasureType> = {
  count: ADDITIVE,
  sum: ADDITIVE,
  min: {
    slots: 1,
    init: () => Infinity,
    merge: (i, a, b) => {
      if ((b as Slots)[i] < (a as Slots)[i]) a[i] = b[i];
    },
    result: (m, s) => finiteOrNull(s[m.slot]),
    store: (i, s) => (Number.isFinite(s[i]) ? toStoredNumber(s[i] as number) : null),
    load: loadNumber,
  },
  max: {
    slots: 1,
    init: () => -Infinity,
    merge: (i, a, b) => {
      if ((b as Slots)[i] > (a as Slots)[i]) a[i] = b[i];
    },
    result: (m, s) => finiteOrNull(s[m.slot]),
    store: (i, s) => (Number.isFinite(s[i]) ? toStoredNumber(s[i] as number) : null),
    load: loadNumber,
  },
  // Kept as sum and count, so that it merges.
  avg: {
    slots: 2,
    init: () => 0,
    merge: (i, a, b) => {
      (a as Slots)[i] += (b as Slots)[i];
      (a as Slots)[i + 1] += (b as Slots)[i + 1];
    },
    result: (m, s) => (s[m.slot + 1] === 0 ? null : (s[m.slot] as number) / (s[m.slot + 1] as number)),
    store: (i, s) => ({ s: toStoredNumber(s[i] as number), c: s[i + 1] as number }),
    load: (m, stored, s) => {
      const { s: sum, c } = stored as { s: StoredNumber; c: number };
      s[m.slot] = Number(sum);
      s[m.slot + 1] = Number(c);
    },
  },
  distinct: {
    slots: 1,
    init: (m) => m.newSketch!(),
    merge: (i, a, b) => (a[i] as HyperLogLog).merge(b[i] as HyperLogLog),
    result: (m, s) => Math.round((s[m.slot] as HyperLogLog).estimate()),
    store: (i, s) => ({ hll: (s[i] as HyperLogLog).encode() }),
    load: (m, stored, s) => {
      s[m.slot] = HyperLogLog.decode((stored as { hll: string }).hll);
    },
  },
  percentile: {
    slots: 1,
    init: (m) => m.newSketch!(),
    merge: (i, a, b) => (a[i] as QuantileSketch).merge(b[i] as QuantileSketch),
    result: (m, s) => (s[m.slot] as QuantileSketch).quantile(m.quantile!),
    store: (i, s) => ({ dd: (s[i] as QuantileSketch).encode() }),
    load: (m, stored, s) => {
      s[m.slot] = QuantileSketch.decode((stored as { dd: string }).dd, m.relativeAccuracy!);
    },
  },
  topK: {
    slots: 1,
    init: (m) => m.newSketch!(),
    merge: (i, a, b) => (a[i] as TopKSketch).merge(b[i] as TopKSketch),
    // Reported by toTopKValues, not among the numbers.
    result: () => null,
    store: (i, s) => ({ tk: (s[i] as TopKSketch).encode() }),
    load: (m, stored, s) => {
      s[m.slot] = TopKSketch.decode((stored as { tk: string }).tk);
    },
  },
};

/** Compiles an aggregation's measures into a slot layout. */
export function compileMeasureLayout(agg: Aggregation): MeasureLayout {
  let slot = 0;
  const measures: Omit<CompiledMeasure, 'type'>[] = [];
  const numeric = new Map<string, FieldGetter>();
  const scalar = new Map<string, FieldGetter>();
  const topK = new Map<string, FieldGetter>();
  const getter = (field: string) => numeric.get(field) ?? scalar.get(field) ?? topK.get(field) ?? compileFieldGetter(field);
  for (const m of agg.measures) {
    if (m.op === 'count') {
      measures.push({ name: m.name, op: m.op, slot });
    } else if (m.op === 'distinct') {
      const get = getter(m.field);
      scalar.set(m.field, get);
      const precision = m.precision;
      measures.push({ name: m.name, op: m.op, field: m.field, get, slot, newSketch: () => new HyperLogLog(precision) });
    } else if (m.op === 'percentile') {
      const get = getter(m.field);
      numeric.set(m.field, get);
      const accuracy = m.relativeAccuracy;
      measures.push({
        name: m.name,
        op: m.op,
        field: m.field,
        get,
        slot,
        quantile: m.quantile,
        relativeAccuracy: accuracy,
        newSketch: () => new QuantileSketch(accuracy),
      });
    } else if (m.op === 'topK') {
      const get = getter(m.field);
      topK.set(m.field, get);
      const capacity = m.capacity ?? defaultTopKCapacity(m.k);
      measures.push({ name: m.name, op: m.op, field: m.field, get, slot, k: m.k, newSketch: () => new TopKSketch(capacity) });
    } else {
      const get = getter(m.field);
      numeric.set(m.field, get);
      measures.push({ name: m.name, op: m.op, field: m.field, get, slot });
    }
    slot += MEASURE_TYPES[m.op].slots;
  }
  for (const f of numeric.keys()) scalar.delete(f);
  // Every measure the same shape, its type resolved here: the per-window loops over measures (empty states, merges,
  // results) then read monomorphic properties, where `MEASURE_TYPES[m.op]` was a keyed load by a varying name
  // (V8's megamorphic stub-cache lookup, several per window).
  // Every field named, so that a field added to CompiledMeasure fails to compile here instead of being dropped.
  const compiled = measures.map((m): { [K in keyof Required<CompiledMeasure>]: CompiledMeasure[K] } => ({
      name: m.name,
      op: m.op,
      field: m.field,
      get: m.get,
      slot: m.slot,
      newSketch: m.newSketch,
      quantile: m.quantile,
      relativeAccuracy: m.relativeAccuracy,
      k: m.k,
      type: MEASURE_TYPES[m.op],
    }));
  return {
    fold: compileFold(measures),
    values: compileValues(compiled),
    measures: compiled,
    width: slot,
    numericFields: [...numeric].map(([field, get]) => ({ field, get })),
    scalarFields: [...scalar].map(([field, get]) => ({ field, get })),
    topKFields: [...topK].map(([field, get]) => ({ field, get })),
    hasSketches: measures.some((m) => m.newSketch),
  };
}

/** The identity element: merging it changes nothing. */
export function emptyState(layout: MeasureLayout): AggregateState {
  const s = new Array<number | Sketch>(layout.width).fill(0);
  for (const m of layout.measures) s[m.slot] = m.type.init(m);
  return s;
}

/** A copy that shares no mutable sketch with `state`. */
export function cloneState(layout: MeasureLayout, state: AggregateState): AggregateState {
  const copy = state.slice();
  if (layout.hasSketches) for (const m of layout.measures) if (m.newSketch) copy[m.slot] = (state[m.slot] as Sketch).clone();
  return copy;
}

/**
 * Folds one (already validated) event into `state`, in place: the layout's generated fold (measure-fold.ts), the one
 * measure operation not in MEASURE_TYPES, since it runs per record and measure.
 */
export function addEvent(layout: MeasureLayout, state: AggregateState, event: Record<string, unknown>): void {
  layout.fold(state, event);
}

/** Merges `from` into `into`, in place. Associative and commutative up to floating-point rounding of sums. */
export function mergeInto(layout: MeasureLayout, into: AggregateState, from: AggregateState): void {
  for (const m of layout.measures) m.type.merge(m.slot, into, from);
}

/** The numeric measures of a window result: avg from its sum and count, sketches as their estimates. */
export function toMeasureValues(layout: MeasureLayout, state: AggregateState): Record<string, MeasureValue> {
  return layout.values(state);
}

/** The numeric measures of a state, one property per measure but topK, in measure order: the plain definition. */
export function valuesByLoop(measures: readonly CompiledMeasure[]): MeasureValues {
  return (state) => {
    const out: Record<string, MeasureValue> = {};
    for (const m of measures) if (m.op !== 'topK') out[m.name] = m.type.result(m, state);
    return out;
  };
}

/**
 * {@link valuesByLoop} as one object literal, generated once per layout: the same properties in the same order, each
 * from its measure type's `result`. Why: adding the properties one by one by name (about 900 results a batch) went
 * through V8's megamorphic keyed store and a search of the object's shape transitions per property; a literal has
 * its shape from the start. The loop is used where a name cannot be a literal's key (`__proto__` would set the
 * prototype) or the runtime refuses code generation.
 */
function compileValues(measures: readonly CompiledMeasure[]): MeasureValues {
  const shown = measures.filter((m) => m.op !== 'topK');
  if (shown.some((m) => m.name === '__proto__')) return valuesByLoop(measures);
  const props = shown.map((m, k) => `${JSON.stringify(m.name)}: r[${k}](m[${k}], s)`);
  try {
    // eslint-disable-next-line @typescript-eslint/no-implied-eval -- the code is built from quoted measure names
    const make = new Function('r', 'm', `return function values(s) {\nreturn { ${props.join(', ')} };\n};`) as (
      r: readonly MeasureType['result'][],
      m: readonly CompiledMeasure[],
    ) => MeasureValues;
    return make(
      shown.map((m) => m.type.result),
      shown,
    );
  } catch {
    return valuesByLoop(measures);
  }
}

/** The topK measures of a window result, each its k most frequent values, or undefined when it has none. */
export function toTopKValues(layout: MeasureLayout, state: AggregateState): Record<string, TopKItem[]> | undefined {
  let out: Record<string, TopKItem[]> | undefined;
  for (const m of layout.measures) if (m.op === 'topK') (out ??= {})[m.name] = (state[m.slot] as TopKSketch).top(m.k!);
  return out;
}

/** The stored (DynamoDB-safe: no infinities, sketches encoded) form of a state. */
export function toStoredMeasures(layout: MeasureLayout, state: AggregateState): Record<string, StoredMeasure> {
  const out: Record<string, StoredMeasure> = {};
  for (const m of layout.measures) out[m.name] = m.type.store(m.slot, state);
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
    if (v !== undefined && v !== null) m.type.load(m, v, state);
  }
  return state;
}

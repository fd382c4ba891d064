import { compileFieldGetter, type FieldGetter } from './fields';
import { HyperLogLog } from './hyperloglog';
import { QuantileSketch } from './quantile-sketch';
import type { Aggregation, MeasureOp } from './spec';

/** A mergeable sketch held in one slot of a state. */
export type Sketch = HyperLogLog | QuantileSketch;

/**
 * The partial aggregate of one window: a flat array laid out by a {@link MeasureLayout}. Numeric measures take number
 * slots, so per-record work is a few arithmetic operations with no allocation; `distinct` and `percentile` take one
 * slot holding their sketch. Every measure merges associatively, so a batch's partial aggregate merges into the
 * stored one.
 */
export type AggregateState = (number | Sketch)[];

/** A measure's value in a window result: `avg`, `min`, `max` and `percentile` are null when no value was seen. */
export type MeasureValue = number | null;

/**
 * A measure's stored form: avg as sum and count so that it merges; min and max null while empty; distinct as an
 * encoded HyperLogLog (`{hll}`), percentile as a base64 DDSketch (`{dd}`).
 */
export type StoredMeasure = StoredNumber | null | { s: StoredNumber; c: number } | { hll: string } | { dd: string };

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

interface CompiledMeasure {
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
}

/** How an aggregation's measures map onto an {@link AggregateState}. */
export interface MeasureLayout {
  readonly measures: readonly CompiledMeasure[];
  readonly width: number;
  /** The fields an event must carry as finite numbers. */
  readonly numericFields: readonly { field: string; get: FieldGetter }[];
  /** The fields an event must carry as a string, number or boolean (the values `distinct` counts). */
  readonly scalarFields: readonly { field: string; get: FieldGetter }[];
  /** Whether any measure keeps a sketch (such states are deep-copied, not sliced). */
  readonly hasSketches: boolean;
}

const SLOTS: Record<MeasureOp, number> = { count: 1, sum: 1, min: 1, max: 1, avg: 2, distinct: 1, percentile: 1 };

/** Compiles an aggregation's measures into a slot layout. */
export function compileMeasureLayout(agg: Aggregation): MeasureLayout {
  let slot = 0;
  const measures: CompiledMeasure[] = [];
  const numeric = new Map<string, FieldGetter>();
  const scalar = new Map<string, FieldGetter>();
  const getter = (field: string) => numeric.get(field) ?? scalar.get(field) ?? compileFieldGetter(field);
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
    } else {
      const get = getter(m.field);
      numeric.set(m.field, get);
      measures.push({ name: m.name, op: m.op, field: m.field, get, slot });
    }
    slot += SLOTS[m.op];
  }
  for (const f of numeric.keys()) scalar.delete(f);
  return {
    measures,
    width: slot,
    numericFields: [...numeric].map(([field, get]) => ({ field, get })),
    scalarFields: [...scalar].map(([field, get]) => ({ field, get })),
    hasSketches: measures.some((m) => m.newSketch),
  };
}

/** The identity element: merging it changes nothing. */
export function emptyState(layout: MeasureLayout): AggregateState {
  const s = new Array<number | Sketch>(layout.width).fill(0);
  for (const m of layout.measures) {
    if (m.op === 'min') s[m.slot] = Infinity;
    else if (m.op === 'max') s[m.slot] = -Infinity;
    else if (m.newSketch) s[m.slot] = m.newSketch();
  }
  return s;
}

/** A copy that shares no mutable sketch with `state`. */
export function cloneState(layout: MeasureLayout, state: AggregateState): AggregateState {
  const copy = state.slice();
  if (layout.hasSketches) for (const m of layout.measures) if (m.newSketch) copy[m.slot] = (state[m.slot] as Sketch).clone();
  return copy;
}

/** Folds one (already validated) event into `state`, in place. */
export function addEvent(layout: MeasureLayout, state: AggregateState, event: Record<string, unknown>): void {
  const n = state as number[];
  for (const m of layout.measures) {
    const i = m.slot;
    switch (m.op) {
      case 'count':
        n[i] += 1;
        break;
      case 'sum':
        n[i] += m.get!(event) as number;
        break;
      case 'min': {
        const v = m.get!(event) as number;
        if (v < n[i]) n[i] = v;
        break;
      }
      case 'max': {
        const v = m.get!(event) as number;
        if (v > n[i]) n[i] = v;
        break;
      }
      case 'avg':
        n[i] += m.get!(event) as number;
        n[i + 1] += 1;
        break;
      case 'distinct':
        (state[i] as HyperLogLog).add(m.get!(event));
        break;
      case 'percentile':
        (state[i] as QuantileSketch).add(m.get!(event) as number);
        break;
    }
  }
}

/** Merges `from` into `into`, in place. Associative and commutative up to floating-point rounding of sums. */
export function mergeInto(layout: MeasureLayout, into: AggregateState, from: AggregateState): void {
  const a = into as number[];
  const b = from as number[];
  for (const m of layout.measures) {
    const i = m.slot;
    switch (m.op) {
      case 'min':
        if (b[i] < a[i]) a[i] = b[i];
        break;
      case 'max':
        if (b[i] > a[i]) a[i] = b[i];
        break;
      case 'avg':
        a[i] += b[i];
        a[i + 1] += b[i + 1];
        break;
      case 'distinct':
        (into[i] as HyperLogLog).merge(from[i] as HyperLogLog);
        break;
      case 'percentile':
        (into[i] as QuantileSketch).merge(from[i] as QuantileSketch);
        break;
      default:
        a[i] += b[i];
    }
  }
}

/** The measures of a window result: avg from its sum and count, sketches as their estimates. */
export function toMeasureValues(layout: MeasureLayout, state: AggregateState): Record<string, MeasureValue> {
  const out: Record<string, MeasureValue> = {};
  for (const m of layout.measures) {
    const v = state[m.slot];
    if (m.op === 'avg') out[m.name] = state[m.slot + 1] === 0 ? null : (v as number) / (state[m.slot + 1] as number);
    else if (m.op === 'min' || m.op === 'max') out[m.name] = Number.isFinite(v) ? (v as number) : null;
    else if (m.op === 'distinct') out[m.name] = Math.round((v as HyperLogLog).estimate());
    else if (m.op === 'percentile') out[m.name] = (v as QuantileSketch).quantile(m.quantile!);
    else out[m.name] = v as number;
  }
  return out;
}

/** The stored (DynamoDB-safe: no infinities, sketches encoded) form of a state. */
export function toStoredMeasures(layout: MeasureLayout, state: AggregateState): Record<string, StoredMeasure> {
  const out: Record<string, StoredMeasure> = {};
  for (const m of layout.measures) {
    const v = state[m.slot];
    if (m.op === 'avg') out[m.name] = { s: toStoredNumber(v as number), c: state[m.slot + 1] as number };
    else if (m.op === 'min' || m.op === 'max') out[m.name] = Number.isFinite(v) ? toStoredNumber(v as number) : null;
    else if (m.op === 'distinct') out[m.name] = { hll: (v as HyperLogLog).encode() };
    else if (m.op === 'percentile') out[m.name] = { dd: (v as QuantileSketch).encode() };
    else out[m.name] = toStoredNumber(v as number);
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
      const { s, c } = v as { s: StoredNumber; c: number };
      state[m.slot] = Number(s);
      state[m.slot + 1] = Number(c);
    } else if (m.op === 'distinct') {
      state[m.slot] = HyperLogLog.decode((v as { hll: string }).hll);
    } else if (m.op === 'percentile') {
      state[m.slot] = QuantileSketch.decode((v as { dd: string }).dd, m.relativeAccuracy!);
    } else {
      state[m.slot] = Number(v);
    }
  }
  return state;
}

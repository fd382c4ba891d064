/**
 * Folding one event into a state: the one measure operation that runs per record and measure. An aggregation's fold is
 * generated once per compiled layout (see {@link compileFold}); {@link foldByLoop} is the plain definition it must
 * match, and what runs where the runtime refuses code generation.
 */
import type { AggregateState } from './aggregate-state';
import { fieldReadCode, type FieldGetter } from './fields';
import type { HyperLogLog } from './hyperloglog';
import type { QuantileSketch } from './quantile-sketch';
import type { MeasureOp } from './spec';
import type { TopKSketch, TopKValue } from './top-k';

/** What a fold needs of a compiled measure. */
export interface FoldedMeasure {
  readonly op: MeasureOp;
  /** First slot of the measure in the state array. */
  readonly slot: number;
  /** The field path the measure reads (every op but `count`). */
  readonly field?: string;
  readonly get?: FieldGetter;
}

/** Folds one (already validated) event into `state`, in place. */
export type MeasureFold = (state: AggregateState, event: Record<string, unknown>) => void;

/**
 * The plain fold: a loop over the measures, a switch per measure. Why the switch and not a call per measure type: V8
 * inlines its cases, and dispatching through a table made P1 about 7 % slower.
 */
export function foldByLoop(measures: readonly FoldedMeasure[]): MeasureFold {
  return (state, event) => {
    const n = state as number[];
    for (const m of measures) {
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
        case 'topK':
          (state[i] as TopKSketch).add(m.get!(event) as TopKValue);
          break;
      }
    }
  };
}

/**
 * The statements of one measure in a generated fold, doing exactly what {@link foldByLoop}'s case does: the same reads
 * (one per measure, as there), the same arithmetic in the same order, so that states are bit for bit the same.
 */
function statements(m: FoldedMeasure, k: number): string {
  const i = m.slot;
  const read = m.field === undefined ? '' : fieldReadCode(m.field, 'e', `g[${k}]`);
  switch (m.op) {
    case 'count':
      return `s[${i}] += 1;`;
    case 'sum':
      return `s[${i}] += ${read};`;
    case 'min':
      return `v = ${read}; if (v < s[${i}]) s[${i}] = v;`;
    case 'max':
      return `v = ${read}; if (v > s[${i}]) s[${i}] = v;`;
    case 'avg':
      return `s[${i}] += ${read}; s[${i + 1}] += 1;`;
    case 'distinct':
    case 'percentile':
    case 'topK':
      return `s[${i}].add(${read});`;
  }
}

/**
 * The fold of one layout as straight-line code, generated once per compiled layout. Why: the loop's per-measure
 * switch, its property reads of each measure and its calls through a different getter per measure (a polymorphic
 * call V8 does not inline) ran for every event and measure; generated code reads each field with its own monomorphic
 * load and has no dispatch left. Where the runtime refuses code generation from strings, the loop is used.
 */
export function compileFold(measures: readonly FoldedMeasure[]): MeasureFold {
  const body = measures.map(statements).join('\n');
  try {
    // eslint-disable-next-line @typescript-eslint/no-implied-eval -- the code is built from ops and quoted field names
    const make = new Function('g', `return function fold(s, e) {\nvar v;\n${body}\n};`) as (g: readonly (FieldGetter | undefined)[]) => MeasureFold;
    return make(measures.map((m) => m.get));
  } catch {
    return foldByLoop(measures);
  }
}

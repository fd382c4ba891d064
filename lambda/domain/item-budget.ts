/**
 * Sizes that keep a window item within DynamoDB's item limit, checked twice: at synth time against each aggregation's
 * worst case (sketches at their largest), and before every window write against the item actually written.
 */
import { MAX_QUANTILE_SKETCH_BYTES } from './quantile-sketch';
import type { Aggregation } from './spec';
import { defaultTopKCapacity, maxTopKStoredBytes } from './top-k';

/**
 * DynamoDB's item size limit, attribute names and values together.
 * @see https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html#limits-items
 */
export const DYNAMODB_MAX_ITEM_BYTES = 400 * 1024;
/**
 * What a window item may weigh when written, as estimated by {@link itemBytes}: the limit minus 8 KB, a margin for
 * the estimate. A window whose next version would weigh more is not written; its records go to the errors sink.
 */
export const WINDOW_ITEM_BUDGET_BYTES = DYNAMODB_MAX_ITEM_BYTES - 8 * 1024;
/**
 * What an aggregation's measures may weigh at their largest (every sketch full), checked at synth time. The rest of
 * the item budget (about 92 KB) is left to the key (at most 2 KB, twice), the bookkeeping attributes and the per-lane
 * fences, about 100 bytes per shard that ever wrote the window.
 */
export const MEASURES_BUDGET_BYTES = 300 * 1024;
/** Measure-name and framing allowance per measure in the worst-case estimate. */
const PER_MEASURE_OVERHEAD_BYTES = 100;

/** The worst-case stored size of one measure, in bytes. */
export function worstCaseMeasureBytes(m: Aggregation['measures'][number]): number {
  if (m.op === 'distinct') return Math.ceil((4 / 3) * 2 ** m.precision) + PER_MEASURE_OVERHEAD_BYTES;
  if (m.op === 'percentile') return MAX_QUANTILE_SKETCH_BYTES + PER_MEASURE_OVERHEAD_BYTES;
  if (m.op === 'topK') return maxTopKStoredBytes(m.capacity ?? defaultTopKCapacity(m.k)) + PER_MEASURE_OVERHEAD_BYTES;
  return PER_MEASURE_OVERHEAD_BYTES;
}

/** The worst-case stored size of an aggregation's measures, in bytes. */
export function worstCaseMeasuresBytes(a: Pick<Aggregation, 'measures'>): number {
  return a.measures.reduce((n, m) => n + worstCaseMeasureBytes(m), 0);
}

/**
 * An item's size by DynamoDB's rules, rounded up: attribute names and string values by their UTF-8 length, numbers
 * at most 21 bytes, booleans and nulls 1, maps and lists 3 plus 1 per element plus their contents.
 * @see https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html
 */
export function itemBytes(item: Record<string, unknown>): number {
  let n = 0;
  for (const k in item) n += Buffer.byteLength(k, 'utf8') + valueBytes(item[k]);
  return n;
}

function valueBytes(v: unknown): number {
  if (v === null || v === undefined || typeof v === 'boolean') return 1;
  if (typeof v === 'string') return Buffer.byteLength(v, 'utf8');
  if (typeof v === 'number' || typeof v === 'bigint') return 21;
  if (Array.isArray(v)) return v.reduce((n: number, e) => n + 1 + valueBytes(e), 3);
  if (v instanceof Uint8Array) return v.byteLength;
  if (typeof v === 'object') {
    let n = 3;
    for (const k in v as Record<string, unknown>) n += 1 + Buffer.byteLength(k, 'utf8') + valueBytes((v as Record<string, unknown>)[k]);
    return n;
  }
  return 21;
}

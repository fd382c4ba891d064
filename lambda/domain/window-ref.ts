/**
 * Window identity: which window of which key of which aggregation. Ports, adapters and the folding code all name
 * windows this way, so it lives apart from the folding code (pre-aggregate.ts).
 */
import type { CompiledAggregation, KeyValue } from './compiled-spec';

/** The identity of one window of one key of one aggregation: the unit of state and of every DynamoDB write. */
export interface WindowRef {
  readonly aggregation: CompiledAggregation;
  /** Canonical JSON of the group-by values, in `groupBy` order: the key's identity. */
  readonly keyJson: string;
  readonly start: number;
  readonly end: number;
  /** Its {@link windowId}, when the ref carries it (a batch's slices do), so that it is not built again per use. */
  readonly id?: string;
}

/** A stable map key for a window: aggregation, key and start. */
export function windowId(aggregation: string, keyJson: string, start: number): string {
  return `${aggregation}\u0000${keyJson}\u0000${start}`;
}

/** The {@link windowId} of a ref: the one it carries, else built. */
export function refId(ref: WindowRef): string {
  return ref.id ?? windowId(ref.aggregation.name, ref.keyJson, ref.start);
}

/** A stable map key for one lane's partial of a window (per-shard state). */
export function partialId(aggregation: string, keyJson: string, start: number, lane: string): string {
  return `${windowId(aggregation, keyJson, start)}\u0000${lane}`;
}

/** The canonical key JSON of an event for an aggregation. */
export function keyJsonOf(agg: CompiledAggregation, event: Record<string, unknown>): string {
  if (agg.groupBy.length === 1) return `[${JSON.stringify(agg.groupBy[0].get(event))}]`;
  return JSON.stringify(agg.groupBy.map((g) => g.get(event)));
}

/**
 * A map key that stands for an event's key JSON without building it: a single group-by value is its own key (Map keys
 * compare by SameValueZero, which holds exactly when the canonical JSON is equal: 1 and "1" stay apart, 0 and -0 both
 * serialise as 0, and group-by values are validated scalars); several values go through their JSON. Per event, the
 * JSON string and its hash were most of the cost of finding a key's slot.
 */
export function keyMapKeyOf(agg: CompiledAggregation, event: Record<string, unknown>): unknown {
  return agg.groupBy.length === 1 ? agg.groupBy[0].get(event) : keyJsonOf(agg, event);
}

/** The key as a record of field → value, the form window results carry. */
export function keyRecord(agg: CompiledAggregation, keyJson: string): Record<string, KeyValue> {
  const values = JSON.parse(keyJson) as KeyValue[];
  const out: Record<string, KeyValue> = {};
  agg.groupBy.forEach((g, i) => (out[g.field] = values[i]));
  return out;
}

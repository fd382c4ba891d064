import { addEvent, emptyState, type AggregateState } from './aggregate-state';
import type { CompiledAggregation, CompiledSpec, KeyValue } from './compiled-spec';
import type { Position } from './sequence';
import type { ValidEvent } from './event-parser';

/** One valid event of a batch, with its position in its shard. */
export interface PositionedEvent extends ValidEvent {
  readonly position: Position;
}

/** The identity of one window of one key of one aggregation: the unit of state and of every DynamoDB write. */
export interface WindowRef {
  readonly aggregation: CompiledAggregation;
  /** Canonical JSON of the group-by values, in `groupBy` order: the key's identity. */
  readonly keyJson: string;
  readonly start: number;
  readonly end: number;
}

/** A batch's contribution to one window. */
export interface WindowSlice extends WindowRef {
  readonly id: string;
  /** The batch's partial aggregate over all its members. */
  readonly state: AggregateState;
  /** Indexes of the contributing events in the batch, kept to rebuild a partial aggregate on the retry path. */
  readonly members: number[];
  minPosition: Position;
  maxPosition: Position;
}

/** A stable map key for a window: aggregation, key and start. */
export function windowId(aggregation: string, keyJson: string, start: number): string {
  return `${aggregation}\u0000${keyJson}\u0000${start}`;
}

/** The canonical key JSON of an event for an aggregation. */
export function keyJsonOf(agg: CompiledAggregation, event: Record<string, unknown>): string {
  if (agg.groupBy.length === 1) return `[${JSON.stringify(agg.groupBy[0].get(event))}]`;
  return JSON.stringify(agg.groupBy.map((g) => g.get(event)));
}

/** The key as a record of field → value, the form window results carry. */
export function keyRecord(agg: CompiledAggregation, keyJson: string): Record<string, KeyValue> {
  const values = JSON.parse(keyJson) as KeyValue[];
  const out: Record<string, KeyValue> = {};
  agg.groupBy.forEach((g, i) => (out[g.field] = values[i]));
  return out;
}

/**
 * Pre-aggregates a batch in memory: one partial aggregate per (aggregation, key, window) touched, so that the batch
 * costs one write per window instead of one per record.
 */
export function preAggregate(spec: CompiledSpec, events: readonly PositionedEvent[]): Map<string, WindowSlice> {
  const slices = new Map<string, WindowSlice>();
  for (let idx = 0; idx < events.length; idx++) {
    const e = events[idx];
    for (const agg of spec.aggregations) {
      const keyJson = keyJsonOf(agg, e.event);
      const { hopMs, sizeMs, windowsPerEvent } = agg.assigner;
      const last = agg.assigner.lastStart(e.ts);
      for (let w = windowsPerEvent - 1; w >= 0; w--) {
        const start = last - w * hopMs;
        const id = windowId(agg.name, keyJson, start);
        let slice = slices.get(id);
        if (!slice) {
          slice = {
            id,
            aggregation: agg,
            keyJson,
            start,
            end: start + sizeMs,
            state: emptyState(agg.layout),
            members: [],
            minPosition: e.position,
            maxPosition: e.position,
          };
          slices.set(id, slice);
        } else {
          if (e.position < slice.minPosition) slice.minPosition = e.position;
          if (e.position > slice.maxPosition) slice.maxPosition = e.position;
        }
        addEvent(agg.layout, slice.state, e.event);
        slice.members.push(idx);
      }
    }
  }
  return slices;
}

import { addEvent, emptyState, type AggregateState } from './aggregate-state';
import type { CompiledAggregation, CompiledSpec } from './compiled-spec';
import type { Position } from './sequence';
import type { ValidEvent } from './event-parser';
import { keyJsonOf, windowId, type WindowRef } from './window-ref';

/** One valid event of a batch, with its position in its shard. */
export interface PositionedEvent extends ValidEvent {
  readonly position: Position;
}

/**
 * A batch's valid event by its index among the batch's valid events. The handler rebuilds events on demand (on the
 * redelivery path) instead of keeping every parsed event of a batch alive.
 */
export type EventAt = (index: number) => PositionedEvent;

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

/** The windows of one (aggregation, key) a batch touches, with the slices of the latest event time seen. */
interface KeyBucket {
  readonly keyJson: string;
  readonly byStart: Map<number, WindowSlice>;
  /** `lastStart` of the previous event of this key, and the slices it falls into (earliest first). */
  lastStart: number;
  current: WindowSlice[];
}

/**
 * Pre-aggregates a batch in memory: one partial aggregate per (aggregation, key, window) touched, so that the batch
 * costs one write per window instead of one per record.
 */
export function preAggregate(spec: CompiledSpec, events: readonly PositionedEvent[]): Map<string, WindowSlice> {
  const agg = new PreAggregator(spec);
  for (let idx = 0; idx < events.length; idx++) {
    const e = events[idx];
    agg.add(idx, e.event, e.ts, e.position);
  }
  return agg.slices;
}

/**
 * The incremental form of {@link preAggregate}: events are folded in one at a time, so that the caller can drop each
 * parsed event as soon as it is folded (a batch then keeps no parsed objects alive, which is most of what the garbage
 * collector would otherwise copy).
 *
 * This is the handler's hottest loop, so it avoids per-record string building: keys are looked up by their raw
 * group-by value (single-field group-bys, the common case) and windows by their numeric start, and consecutive events
 * of a key in the same window reuse the slices found for the previous one. The window id string is built once per
 * slice. The map's insertion order (the order slices are first touched) is the order of a one-at-a-time fold.
 */
export class PreAggregator {
  /** One slice per (aggregation, key, window) touched, by {@link windowId}, in the order first touched. */
  readonly slices = new Map<string, WindowSlice>();
  private readonly buckets: Map<unknown, KeyBucket>[];

  constructor(private readonly spec: CompiledSpec) {
    this.buckets = spec.aggregations.map(() => new Map<unknown, KeyBucket>());
  }

  /** Folds the valid event at batch index `idx` (indexes must be given in increasing order). */
  add(idx: number, event: Record<string, unknown>, ts: number, position: Position): void {
    const aggs = this.spec.aggregations;
    for (let a = 0; a < aggs.length; a++) {
      const agg = aggs[a];
      // A single group-by value is its own map key: Map keys compare by SameValueZero, exactly when the canonical
      // JSON is equal (1 and "1" stay apart; 0 and -0 both serialise as 0). Several values go through their JSON.
      const mapKey = agg.groupBy.length === 1 ? agg.groupBy[0].get(event) : keyJsonOf(agg, event);
      let bucket = this.buckets[a].get(mapKey);
      if (!bucket) {
        bucket = { keyJson: keyJsonOf(agg, event), byStart: new Map(), lastStart: NaN, current: [] };
        this.buckets[a].set(mapKey, bucket);
      }
      const last = agg.assigner.lastStart(ts);
      if (bucket.lastStart !== last) {
        bucket.lastStart = last;
        bucket.current = windowsOf(agg, bucket, last, position, this.slices);
      }
      const current = bucket.current;
      for (let w = 0; w < current.length; w++) {
        const slice = current[w];
        // Positions mostly grow within a batch, so the maximum is checked first; a new maximum cannot be a new minimum.
        if (position > slice.maxPosition) slice.maxPosition = position;
        else if (position < slice.minPosition) slice.minPosition = position;
        addEvent(agg.layout, slice.state, event);
        slice.members.push(idx);
      }
    }
  }
}

/** The slices of the windows ending at `last`'s window, earliest first, created (and registered) where new. */
function windowsOf(
  agg: CompiledAggregation,
  bucket: KeyBucket,
  last: number,
  position: Position,
  slices: Map<string, WindowSlice>,
): WindowSlice[] {
  const { hopMs, sizeMs, windowsPerEvent } = agg.assigner;
  const out = new Array<WindowSlice>(windowsPerEvent);
  for (let w = windowsPerEvent - 1; w >= 0; w--) {
    const start = last - w * hopMs;
    let slice = bucket.byStart.get(start);
    if (!slice) {
      const id = windowId(agg.name, bucket.keyJson, start);
      slice = {
        id,
        aggregation: agg,
        keyJson: bucket.keyJson,
        start,
        end: start + sizeMs,
        state: emptyState(agg.layout),
        members: [],
        minPosition: position,
        maxPosition: position,
      };
      bucket.byStart.set(start, slice);
      slices.set(id, slice);
    }
    out[windowsPerEvent - 1 - w] = slice;
  }
  return out;
}

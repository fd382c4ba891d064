import { addEvent, cloneState, emptyState, mergeInto, type AggregateState } from './aggregate-state';
import type { CompiledAggregation, CompiledSpec } from './compiled-spec';
import type { Position } from './sequence';
import type { ValidEvent } from './event-parser';
import { keyJsonOf, keyMapKeyOf, windowId, type WindowRef } from './window-ref';

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

/**
 * A hop-long part of a hopping window: each event of a key is folded into its pane once, and each window is the
 * merge of the panes it covers (size / hop of them). Why: an event falls into size / hop windows (five for a 5-minute
 * window hopping by 1 minute), and folding it into each of them cost five sketch updates per event; merging panes costs
 * per window, and a batch has far fewer windows than events.
 */
interface Pane {
  readonly state: AggregateState;
  readonly members: number[];
  minPosition: Position;
  maxPosition: Position;
}

/** A hopping window's slice while the batch is folded: its panes, merged into its state by {@link PreAggregator.finish}. */
interface PanedWindow {
  readonly slice: WindowSlice & { state: AggregateState; members: number[] };
  readonly panes: Pane[];
}

/** The windows of one (aggregation, key) a batch touches, with the pane (or tumbling window) of the latest event. */
interface KeyBucket {
  readonly keyJson: string;
  /** Tumbling windows by start, or hopping windows by start. */
  readonly byStart: Map<number, WindowSlice | PanedWindow>;
  /** Hopping aggregations: the panes by start. */
  readonly panes: Map<number, Pane>;
  /** `lastStart` of the previous event of this key, and the pane (the window itself, for tumbling) it falls into. */
  lastStart: number;
  current: Pane | undefined;
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
  return agg.finish();
}

/**
 * The incremental form of {@link preAggregate}: events are folded in one at a time, so that the caller can drop each
 * parsed event as soon as it is folded (a batch then keeps no parsed objects alive, which is most of what the garbage
 * collector would otherwise copy), and {@link finish} gives the slices.
 *
 * This is the handler's hottest loop, so it avoids per-record string building: keys are looked up by their raw
 * group-by value (single-field group-bys, the common case) and windows by their numeric start, and consecutive events
 * of a key in the same pane reuse the pane found for the previous one. Each event is folded once per aggregation: into
 * its tumbling window, or into its hopping window's pane (see {@link Pane}). The window id string is built once per
 * slice. The map's insertion order (the order windows are first touched) is the order of a one-at-a-time fold.
 */
export class PreAggregator {
  /** One slice per (aggregation, key, window) touched, by {@link windowId}, in the order first touched. */
  private readonly slices = new Map<string, WindowSlice>();
  private readonly paned: PanedWindow[] = [];
  private readonly buckets: Map<unknown, KeyBucket>[];

  constructor(private readonly spec: CompiledSpec) {
    this.buckets = spec.aggregations.map(() => new Map<unknown, KeyBucket>());
  }

  /**
   * Folds the valid event at batch index `idx` (indexes must be given in increasing order).
   * @param above true when the caller knows `position` is above every position added before: it is then the new
   *   maximum of its pane without a comparison. Why: positions are built per record by concatenation, and the first
   *   comparison of such a string flattens it (a copy through the runtime); a batch's positions almost always rise,
   *   which the caller can tell once per record from the sequence numbers it already holds.
   */
  add(idx: number, event: Record<string, unknown>, ts: number, position: Position, above = false): void {
    const aggs = this.spec.aggregations;
    for (let a = 0; a < aggs.length; a++) {
      const agg = aggs[a];
      const mapKey = keyMapKeyOf(agg, event);
      let bucket = this.buckets[a].get(mapKey);
      if (!bucket) {
        bucket = { keyJson: keyJsonOf(agg, event), byStart: new Map(), panes: new Map(), lastStart: NaN, current: undefined };
        this.buckets[a].set(mapKey, bucket);
      }
      let pane = bucket.current;
      // The previous event's pane start still holds while `ts` is within that pane (starts are multiples of the hop),
      // which saves the two floating-point remainders of `lastStart` for most events.
      const prev = bucket.lastStart;
      if (pane === undefined || !(ts >= prev && ts < prev + agg.assigner.hopMs)) {
        const last = agg.assigner.lastStart(ts);
        if (last !== prev || pane === undefined) {
          bucket.lastStart = last;
          pane = bucket.current = this.paneOf(agg, bucket, last, position);
        }
      }
      // Positions mostly grow within a batch, so the maximum is checked first; a new maximum cannot be a new minimum.
      if (above || position > pane.maxPosition) pane.maxPosition = position;
      else if (position < pane.minPosition) pane.minPosition = position;
      addEvent(agg.layout, pane.state, event);
      pane.members.push(idx);
    }
  }

  /**
   * The slices, each hopping window merged from its panes. Call once, after the last {@link add}; a pane shares no
   * sketch with the windows it was merged into.
   */
  finish(): Map<string, WindowSlice> {
    for (const { slice, panes } of this.paned) {
      const layout = slice.aggregation.layout;
      slice.state = cloneState(layout, panes[0].state);
      let members = panes[0].members.slice();
      let { minPosition, maxPosition } = panes[0];
      for (let p = 1; p < panes.length; p++) {
        const pane = panes[p];
        mergeInto(layout, slice.state, pane.state);
        members = members.concat(pane.members);
        if (pane.minPosition < minPosition) minPosition = pane.minPosition;
        if (pane.maxPosition > maxPosition) maxPosition = pane.maxPosition;
      }
      slice.members = members;
      slice.minPosition = minPosition;
      slice.maxPosition = maxPosition;
    }
    this.paned.length = 0;
    return this.slices;
  }

  /**
   * The pane starting at `last` (for a tumbling aggregation, the window itself), created where new together with the
   * windows it belongs to that the batch has not touched yet (earliest first, as a one-at-a-time fold registers them).
   */
  private paneOf(agg: CompiledAggregation, bucket: KeyBucket, last: number, position: Position): Pane {
    const { hopMs, windowsPerEvent } = agg.assigner;
    if (windowsPerEvent === 1) {
      const existing = bucket.byStart.get(last) as WindowSlice | undefined;
      if (existing) return existing;
      const slice = this.newSlice(agg, bucket.keyJson, last, emptyState(agg.layout), position);
      bucket.byStart.set(last, slice);
      return slice;
    }
    const existing = bucket.panes.get(last);
    if (existing) return existing;
    const pane: Pane = { state: emptyState(agg.layout), members: [], minPosition: position, maxPosition: position };
    bucket.panes.set(last, pane);
    for (let w = windowsPerEvent - 1; w >= 0; w--) {
      const start = last - w * hopMs;
      let win = bucket.byStart.get(start) as PanedWindow | undefined;
      if (!win) {
        // The state is merged from the panes by finish().
        win = { slice: this.newSlice(agg, bucket.keyJson, start, [], position), panes: [] };
        bucket.byStart.set(start, win);
        this.paned.push(win);
      }
      win.panes.push(pane);
    }
    return pane;
  }

  private newSlice(agg: CompiledAggregation, keyJson: string, start: number, state: AggregateState, position: Position) {
    const id = windowId(agg.name, keyJson, start);
    const slice = { id, aggregation: agg, keyJson, start, end: start + agg.assigner.sizeMs, state, members: [] as number[], minPosition: position, maxPosition: position };
    this.slices.set(id, slice);
    return slice;
  }
}

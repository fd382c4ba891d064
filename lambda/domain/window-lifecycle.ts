import { addEvent, cloneState, emptyState, mergeInto, type AggregateState } from './aggregate-state';
import type { EventAt, WindowSlice } from './pre-aggregate';
import type { WindowRef } from './window-ref';
import { isAfter, type Position } from './sequence';

/**
 * A window's persisted state.
 *
 * - `fences[lane]` is the position of the last record of that lane (shard) applied to this window. A record at or
 *   below the fence has been applied already, which is what makes a redelivery harmless.
 * - `version` is 0 while the window is open, 1 once it fired, and grows by one with every correction.
 * - `pending` is true while the current version is not known to have been emitted (and while the window is open, so
 *   that it can be found when the watermark passes its end).
 * - `rev` counts writes; every write is conditional on it, which serialises concurrent writers.
 */
export interface StoredWindow {
  readonly state: AggregateState;
  readonly fences: Readonly<Record<string, Position>>;
  readonly version: number;
  readonly pending: boolean;
  readonly rev: number;
  /** When the window was last written (processing time, epoch ms); tells a live writer's pending state from a stale one. */
  readonly updatedAt?: number;
  /**
   * Per-shard state only (the window's root item): the lanes that registered a partial, which the firing rule reads
   * instead of `fences` (a root has none); `state` is then the snapshot the current version was fired with.
   */
  readonly lanes?: readonly string[];
  /**
   * Where the store filed the window for the pending-window lookup, as it read the window: the store's own token,
   * carried unchanged to the next write so that a rewrite keeps the window where its creator filed it. `null` when it
   * was read unfiled (not pending); absent when unknown (a state not read from the store).
   */
  readonly filedAs?: string | null;
}

/**
 * One lane's part of a window kept in per-shard state (README, "Exactly-once"): written by that lane alone, so it
 * needs a single fence, and merged with the other lanes' partials when the window fires.
 */
export interface StoredPartial {
  readonly state: AggregateState;
  /** Position of the last record of the lane applied; absent on an empty partial a firing created. */
  readonly fence?: Position;
  /** Write count; every write is conditional on it. */
  readonly rev: number;
  /**
   * A firing by idleness read this partial: its lane may not have passed the window's end, so every later change of
   * the partial is a correction.
   */
  readonly sealed: boolean;
  /**
   * Changed after a firing may have read it, and not in a fired snapshot yet: the item is filed in the `pending`
   * index until a firing includes it (and clears the flag with a conditional write).
   */
  readonly dirty: boolean;
}

/** The firing rule read on a per-shard root: its registered lanes as a fences-like record. */
export function laneSet(lanes: readonly string[] | undefined): Record<string, Position> {
  const out: Record<string, Position> = {};
  for (const l of lanes ?? []) out[l] = '';
  return out;
}

/** Decides whether a window has fired, given the lanes that have contributed to it. */
export type FiringRule = (ref: WindowRef, fences: Readonly<Record<string, Position>>) => boolean;

/**
 * Event-time firing: a window fires once every lane (shard) that has contributed to it has a watermark at or past its
 * end. A window fed by one shard (for example when the group-by key is the partition key) fires on that shard's
 * progress alone, unaffected by other shards running ahead; a window fed by several waits for the slowest of them.
 */
export function eventTimeFiring(watermarks: ReadonlyMap<string, number>): FiringRule {
  return (ref, fences) => {
    let lanes = 0;
    for (const lane in fences) {
      lanes++;
      const wm = watermarks.get(lane);
      if (wm === undefined || wm < ref.end) return false;
    }
    return lanes > 0;
  };
}

/** Where an event stands relative to a window and the watermark. */
export type Timeliness = 'on-time' | 'late' | 'too-late';

/**
 * Classifies a window for records arriving when the watermark is `watermark`:
 * - on-time: the window has not fired yet;
 * - late: it fired, but its allowed lateness has not passed: the records correct it;
 * - too-late: its end plus allowed lateness is at or behind the watermark: the records go to the late-data sink.
 */
export function timeliness(ref: WindowRef, watermark: number | undefined): Timeliness {
  if (watermark === undefined || ref.end > watermark) return 'on-time';
  return ref.end + ref.aggregation.latenessMs <= watermark ? 'too-late' : 'late';
}

/**
 * The part of a slice a window has not seen yet, from the lane's fence. In the common path the fence is below the
 * whole slice and the precomputed partial aggregate is used as is; only a redelivery rebuilds it from the members
 * above the fence.
 */
export function unseenPart(
  slice: WindowSlice,
  eventAt: EventAt,
  fence: Position | undefined,
): { state: AggregateState; maxPosition: Position } | undefined {
  if (isAfter(slice.minPosition, fence)) return { state: slice.state, maxPosition: slice.maxPosition };
  if (!isAfter(slice.maxPosition, fence)) return undefined;
  const layout = slice.aggregation.layout;
  const state = emptyState(layout);
  for (const i of slice.members) {
    const e = eventAt(i);
    if (isAfter(e.position, fence)) addEvent(layout, state, e.event);
  }
  return { state, maxPosition: slice.maxPosition };
}

/**
 * The next state of a window after applying `change` (records from `lane`, up to `maxPosition`); undefined when
 * nothing changes, so that no write is made.
 *
 * Fires the window (version 1) when `fires` says so, and turns a change to a fired window into a correction
 * (version + 1). Both leave it pending until the version is emitted. A new window's state is the change's state
 * itself, not a copy: the caller must not change it afterwards (a stored window's state is copied before the merge).
 */
export function nextWindowState(
  ref: WindowRef,
  stored: StoredWindow | undefined,
  change: { lane: string; state: AggregateState; maxPosition: Position } | undefined,
  fires: FiringRule,
): StoredWindow | undefined {
  if (!change) {
    if (!stored || stored.version > 0 || !fires(ref, stored.fences)) return undefined;
    return { ...stored, version: 1, pending: true, rev: stored.rev + 1 };
  }
  const layout = ref.aggregation.layout;
  let state: AggregateState;
  if (stored) {
    state = cloneState(layout, stored.state);
    mergeInto(layout, state, change.state);
  } else {
    // A new window takes the change's state as it is: a batch's slice (or the state rebuilt for it), which nothing
    // changes after it is folded. Copying it cost a copy per window, sketches included (about 1,000 a batch).
    state = change.state;
  }
  // A new window's fences built by one store, not a spread of nothing and a computed key (once per window).
  const fences: Record<string, Position> = stored ? { ...stored.fences } : {};
  fences[change.lane] = change.maxPosition;
  const prevVersion = stored?.version ?? 0;
  const version = prevVersion > 0 ? prevVersion + 1 : fires(ref, fences) ? 1 : 0;
  return { state, fences, version, pending: true, rev: (stored?.rev ?? 0) + 1, filedAs: stored?.filedAs };
}

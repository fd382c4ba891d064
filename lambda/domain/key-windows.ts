/**
 * Per-key windows: session and stagger windows, which the key's events open (unlike tumbling and hopping windows,
 * whose bounds are fixed by the epoch). All the open and recent windows of one key of one aggregation live in one
 * state, the key's window set, so that a merge of two sessions is one conditional write of one item: the survivor,
 * the absorbed session's removal and the fences move together, and a crash cannot leave half a merge.
 *
 * Session windows (`gapSeconds` G, `maxDurationSeconds` M), defined on the set of a key's events:
 * - the events are cut on the grid of multiples of M since the epoch (the alignment tumbling windows use), then, within
 *   one grid period, split wherever two consecutive event times are G or more apart; each part is a session;
 * - a session starts at its first event and ends at `min(last event + G, next multiple of M)`, half-open;
 * - so a session closes after G of inactivity, never lasts longer than M, and an event at or after the cut opens a
 *   new session. The cut is aligned, not at `start + M`, because sessions must not depend on the order events arrive
 *   in: an out-of-order earlier event would move every later `start + M` cut, and a partial aggregate cannot be split
 *   again. With the aligned cut, sessions only ever merge, which aggregates can.
 *
 * Stagger windows (`sizeSeconds` N), KDA's `WINDOWED BY STAGGER`:
 * - a window opens at an event that no window of its key covers and lasts N, `[t, t + N)`; the next one opens at the
 *   key's first event at or after that end;
 * - out of order: an event before an existing window's start that no window covers opens a window at its own time,
 *   cut short at the next window's start (`[t, min(t + N, next start))`): windows of a key never overlap, so every
 *   event counts in exactly one. For events that arrive in event-time order per key this is KDA's definition exactly;
 *   out of order, the windows depend on the order of arrival (as KDA's, which open on arrival).
 *
 * Pure: no I/O, time passed in.
 */
import * as crypto from 'node:crypto';
import { addEvent, cloneState, emptyState, mergeInto, type AggregateState, type MeasureLayout } from './aggregate-state';
import type { Position } from './sequence';
import type { WindowDef } from './spec';

/** A compiled per-key window definition. */
export type KeyWindowRule =
  | { readonly kind: 'session'; readonly gapMs: number; readonly maxMs: number }
  | { readonly kind: 'stagger'; readonly sizeMs: number };

/** The rule of a per-key window definition; undefined for epoch-aligned ones. */
export function keyWindowRule(def: WindowDef): KeyWindowRule | undefined {
  if (def.type === 'session') return { kind: 'session', gapMs: def.gapSeconds * 1000, maxMs: def.maxDurationSeconds * 1000 };
  if (def.type === 'stagger') return { kind: 'stagger', sizeMs: def.sizeSeconds * 1000 };
  return undefined;
}

/**
 * How long after its end a window can still be touched by an event whose own extent reaches past a point: the gap
 * for sessions (an event at `t` reaches to `t + gap`), the size for stagger windows.
 */
export function slackMs(rule: KeyWindowRule): number {
  return rule.kind === 'session' ? rule.gapMs : rule.sizeMs;
}

/** One window of a key. */
export interface KeyWindow {
  /**
   * The window's identity (`sessionId` in results): derived from the aggregation, the key and the start the window had
   * when it was opened. It never changes, not when earlier events extend the window, nor when it absorbs another.
   */
  readonly id: string;
  readonly start: number;
  /** The last event time (epoch ms). */
  readonly last: number;
  /** Exclusive end (epoch ms). */
  readonly end: number;
  readonly state: AggregateState;
  /** 0 while open, 1 once fired, + 1 with every correction. */
  readonly version: number;
  /** The highest version emitted (0: none). */
  readonly emitted: number;
  /** The lanes whose records the window holds: the lanes whose watermarks fire it. */
  readonly lanes: readonly string[];
  /** The ids of the sessions this one absorbed, transitively: their results are superseded by this one's. */
  readonly supersedes: readonly string[];
}

/** A key's windows, with the fences that make applying a lane's records idempotent. */
export interface KeyWindowSet {
  /** By start, none overlapping. */
  readonly windows: readonly KeyWindow[];
  /** Per lane, the position of the last record applied to the set (see StoredWindow.fences). */
  readonly fences: Readonly<Record<string, Position>>;
  /** Write count; every write is conditional on it. */
  readonly rev: number;
  /** Processing time of the last write (epoch ms): tells a live writer's pending versions from a stale one. */
  readonly updatedAt?: number;
  /** The lane whose batches look at the set when their watermark passes its next end (the `pending` index bucket). */
  readonly filedUnder?: string;
}

/** An empty set, never written. */
export const EMPTY_KEY_WINDOW_SET: KeyWindowSet = { windows: [], fences: {}, rev: 0 };

/** Whether a window has something to do: fire (open) or be emitted (fired, current version not emitted). */
export function isPending(w: KeyWindow): boolean {
  return w.version === 0 || w.version > w.emitted;
}

/** The earliest end of a window that has something to do: the set's `fireAt`. Undefined: nothing pending. */
export function nextDue(set: KeyWindowSet): number | undefined {
  let due: number | undefined;
  for (const w of set.windows) if (isPending(w) && (due === undefined || w.end < due)) due = w.end;
  return due;
}

/** The window id of a window opened at `start`. */
export function keyWindowId(aggregation: string, keyJson: string, start: number): string {
  return sha256Hex32(JSON.stringify(['key-window', aggregation, keyJson, start]));
}

/** One event to apply. */
export interface KeyEvent {
  readonly ts: number;
  readonly event: Record<string, unknown>;
}

/** What applying events needs. */
export interface KeyContext {
  readonly aggregation: string;
  readonly keyJson: string;
  readonly rule: KeyWindowRule;
  readonly layout: MeasureLayout;
}

/** A mutable working copy of a window. */
interface Draft {
  id: string;
  start: number;
  last: number;
  end: number;
  state: AggregateState;
  version: number;
  emitted: number;
  lanes: Set<string>;
  supersedes: Set<string>;
  /** The version it had before this change, and whether its content changed. */
  readonly before: number;
  changed: boolean;
}

function draftOf(w: KeyWindow): Draft {
  return { ...w, lanes: new Set(w.lanes), supersedes: new Set(w.supersedes), before: w.version, changed: false };
}

function sessionEnd(rule: { gapMs: number; maxMs: number }, start: number, last: number): number {
  const cut = Math.floor(start / rule.maxMs) * rule.maxMs + rule.maxMs;
  return Math.min(last + rule.gapMs, cut);
}

/**
 * Applies a lane's events (in their delivery order) to a key's windows: sessions are extended, opened and merged,
 * stagger windows filled or opened. A fired window whose content changes becomes a correction (version + 1, once
 * per call); a merge keeps the earlier window's id and lists the absorbed ids in `supersedes`. Firing and pruning are
 * separate steps ({@link fireDue}, {@link prune}).
 */
export function applyEvents(ctx: KeyContext, windows: readonly KeyWindow[], lane: string, events: readonly KeyEvent[]): KeyWindow[] {
  const drafts = windows.map(draftOf);
  for (const e of events) {
    if (ctx.rule.kind === 'session') applySession(ctx, ctx.rule, drafts, lane, e);
    else applyStagger(ctx, ctx.rule, drafts, lane, e);
  }
  return drafts.map((d) => ({
    id: d.id,
    start: d.start,
    last: d.last,
    end: d.end,
    state: d.state,
    // A fired window that changed is corrected; an open one (even one that absorbed a fired session) fires later.
    version: d.changed && d.before > 0 ? d.before + 1 : d.version,
    emitted: d.emitted,
    lanes: [...d.lanes].sort(),
    supersedes: [...d.supersedes].sort(),
  }));
}

function opened(ctx: KeyContext, lane: string, e: KeyEvent, end: number): Draft {
  const state = emptyState(ctx.layout);
  addEvent(ctx.layout, state, e.event);
  return {
    id: keyWindowId(ctx.aggregation, ctx.keyJson, e.ts),
    start: e.ts,
    last: e.ts,
    end,
    state,
    version: 0,
    emitted: 0,
    lanes: new Set([lane]),
    supersedes: new Set(),
    before: 0,
    changed: true,
  };
}

function applySession(ctx: KeyContext, rule: { gapMs: number; maxMs: number }, drafts: Draft[], lane: string, e: KeyEvent): void {
  const period = Math.floor(e.ts / rule.maxMs);
  // The sessions the event touches: same grid period, and within a gap of their extent.
  const touched: number[] = [];
  drafts.forEach((d, i) => {
    if (Math.floor(d.start / rule.maxMs) === period && d.start - rule.gapMs < e.ts && e.ts < d.last + rule.gapMs) touched.push(i);
  });
  if (touched.length === 0) {
    const at = drafts.findIndex((d) => d.start > e.ts);
    const w = opened(ctx, lane, e, sessionEnd(rule, e.ts, e.ts));
    drafts.splice(at < 0 ? drafts.length : at, 0, w);
    return;
  }
  // Drafts are by start: the first touched is the survivor, the others are absorbed into it.
  const survivor = drafts[touched[0]];
  if (!survivor.changed) survivor.state = cloneState(ctx.layout, survivor.state);
  survivor.changed = true;
  for (const i of touched.slice(1)) {
    const d = drafts[i];
    mergeInto(ctx.layout, survivor.state, d.state);
    survivor.last = Math.max(survivor.last, d.last);
    d.lanes.forEach((l) => survivor.lanes.add(l));
    survivor.supersedes.add(d.id);
    d.supersedes.forEach((s) => survivor.supersedes.add(s));
  }
  addEvent(ctx.layout, survivor.state, e.event);
  survivor.start = Math.min(survivor.start, e.ts);
  survivor.last = Math.max(survivor.last, e.ts);
  survivor.end = sessionEnd(rule, survivor.start, survivor.last);
  survivor.lanes.add(lane);
  for (const i of touched.slice(1).reverse()) drafts.splice(i, 1);
}

function applyStagger(ctx: KeyContext, rule: { sizeMs: number }, drafts: Draft[], lane: string, e: KeyEvent): void {
  const covering = drafts.find((d) => d.start <= e.ts && e.ts < d.end);
  if (covering) {
    if (!covering.changed) covering.state = cloneState(ctx.layout, covering.state);
    covering.changed = true;
    addEvent(ctx.layout, covering.state, e.event);
    covering.last = Math.max(covering.last, e.ts);
    covering.lanes.add(lane);
    return;
  }
  const at = drafts.findIndex((d) => d.start > e.ts);
  const next = at < 0 ? Infinity : drafts[at].start;
  drafts.splice(at < 0 ? drafts.length : at, 0, opened(ctx, lane, e, Math.min(e.ts + rule.sizeMs, next)));
}

/**
 * Fires the open windows `fires(end, lanes)` says are due (version 1). Pure; returns the same array when nothing fires.
 */
export function fireDue(windows: readonly KeyWindow[], fires: (end: number, lanes: readonly string[]) => boolean): readonly KeyWindow[] {
  let out: KeyWindow[] | undefined;
  windows.forEach((w, i) => {
    if (w.version === 0 && fires(w.end, w.lanes)) {
      out ??= [...windows];
      out[i] = { ...w, version: 1 };
    }
  });
  return out ?? windows;
}

/**
 * Drops windows no admissible event can touch any more: fired, emitted, and ended a slack (gap or size) plus the
 * allowed lateness before `watermark` (the lowest watermark of the known lanes). An event is admissible only if its
 * own extent `[t, t + slack)` plus the lateness reaches past its lane's watermark (see {@link isTooLate}), so it starts
 * at or after such a window's end and can neither join nor bridge it.
 */
export function prune(windows: readonly KeyWindow[], rule: KeyWindowRule, latenessMs: number, watermark: number | undefined): readonly KeyWindow[] {
  if (watermark === undefined) return windows;
  const keep = windows.filter((w) => isPending(w) || w.end + slackMs(rule) + latenessMs > watermark);
  return keep.length === windows.length ? windows : keep;
}

/**
 * Whether an event is too late: its own extent (`t + gap` for a session, `t + size` for a stagger window) plus the
 * allowed lateness is at or before its lane's watermark before the batch. This depends on nothing stored, so a
 * redelivery classifies its records the same way, and the late-data sink can be written before the windows.
 */
export function isTooLate(rule: KeyWindowRule, latenessMs: number, ts: number, watermark: number | undefined): boolean {
  return watermark !== undefined && ts + slackMs(rule) + latenessMs <= watermark;
}

const oneShotHash = typeof crypto.hash === 'function' ? crypto.hash : undefined;
/** The first 32 hex digits of a SHA-256 (the one-shot crypto.hash, Node >= 20.12, is about three times faster). */
export function sha256Hex32(text: string): string {
  if (oneShotHash) return oneShotHash('sha256', text, 'hex').slice(0, 32);
  return crypto.createHash('sha256').update(text).digest('hex').slice(0, 32);
}

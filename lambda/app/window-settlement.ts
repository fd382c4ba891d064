import { refId, type WindowRef } from '../domain/window-ref';
import type { Position } from '../domain/sequence';
import { nextWindowState, type FiringRule, type StoredWindow } from '../domain/window-lifecycle';
import type { AggregateState } from '../domain/aggregate-state';
import { toWindowResult } from '../domain/window-result';
import { mapSettled } from './concurrency';
import type { LogPort, ResultSink, TimePort, WindowStore } from './ports';
import { DeadlineExceededError } from './errors';

export { DeadlineExceededError };

/**
 * How many window writes are kept in flight: enough to hide latency (P9: with DynamoDB at 5 ms median, 25 ms p99, one
 * shard's function must sustain 3× the shard's 1,000 records/s, about two window writes per record, and with per-shard
 * state a registration per new window and a partial read per fired one besides), few enough not to trip throttling.
 * The aggregator's DynamoDB client gets as many sockets.
 */
export const WRITE_CONCURRENCY = 256;
/** First backoff step after a conditional-write conflict; doubled per conflict, drawn with full jitter. */
export const CONFLICT_BASE_DELAY_MS = 10;
/** Cap on one backoff delay after a conflict. */
export const CONFLICT_MAX_DELAY_MS = 1_000;

/**
 * Exponential backoff with full jitter: a delay drawn in [0, min(cap, base × 2^attempt)). Jitter spreads writers that
 * collided, so that under contention each retry round lets several of them through instead of one.
 */
export function conflictBackoffMs(attempt: number, random: () => number): number {
  return Math.floor(random() * Math.min(CONFLICT_MAX_DELAY_MS, CONFLICT_BASE_DELAY_MS * 2 ** attempt));
}

/**
 * A pending window last written longer ago than this is taken as left behind by a writer that died before emitting
 * it (the writer emits within its own invocation, so twice the function timeout is safely past it).
 * @default 120000
 */
export const DEFAULT_PENDING_STALE_AFTER_MS = 120_000;

/** Counters shared by the batch and the idle-closing use cases. */
export interface SettlementStats {
  windowWrites: number;
  conflicts: number;
  emitted: number;
}

/** A change to apply to a window: records of one lane, up to a position. */
export interface WindowChange {
  readonly lane: string;
  readonly state: AggregateState;
  readonly maxPosition: Position;
}

/** What settling needs. */
export interface SettlementContext {
  readonly store: WindowStore;
  /** Event-time firing (`eventTimeFiring`). */
  readonly fires: FiringRule;
  /**
   * Firing by idleness (the closer's): a per-shard firing by this rule seals the partials it reads, since their lanes
   * may not have passed the window's end.
   */
  readonly idleFires?: FiringRule;
  readonly nowMs: number;
  readonly pendingStaleAfterMs: number;
  readonly stats: SettlementStats;
  /** Processing time, for the backoff after a conflict. */
  readonly time: TimePort;
  /** Processing time by which conflicting writes stop retrying (the invocation's remaining time, less a margin). */
  readonly deadlineMs: number;
  /**
   * A batch's lane and every lane's watermark (its own included, as of this batch). A window this lane has passed but
   * cannot fire, because a lane that fed it has not, is filed under that lane (see {@link laggardOf}), whose batch
   * looks at it when it passes the window's end. Absent (the closer): windows keep the lane they are filed under.
   */
  readonly passing?: { readonly lane: string; readonly watermarks: ReadonlyMap<string, number> };
}

/**
 * The lane a window waits for when `lane` has passed its end: among the lanes that fed it, one whose watermark is
 * behind the end (unknown first, then the furthest behind); undefined when `lane` has not passed it or none is behind.
 */
export function laggardOf(ref: WindowRef, fences: Readonly<Record<string, string>>, lane: string, watermarks: ReadonlyMap<string, number>): string | undefined {
  const own = watermarks.get(lane);
  if (own === undefined || own < ref.end) return undefined;
  let laggard: string | undefined;
  let lowest = Infinity;
  for (const l of Object.keys(fences).sort()) {
    const wm = watermarks.get(l) ?? -Infinity;
    if (wm < ref.end && wm < lowest) {
      lowest = wm;
      laggard = l;
    }
  }
  return laggard;
}

/** The windows whose current version this invocation must emit. */
export type Emissions = Map<string, { ref: WindowRef; stored: StoredWindow }>;

/**
 * Brings one window up to date with one conditional write, re-reading and merging again on a conflict after a
 * jittered exponential backoff. Conflicts are retried until the deadline, not for a fixed count: many shards writing
 * one window all get through, and a window that still cannot be written fails the batch (which is retried), never
 * skips it.
 *
 * The writer of a version emits it, and nobody else does while that writer may still be alive: a pending window is
 * picked up from someone else only once it is stale. That way the aggregator and the idle closer never both emit the
 * same version, and a version left behind by a crash is still emitted.
 *
 * @param changeFor the part of the batch the window has not seen, given its stored state (undefined: no records)
 */
export async function settleWindow(
  ctx: SettlementContext,
  ref: WindowRef,
  first: StoredWindow | undefined,
  changeFor: ((stored: StoredWindow | undefined) => WindowChange | undefined) | undefined,
  emissions: Emissions,
): Promise<void> {
  const id = refId(ref);
  const idle = ctx.idleFires;
  const fires: FiringRule = idle ? (r, f) => ctx.fires(r, f) || idle(r, f) : ctx.fires;
  let stored = first;
  for (let attempt = 0; ; attempt++) {
    let next = nextWindowState(ref, stored, changeFor?.(stored), fires);
    let fileUnder: string | undefined;
    if (ctx.passing && (next ?? stored)?.pending && (next ?? stored)?.version === 0) {
      fileUnder = laggardOf(ref, (next ?? stored)!.fences, ctx.passing.lane, ctx.passing.watermarks);
      // A window this lane passed and cannot fire is handed to the lane it waits for, even with nothing else to write.
      if (!next && fileUnder !== undefined) next = { ...stored!, rev: stored!.rev + 1 };
    }
    if (!next) {
      const stale = (stored?.updatedAt ?? 0) <= ctx.nowMs - ctx.pendingStaleAfterMs;
      if (stored && stored.pending && stored.version > 0 && stale) emissions.set(id, { ref, stored });
      return;
    }
    if ((await ctx.store.writeWindow(ref, next, stored?.rev, ctx.nowMs, fileUnder)) === 'written') {
      ctx.stats.windowWrites++;
      if (next.pending && next.version > 0) emissions.set(id, { ref, stored: writtenAt(next, ctx.nowMs) });
      return;
    }
    ctx.stats.conflicts++;
    const delay = conflictBackoffMs(attempt, ctx.time.random);
    if (ctx.time.now() + delay >= ctx.deadlineMs) {
      throw new DeadlineExceededError(`window ${id}: ${attempt + 1} conflicting writes, and the invocation's deadline is near`);
    }
    await ctx.time.sleep(delay);
    stored = (await ctx.store.getWindows([ref], true)).get(id);
  }
}

/**
 * The window as written at `nowMs`. Why not `{ ...next, updatedAt }`: a spread that adds a property costs several
 * times an object literal, once per fired window (about 900 per batch); a per-shard root's `lanes` keeps the spread.
 */
function writtenAt(next: StoredWindow, nowMs: number): StoredWindow {
  if (next.lanes !== undefined) return { ...next, updatedAt: nowMs };
  // Every field but `lanes` named, so that a field added to StoredWindow fails to compile here instead of being dropped.
  const written: { [K in Exclude<keyof StoredWindow, 'lanes'>]-?: StoredWindow[K] } = {
    state: next.state,
    fences: next.fences,
    version: next.version,
    pending: next.pending,
    rev: next.rev,
    updatedAt: nowMs,
    filedAs: next.filedAs,
  };
  return written;
}

/**
 * Emits the windows' current versions, then clears their pending marks. Returns false when the emission failed: the
 * windows stay pending, and are emitted again (same ids) once stale.
 */
export async function emitAndMark(
  store: WindowStore,
  results: ResultSink,
  emissions: Emissions,
  stats: SettlementStats,
  log?: LogPort,
): Promise<boolean> {
  if (emissions.size === 0) return true;
  const all = [...emissions.values()];
  try {
    await results.emit(all.map(({ ref, stored }) => toWindowResult(ref, stored)));
  } catch (e) {
    log?.error('emitting window results failed', { count: all.length, error: String(e) });
    return false;
  }
  stats.emitted += all.length;
  const marked = await mapSettled(all, WRITE_CONCURRENCY, ({ ref, stored }) => store.markEmitted(ref, stored.version));
  // An unmarked window is emitted again once stale, under the same id: a duplicate that consumers drop by id.
  const unmarked = marked.filter((m) => m.status === 'rejected').length;
  if (unmarked > 0) log?.warn('marking windows emitted failed', { unmarked });
  return true;
}

/**
 * Settling per-key window sets (session and stagger windows, see lambda/domain/key-windows.ts): the counterpart of
 * window-settlement.ts for aggregations kept one item per key. A set is read, changed (records applied above the
 * lane's fence, windows fired, old windows dropped) and written back with one conditional write on its revision; a
 * conflict backs off, re-reads and applies again, until the deadline.
 */
import type { CompiledAggregation } from '../domain/compiled-spec';
import { keyWindowResult, keyWindowResultId } from '../domain/key-window-result';
import {
  applyEvents,
  EMPTY_KEY_WINDOW_SET,
  fireDue,
  isPending,
  nextDue,
  prune,
  type KeyEvent,
  type KeyWindow,
  type KeyWindowSet,
} from '../domain/key-windows';
import type { Position } from '../domain/sequence';
import type { FiringRule } from '../domain/window-lifecycle';
import type { WindowRef } from '../domain/window-ref';
import { mapSettled } from './concurrency';
import { DeadlineExceededError } from './errors';
import type { KeyWindowStore, LogPort, PendingQuery, ResultSink, TimePort } from './ports';
import { conflictBackoffMs, WRITE_CONCURRENCY, type SettlementStats } from './window-settlement';

/** Records of one lane to apply to a key's windows: the events in delivery order, and the last position covered. */
export interface KeyChange {
  readonly lane: string;
  readonly events: readonly KeyEvent[];
  readonly maxPosition: Position;
}

/** What settling window sets needs. */
export interface KeySettlementContext {
  readonly store: KeyWindowStore;
  /** The firing rule of windows, given a window's end and the lanes that fed it. */
  readonly fires: FiringRule;
  /** The watermark below which windows may be dropped, given the lanes that fed the set (undefined: keep all). */
  readonly pruneMark: (fences: Readonly<Record<string, Position>>) => number | undefined;
  readonly nowMs: number;
  readonly pendingStaleAfterMs: number;
  readonly stats: SettlementStats;
  readonly time: TimePort;
  readonly deadlineMs: number;
  /** A batch's lane and every lane's watermark: a set is filed under the lane its next due window waits for. */
  readonly passing?: { readonly lane: string; readonly watermarks: ReadonlyMap<string, number> };
}

/** Window versions to emit, by result id. */
export type KeyEmissions = Map<string, { readonly aggregation: CompiledAggregation; readonly keyJson: string; readonly window: KeyWindow }>;

/** The fences form of a lane list, which firing rules read. */
function lanesAsFences(lanes: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of lanes) out[l] = '';
  return out;
}

/**
 * The lane a set is filed under for the pending index: among the lanes of its next due window, the one furthest
 * behind that window's end (whose batch will pass it last); the writing lane when none is behind; unchanged when no
 * batch is passing (the closer).
 */
function fileUnder(windows: readonly KeyWindow[], ctx: KeySettlementContext, current: string | undefined): string | undefined {
  if (!ctx.passing) return current;
  const due = nextDue({ windows, fences: {}, rev: 0 });
  if (due === undefined) return current;
  const w = windows.find((x) => isPending(x) && x.end === due)!;
  let laggard: string | undefined;
  let lowest = Infinity;
  for (const l of [...w.lanes].sort()) {
    const wm = ctx.passing.watermarks.get(l) ?? -Infinity;
    if (wm < due && wm < lowest) [laggard, lowest] = [l, wm];
  }
  return laggard ?? ctx.passing.lane;
}

/** Adds a set's fired, unemitted windows to the emissions. */
function collect(agg: CompiledAggregation, keyJson: string, set: KeyWindowSet, emissions: KeyEmissions): void {
  for (const w of set.windows) {
    if (w.version > 0 && w.version > w.emitted) emissions.set(keyWindowResultId(agg.name, keyJson, w.id, w.version), { aggregation: agg, keyJson, window: w });
  }
}

/**
 * Brings one key's window set up to date with one conditional write (see the module comment). The writer of a set
 * emits its fired, unemitted windows; a set nobody writes is emitted from only once stale (its writer died).
 *
 * @param changeFor the records the set has not seen, given its stored state (undefined: none)
 */
export async function settleKeySet(
  ctx: KeySettlementContext,
  agg: CompiledAggregation,
  keyJson: string,
  first: KeyWindowSet | undefined,
  changeFor: ((stored: KeyWindowSet) => KeyChange | undefined) | undefined,
  emissions: KeyEmissions,
): Promise<void> {
  const rule = agg.keyRule!;
  const fires = (end: number, lanes: readonly string[]) =>
    ctx.fires({ aggregation: agg, keyJson, start: end, end } satisfies WindowRef, lanesAsFences(lanes));
  let stored = first ?? EMPTY_KEY_WINDOW_SET;
  for (let attempt = 0; ; attempt++) {
    const change = changeFor?.(stored);
    let windows = stored.windows;
    let fences = stored.fences;
    if (change) {
      windows = applyEvents({ aggregation: agg.name, keyJson, rule, layout: agg.layout }, windows, change.lane, change.events);
      fences = { ...fences, [change.lane]: change.maxPosition };
    }
    windows = fireDue(windows, fires);
    windows = prune(windows, rule, agg.latenessMs, ctx.pruneMark(fences));
    const filedUnder = fileUnder(windows, ctx, stored.filedUnder);
    if (!change && windows === stored.windows && filedUnder === stored.filedUnder) {
      const stale = (stored.updatedAt ?? 0) <= ctx.nowMs - ctx.pendingStaleAfterMs;
      if (stale) collect(agg, keyJson, stored, emissions);
      return;
    }
    const next: KeyWindowSet = { windows, fences, rev: stored.rev + 1, ...(filedUnder !== undefined ? { filedUnder } : {}) };
    if ((await ctx.store.writeKeySet(agg, keyJson, next, stored.rev, ctx.nowMs)) === 'written') {
      ctx.stats.windowWrites++;
      collect(agg, keyJson, next, emissions);
      return;
    }
    ctx.stats.conflicts++;
    const delay = conflictBackoffMs(attempt, ctx.time.random);
    if (ctx.time.now() + delay >= ctx.deadlineMs) {
      throw new DeadlineExceededError(`key ${agg.name} ${keyJson}: ${attempt + 1} conflicting writes, and the invocation's deadline is near`);
    }
    await ctx.time.sleep(delay);
    stored = (await ctx.store.getKeySets(agg, [keyJson], true)).get(keyJson) ?? EMPTY_KEY_WINDOW_SET;
  }
}

/**
 * Settles the sets of each per-key aggregation that `query` finds pending (skipping `exclude`, by aggregation and key
 * JSON joined with NUL): fires what is due, collects stale emissions. Returns how many sets it read; `cursor` reports
 * where a paged query stopped, per aggregation.
 */
export async function settlePendingKeys(
  ctx: KeySettlementContext,
  aggregations: readonly CompiledAggregation[],
  query: (aggregation: CompiledAggregation) => PendingQuery | undefined,
  exclude: ReadonlySet<string>,
  emissions: KeyEmissions,
  log?: LogPort,
): Promise<number> {
  let read = 0;
  for (const agg of aggregations) {
    const q = query(agg);
    if (!q) continue;
    let cursor = q.cursor;
    do {
      const page = await ctx.store.findPendingKeys(agg, { ...q, cursor });
      cursor = q.limit === undefined ? undefined : page.cursor;
      const keys = page.keys.filter((k) => !exclude.has(`${agg.name}\u0000${k}`));
      read += keys.length;
      if (keys.length === 0) continue;
      const current = await ctx.store.getKeySets(agg, keys, true);
      const settled = await mapSettled(keys, WRITE_CONCURRENCY, (k) => settleKeySet(ctx, agg, k, current.get(k), undefined, emissions));
      settled.forEach((r, i) => {
        if (r.status === 'rejected') log?.warn('settling a pending key window set failed', { aggregation: agg.name, key: keys[i], error: String(r.reason) });
      });
    } while (cursor !== undefined && ctx.time.now() < ctx.deadlineMs);
  }
  return read;
}

/** How many times marking a set's versions emitted re-reads after a conflict before leaving it to a later pass. */
const MARK_ATTEMPTS = 4;

/**
 * Emits the windows' current versions, then records them as emitted in their sets. Returns false when the emission
 * failed: the sets stay pending, and their versions are emitted again (same ids) once stale.
 */
export async function emitAndMarkKeys(
  ctx: KeySettlementContext,
  results: ResultSink,
  emissions: KeyEmissions,
  log?: LogPort,
): Promise<boolean> {
  if (emissions.size === 0) return true;
  const all = [...emissions.values()];
  try {
    await results.emit(all.map((e) => keyWindowResult(e.aggregation, e.keyJson, e.window)));
  } catch (e) {
    log?.error('emitting session/stagger window results failed', { count: all.length, error: String(e) });
    return false;
  }
  ctx.stats.emitted += all.length;
  const bySet = new Map<string, { agg: CompiledAggregation; keyJson: string; versions: Map<string, number> }>();
  for (const e of all) {
    const id = `${e.aggregation.name}\u0000${e.keyJson}`;
    let s = bySet.get(id);
    if (!s) bySet.set(id, (s = { agg: e.aggregation, keyJson: e.keyJson, versions: new Map() }));
    s.versions.set(e.window.id, Math.max(s.versions.get(e.window.id) ?? 0, e.window.version));
  }
  const marked = await mapSettled([...bySet.values()], WRITE_CONCURRENCY, (s) => markEmitted(ctx, s.agg, s.keyJson, s.versions));
  const unmarked = marked.filter((m) => m.status === 'rejected' || !m.value).length;
  // An unmarked version is emitted again once stale, under the same id: a duplicate that consumers drop by id.
  if (unmarked > 0) log?.warn('marking session/stagger windows emitted failed', { unmarked });
  return true;
}

async function markEmitted(ctx: KeySettlementContext, agg: CompiledAggregation, keyJson: string, versions: ReadonlyMap<string, number>): Promise<boolean> {
  for (let attempt = 0; attempt < MARK_ATTEMPTS; attempt++) {
    const stored = (await ctx.store.getKeySets(agg, [keyJson], true)).get(keyJson);
    if (!stored) return true;
    let changed = false;
    const windows = stored.windows.map((w) => {
      const v = versions.get(w.id);
      if (v === undefined || v <= w.emitted || v > w.version) return w;
      changed = true;
      return { ...w, emitted: v };
    });
    if (!changed) return true;
    // The write keeps the set's `updatedAt` fresh, which is right: nothing it holds is left unemitted by a dead writer.
    const next: KeyWindowSet = { ...stored, windows, rev: stored.rev + 1 };
    if ((await ctx.store.writeKeySet(agg, keyJson, next, stored.rev, ctx.nowMs)) === 'written') return true;
    await ctx.time.sleep(conflictBackoffMs(attempt, ctx.time.random));
  }
  return false;
}

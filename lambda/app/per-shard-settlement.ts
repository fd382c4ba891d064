/**
 * Per-shard window state (`state: per-shard`, README "Exactly-once"): a window many shards feed is kept as one small
 * root item (lifecycle: registered lanes, version, pending, the snapshot of the current version) and one partial item
 * per (window, lane), written by that lane alone with a single fence. No shard's write contends with another's, and
 * each write carries only that shard's part.
 *
 * The protocol, and why nothing is lost or counted twice:
 * - A lane's first write to a window registers it on the root (`registerLane`: adds the lane, bumps the root's
 *   revision) BEFORE it creates its partial. So a partial exists only for a registered lane, and a firing that read
 *   the root before the registration fails its conditional root write and starts over.
 * - Firing reads the root (revision r, lanes L), checks the rule on L, reads the partials of L, seals the partials a
 *   firing by idleness (all) or by a lane's own batch (that lane's) must seal, with writes conditional on each
 *   partial's revision (a partial changed meanwhile is read again), writes the root (version + 1, the merged snapshot)
 *   conditional on r, and then clears the `dirty` flag of the partials it included, each conditional on the revision
 *   it included (one changed since stays dirty, to be re-fired).
 * - A lane changes its partial as a correction (`dirty`, which files the partial in the `pending` index) when a
 *   firing may have read it already: the lane's own watermark had passed the window's end before the batch (an
 *   event-time firing needs every registered lane's persisted watermark past the end, and a lane writes its watermark
 *   after its partials), the partial is `sealed` (an idle firing, or the lane's own batch that fired the window before
 *   persisting its watermark, read it), or the registration found the root fired.
 *   Otherwise no firing can have read it: the lane is registered and its persisted watermark is behind the end.
 * - A dirty partial is re-fired (version + 1) by whoever finds it: its own lane right away when the root has few lanes
 *   ({@link IMMEDIATE_CORRECTION_MAX_LANES}), else the closer's sweep, which finds it in the `pending` index and
 *   re-fires each root once for all of its dirty partials: corrections of a window 200 shards feed are coalesced
 *   instead of 200 root writes a second.
 */
import { cloneState, emptyState, mergeInto } from '../domain/aggregate-state';
import { laneSet, type StoredPartial, type StoredWindow } from '../domain/window-lifecycle';
import { partialId, refId, type WindowRef } from '../domain/window-ref';
import type { Position } from '../domain/sequence';
import { mapSettled } from './concurrency';
import {
  conflictBackoffMs,
  WRITE_CONCURRENCY,
  DeadlineExceededError,
  laggardOf,
  type Emissions,
  type SettlementContext,
  type WindowChange,
} from './window-settlement';

/**
 * A correction of a per-shard window whose root lists at most this many lanes is re-fired by the lane that made it,
 * at once; beyond, the closer's sweep re-fires it (once for every dirty partial it finds), so that many shards
 * correcting one window do not all write its root.
 */
export const IMMEDIATE_CORRECTION_MAX_LANES = 4;

/** Waits after a conflict, or throws when the invocation's deadline is near. */
async function backoff(ctx: SettlementContext, attempt: number, what: string): Promise<void> {
  ctx.stats.conflicts++;
  const delay = conflictBackoffMs(attempt, ctx.time.random);
  if (ctx.time.now() + delay >= ctx.deadlineMs) {
    throw new DeadlineExceededError(`${what}: ${attempt + 1} conflicting writes, and the invocation's deadline is near`);
  }
  await ctx.time.sleep(delay);
}

/**
 * Applies a lane's change to its partial of a window, with one conditional write (a conflict re-reads and merges
 * again). `late`: the lane's watermark had passed the window's end before this batch.
 *
 * @param changeFor the part of the batch the partial has not seen, given its fence (undefined: nothing new)
 */
export async function settlePartial(
  ctx: SettlementContext,
  lane: string,
  ref: WindowRef,
  first: StoredPartial | undefined,
  changeFor: (fence: Position | undefined) => WindowChange | undefined,
  late: boolean,
  emissions: Emissions,
): Promise<void> {
  const key = { ref, lane };
  const id = partialId(ref.aggregation.name, ref.keyJson, ref.start, lane);
  const layout = ref.aggregation.layout;
  let p = first;
  let registered = false;
  let joinedFired = false;
  for (let attempt = 0; ; attempt++) {
    const change = changeFor(p?.fence);
    if (!change) return;
    if (!p && !registered) {
      joinedFired = (await ctx.store.registerLane(ref, lane, ctx.nowMs)).version > 0;
      registered = true;
    }
    const state = p ? cloneState(layout, p.state) : emptyState(layout);
    mergeInto(layout, state, change.state);
    const dirty = late || joinedFired || (p?.sealed ?? false) || (p?.dirty ?? false);
    const next: StoredPartial = { state, fence: change.maxPosition, rev: (p?.rev ?? 0) + 1, sealed: p?.sealed ?? false, dirty };
    if ((await ctx.store.writePartial(key, next, p?.rev, ctx.nowMs)) === 'written') {
      ctx.stats.windowWrites++;
      if (dirty) await correctSoon(ctx, ref, emissions);
      return;
    }
    await backoff(ctx, attempt, `partial ${id}`);
    p = (await ctx.store.getPartials([key], true)).get(id);
  }
}

/** Re-fires a corrected window now when its root lists few lanes; else the partial waits in the index for the closer. */
async function correctSoon(ctx: SettlementContext, ref: WindowRef, emissions: Emissions): Promise<void> {
  const id = refId(ref);
  const seen = (await ctx.store.getWindows([ref], false)).get(id);
  if (!seen || seen.version === 0 || (seen.lanes?.length ?? 0) > IMMEDIATE_CORRECTION_MAX_LANES) return;
  await settleRoot(ctx, ref, (await ctx.store.getWindows([ref], true)).get(id), emissions);
}

/**
 * Brings a per-shard root up to date: fires it when the rule says so (an open root), re-fires it when a partial is
 * dirty (a fired root), hands an open root this lane passed to the lane it waits for, or collects a stale pending
 * version for emission. A conflict on the root re-reads it and starts over.
 */
export async function settleRoot(
  ctx: SettlementContext,
  ref: WindowRef,
  first: StoredWindow | undefined,
  emissions: Emissions,
  prefetched?: ReadonlyMap<string, StoredPartial>,
): Promise<void> {
  const id = refId(ref);
  let root = first;
  for (let attempt = 0; ; attempt++) {
    if (!root) return;
    const lanes = root.lanes ?? [];
    const fences = laneSet(lanes);
    // Partials read (consistently) after `first`, by the caller: a batch of roots costs one BatchGetItem per 100.
    let partials: Map<string, StoredPartial> | undefined = attempt === 0 && prefetched ? partialsOf(ref, lanes, prefetched) : undefined;
    let fire: boolean;
    // The lanes whose partials a firing must seal: every lane for a firing by idleness (they may not have passed the
    // end); for a firing by the batch of a lane, that lane, whose new watermark is not persisted until the batch
    // succeeds (a failed batch's retry would otherwise take its records for on time).
    let seal: readonly string[] = [];
    if (root.version === 0) {
      fire = ctx.fires(ref, fences);
      if (fire && ctx.passing && lanes.includes(ctx.passing.lane)) seal = [ctx.passing.lane];
      if (!fire && ctx.idleFires?.(ref, fences)) {
        fire = true;
        seal = lanes;
      }
    } else {
      partials ??= await readPartials(ctx, ref, lanes);
      fire = [...partials.values()].some((p) => p.dirty);
    }
    let next: StoredWindow | undefined;
    let fileUnder: string | undefined;
    let included: Map<string, StoredPartial> | undefined;
    if (fire) {
      included = partials ?? (await readPartials(ctx, ref, lanes));
      if (seal.length > 0) included = await sealPartials(ctx, ref, seal, included);
      const snapshot = emptyState(ref.aggregation.layout);
      for (const p of included.values()) mergeInto(ref.aggregation.layout, snapshot, p.state);
      next = { state: snapshot, fences: {}, lanes, version: root.version + 1, pending: true, rev: root.rev + 1, filedAs: root.filedAs };
    } else if (ctx.passing && root.pending && root.version === 0) {
      fileUnder = laggardOf(ref, fences, ctx.passing.lane, ctx.passing.watermarks);
      if (fileUnder !== undefined) next = { ...root, rev: root.rev + 1 };
    }
    if (!next) {
      const stale = (root.updatedAt ?? 0) <= ctx.nowMs - ctx.pendingStaleAfterMs;
      if (root.pending && root.version > 0 && stale) emissions.set(id, { ref, stored: root });
      return;
    }
    if ((await ctx.store.writeWindow(ref, next, root.rev, ctx.nowMs, fileUnder)) === 'written') {
      ctx.stats.windowWrites++;
      if (included) {
        emissions.set(id, { ref, stored: { ...next, updatedAt: ctx.nowMs } });
        await clearDirty(ctx, ref, included);
      }
      return;
    }
    await backoff(ctx, attempt, `window ${id}`);
    root = (await ctx.store.getWindows([ref], true)).get(id);
  }
}

/** The partials of a root's lanes, by lane. */
async function readPartials(ctx: SettlementContext, ref: WindowRef, lanes: readonly string[]): Promise<Map<string, StoredPartial>> {
  return partialsOf(
    ref,
    lanes,
    await ctx.store.getPartials(
      lanes.map((lane) => ({ ref, lane })),
      true,
    ),
  );
}

/** A root's partials by lane, from partials keyed by `partialId`. */
function partialsOf(ref: WindowRef, lanes: readonly string[], read: ReadonlyMap<string, StoredPartial>): Map<string, StoredPartial> {
  const out = new Map<string, StoredPartial>();
  for (const lane of lanes) {
    const p = read.get(partialId(ref.aggregation.name, ref.keyJson, ref.start, lane));
    if (p) out.set(lane, p);
  }
  return out;
}

/**
 * Before a firing by idleness (every lane) or by a lane's own batch (that lane): sets `sealed` on each partial of
 * `lanes` with a write conditional on its revision (re-reading one
 * that changed meanwhile), and creates an empty sealed partial for a registered lane that has none yet, so that
 * every later write of those lanes is taken for a correction. Returns the partials as sealed.
 */
async function sealPartials(
  ctx: SettlementContext,
  ref: WindowRef,
  lanes: readonly string[],
  partials: ReadonlyMap<string, StoredPartial>,
): Promise<Map<string, StoredPartial>> {
  const out = new Map(partials);
  for (const lane of lanes) {
    let p = partials.get(lane);
    for (let attempt = 0; !p?.sealed; attempt++) {
      const next: StoredPartial = p ? { ...p, sealed: true, rev: p.rev + 1 } : { state: emptyState(ref.aggregation.layout), rev: 1, sealed: true, dirty: false };
      if ((await ctx.store.writePartial({ ref, lane }, next, p?.rev, ctx.nowMs)) === 'written') {
        p = next;
        break;
      }
      await backoff(ctx, attempt, `partial ${partialId(ref.aggregation.name, ref.keyJson, ref.start, lane)}`);
      p = (await readPartials(ctx, ref, [lane])).get(lane);
    }
    if (p) out.set(lane, p);
  }
  return out;
}

/**
 * After a firing's root write: clears `dirty` on the partials it included, each conditional on the revision it
 * included (a partial changed since stays dirty, to be re-fired). Best effort: a partial left dirty is only re-fired
 * once more, with the same content.
 */
async function clearDirty(ctx: SettlementContext, ref: WindowRef, included: ReadonlyMap<string, StoredPartial>): Promise<void> {
  const dirty = [...included].filter(([, p]) => p.dirty);
  // A failure leaves the partial dirty: the closer's sweep re-fires the window once more.
  await mapSettled(dirty, WRITE_CONCURRENCY, ([lane, p]) => ctx.store.writePartial({ ref, lane }, { ...p, dirty: false, rev: p.rev + 1 }, p.rev, ctx.nowMs));
}

/** Settling the windows a pending-window lookup finds, in either state layout (see window-settlement.ts). */
import type { CompiledAggregation } from '../domain/compiled-spec';
import { refId, windowId, type WindowRef } from '../domain/window-ref';
import { mapSettled } from './concurrency';
import { settleRoot } from './per-shard-settlement';
import type { LogPort, PartialKey, PendingQuery, WindowStore } from './ports';
import { settleWindow, WRITE_CONCURRENCY, type Emissions, type SettlementContext } from './window-settlement';

/** What {@link findPendingRefs} found: each aggregation's pending windows, in spec order. */
export type FoundPending = readonly (readonly WindowRef[])[];

/**
 * Looks up the pending windows of each aggregation that `query(aggregation)` finds (none when it returns undefined),
 * the aggregations' lookups side by side: one round trip a batch, not one an aggregation.
 */
export function findPendingRefs(
  store: WindowStore,
  aggregations: readonly CompiledAggregation[],
  query: (aggregation: CompiledAggregation) => PendingQuery | undefined,
): Promise<FoundPending> {
  return Promise.all(
    aggregations.map(async (agg) => {
      const q = query(agg);
      return q ? (await store.findPending(agg, q)).refs : [];
    }),
  );
}

/**
 * Fires the windows {@link findPendingRefs} found for `aggregations`, skipping those in `exclude` (already settled by
 * the caller). A window that cannot be settled now stays pending for a later pass. Returns how many windows it read.
 */
export async function settleFound(
  ctx: SettlementContext,
  aggregations: readonly CompiledAggregation[],
  found: FoundPending,
  exclude: ReadonlySet<string>,
  emissions: Emissions,
  log?: LogPort,
): Promise<number> {
  const refs: WindowRef[] = [];
  // Not a copy of `exclude` (about a thousand windows a batch settled itself): each id is looked up in both.
  const seen = new Set<string>();
  for (const [i, agg] of aggregations.entries()) {
    for (const ref of found[i]) {
      // A ref the store kept from the batch carries its id; one rebuilt from an item is named the same way.
      const id = ref.id ?? windowId(agg.name, ref.keyJson, ref.start);
      if (!exclude.has(id) && !seen.has(id)) {
        seen.add(id);
        refs.push(ref);
      }
    }
  }
  await settleRefs(ctx, refs, emissions, log);
  return refs.length;
}

/** {@link findPendingRefs}, then {@link settleFound}. */
export async function settlePendingWindows(
  ctx: SettlementContext,
  aggregations: readonly CompiledAggregation[],
  query: (aggregation: CompiledAggregation) => PendingQuery | undefined,
  exclude: ReadonlySet<string>,
  emissions: Emissions,
  log?: LogPort,
): Promise<number> {
  return settleFound(ctx, aggregations, await findPendingRefs(ctx.store, aggregations, query), exclude, emissions, log);
}

/**
 * Settles windows found pending (reads them consistently, fires those the rule fires, re-fires per-shard windows with
 * a dirty partial, collects stale emissions). A per-shard window's several dirty partials are settled once.
 */
export async function settleRefs(ctx: SettlementContext, refs: readonly WindowRef[], emissions: Emissions, log?: LogPort): Promise<void> {
  const unique = new Map<string, WindowRef>();
  for (const ref of refs) unique.set(refId(ref), ref);
  if (unique.size === 0) return;
  const list = [...unique.values()];
  const current = await ctx.store.getWindows(list, true);
  // The per-shard roots' partials, read after the roots and all at once (BatchGetItem, 100 keys a call).
  const keys: PartialKey[] = [];
  for (const ref of list) {
    if (!ref.aggregation.perShard) continue;
    for (const lane of current.get(refId(ref))?.lanes ?? []) keys.push({ ref, lane });
  }
  const partials = keys.length > 0 ? await ctx.store.getPartials(keys, true) : undefined;
  const settled = await mapSettled(list, WRITE_CONCURRENCY, (ref) => {
    const stored = current.get(refId(ref));
    return ref.aggregation.perShard ? settleRoot(ctx, ref, stored, emissions, partials) : settleWindow(ctx, ref, stored, undefined, emissions);
  });
  settled.forEach((r, i) => {
    if (r.status === 'rejected') {
      log?.warn('settling a pending window failed', { aggregation: list[i].aggregation.name, key: list[i].keyJson, error: String(r.reason) });
    }
  });
}

/** The idle closer's pass over session and stagger window sets (see close-idle-windows.ts, key-window-settlement.ts). */
import type { CompiledSpec } from '../domain/compiled-spec';
import type { LaneState } from '../domain/lane';
import { pruneMarkOf } from './key-window-batch';
import { emitAndMarkKeys, settlePendingKeys, type KeyEmissions } from './key-window-settlement';
import type { KeyWindowStore, LogPort, ResultSink } from './ports';
import type { SettlementContext } from './window-settlement';
import type { FiringRule } from '../domain/window-lifecycle';
import type { WindowRef } from '../domain/window-ref';

/** Window sets the closer reads per page. */
export const CLOSER_KEY_PAGE_SIZE = 500;

/**
 * Fires the sets' windows that the closer's rule fires (watermarks, or idle lanes once the lateness has passed in
 * processing time), and emits what their dead writers left pending; the same reach as the windows' pass.
 */
export async function closeIdleKeySets(
  deps: { readonly spec: CompiledSpec; readonly keyStore: KeyWindowStore; readonly results: ResultSink; readonly log?: LogPort; readonly laneIdleTimeoutMs?: number },
  ctx: SettlementContext,
  byWatermarks: FiringRule,
  idle: FiringRule,
  lanes: ReadonlyMap<string, LaneState>,
  watermarks: ReadonlyMap<string, number>,
  deadlineMs: number,
): Promise<{ read: number; emitted: boolean }> {
  const furthest = Math.max(-Infinity, ...watermarks.values());
  const keyCtx = {
    ...ctx,
    // A set holds later windows beside the due one: the processing-time bound the windows' index query applies is
    // applied per window here.
    fires: (ref: WindowRef, fences: Readonly<Record<string, string>>) =>
      byWatermarks(ref, fences) || (ref.end <= ctx.nowMs - ref.aggregation.latenessMs && idle(ref, fences)),
    store: deps.keyStore,
    pruneMark: pruneMarkOf(lanes, watermarks, ctx.nowMs, deps.laneIdleTimeoutMs),
    deadlineMs,
    passing: undefined,
  };
  const emissions: KeyEmissions = new Map();
  const read = await settlePendingKeys(
    keyCtx,
    deps.spec.keyed,
    (agg) => ({ atOrBefore: Math.max(ctx.nowMs - agg.latenessMs, furthest), limit: CLOSER_KEY_PAGE_SIZE, rotation: Math.floor(ctx.nowMs / 60_000) }),
    new Set(),
    emissions,
    deps.log,
  );
  return { read, emitted: await emitAndMarkKeys(keyCtx, deps.results, emissions, deps.log) };
}

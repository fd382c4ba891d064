import type { CompiledSpec } from '../domain/compiled-spec';
import type { LogPort, ResultSink, WindowStore } from './ports';
import {
  DEFAULT_PENDING_STALE_AFTER_MS,
  emitAndMark,
  settlePendingWindows,
  type Emissions,
  type SettlementContext,
  type SettlementStats,
} from './window-settlement';

/** What the idle closer talks to. */
export interface CloserDeps {
  readonly spec: CompiledSpec;
  readonly store: WindowStore;
  readonly results: ResultSink;
  readonly log?: LogPort;
  /** @default DEFAULT_PENDING_STALE_AFTER_MS */
  readonly pendingStaleAfterMs?: number;
}

/** Counters of one closing pass. */
export interface CloserStats extends SettlementStats {
  readonly emissionFailed: boolean;
}

/**
 * Fires every window whose end plus allowed lateness has passed in processing time, and emits versions that a dead
 * writer left pending. Event-time watermarks only move when records arrive, so without this a shard that goes quiet
 * would hold its last windows open for ever.
 *
 * It shares the aggregator's conditional writes: a window fires once, whichever of the two gets there first, and
 * each version is emitted by the one that wrote it.
 */
export async function closeIdleWindows(deps: CloserDeps, nowMs: number): Promise<CloserStats> {
  const stats: SettlementStats = { windowWrites: 0, conflicts: 0, emitted: 0 };
  const ctx: SettlementContext = {
    store: deps.store,
    // Processing time has passed every candidate's end plus lateness: it fires whatever lanes fed it.
    fires: () => true,
    nowMs,
    pendingStaleAfterMs: deps.pendingStaleAfterMs ?? DEFAULT_PENDING_STALE_AFTER_MS,
    stats,
  };
  const emissions: Emissions = new Map();
  await settlePendingWindows(ctx, deps.spec.aggregations, (agg) => nowMs - agg.latenessMs, new Set(), emissions, deps.log);
  const ok = await emitAndMark(deps.store, deps.results, emissions, stats, deps.log);
  return { ...stats, emissionFailed: !ok };
}

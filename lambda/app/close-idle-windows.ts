import type { CompiledSpec } from '../domain/compiled-spec';
import { DEFAULT_LANE_IDLE_TIMEOUT_MS, type LaneState } from '../domain/lane';
import type { FiringRule } from '../domain/window-lifecycle';
import type { LogPort, ResultSink, TimePort, WindowStore } from './ports';
import { DEFAULT_BATCH_BUDGET_MS, virtualTime } from './time';
import {
  DEFAULT_PENDING_STALE_AFTER_MS,
  emitAndMark,
  settlePendingWindows,
  type Emissions,
  type SettlementContext,
  type SettlementStats,
} from './window-settlement';

export { DEFAULT_LANE_IDLE_TIMEOUT_MS };

/** What the idle closer talks to. */
export interface CloserDeps {
  readonly spec: CompiledSpec;
  readonly store: WindowStore;
  readonly results: ResultSink;
  readonly log?: LogPort;
  /** @default DEFAULT_PENDING_STALE_AFTER_MS */
  readonly pendingStaleAfterMs?: number;
  /** @default DEFAULT_LANE_IDLE_TIMEOUT_MS */
  readonly laneIdleTimeoutMs?: number;
  /** @default - a virtual clock from `nowMs` (see {@link virtualTime}) */
  readonly time?: TimePort;
}

/** Counters of one closing pass. */
export interface CloserStats extends SettlementStats {
  readonly emissionFailed: boolean;
}

/**
 * Idle firing: a window fires only once every lane (shard) that fed it has had no batch for the idle timeout. A lane
 * still receiving batches is not idle however far behind wall-clock time its event time is: its own watermark fires
 * its windows, and firing them by processing time would emit a `final` result before all of its records were in.
 * A lane whose last batch time is unknown is not taken for idle.
 */
export function idleFiring(lanes: ReadonlyMap<string, LaneState>, nowMs: number, idleTimeoutMs: number): FiringRule {
  return (_ref, fences) => {
    let fed = 0;
    for (const lane in fences) {
      fed++;
      const at = lanes.get(lane)?.lastBatchAt;
      if (at === undefined || at > nowMs - idleTimeoutMs) return false;
    }
    return fed > 0;
  };
}

/**
 * Fires every window whose end plus allowed lateness has passed in processing time and whose lanes are all idle (see
 * {@link idleFiring}), and emits versions that a dead writer left pending. Event-time watermarks only move when
 * records arrive, so without this a shard that goes quiet would hold its last windows open for ever.
 *
 * It shares the aggregator's conditional writes: a window fires once, whichever of the two gets there first, and
 * each version is emitted by the one that wrote it.
 */
export async function closeIdleWindows(deps: CloserDeps, nowMs: number, deadlineMs?: number): Promise<CloserStats> {
  const stats: SettlementStats = { windowWrites: 0, conflicts: 0, emitted: 0 };
  const lanes = await deps.store.readLanes();
  const ctx: SettlementContext = {
    store: deps.store,
    fires: idleFiring(lanes, nowMs, deps.laneIdleTimeoutMs ?? DEFAULT_LANE_IDLE_TIMEOUT_MS),
    nowMs,
    pendingStaleAfterMs: deps.pendingStaleAfterMs ?? DEFAULT_PENDING_STALE_AFTER_MS,
    stats,
    time: deps.time ?? virtualTime(nowMs),
    deadlineMs: deadlineMs ?? nowMs + DEFAULT_BATCH_BUDGET_MS,
  };
  const emissions: Emissions = new Map();
  await settlePendingWindows(ctx, deps.spec.aggregations, (agg) => nowMs - agg.latenessMs, new Set(), emissions, deps.log);
  const ok = await emitAndMark(deps.store, deps.results, emissions, stats, deps.log);
  return { ...stats, emissionFailed: !ok };
}

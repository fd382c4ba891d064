import type { CompiledSpec } from '../domain/compiled-spec';
import { DEFAULT_LANE_IDLE_TIMEOUT_MS, type LaneState } from '../domain/lane';
import { eventTimeFiring, type FiringRule } from '../domain/window-lifecycle';
import type { KeyWindowStore, LogPort, ResultSink, TimePort, WindowStore } from './ports';
import { closeIdleKeySets } from './close-idle-key-sets';
import { settleRefs } from './settle-pending';
import { DEFAULT_BATCH_BUDGET_MS, virtualTime } from './time';
import {
  DEFAULT_PENDING_STALE_AFTER_MS,
  emitAndMark,
  type Emissions,
  type SettlementContext,
  type SettlementStats,
} from './window-settlement';

export { DEFAULT_LANE_IDLE_TIMEOUT_MS };

/** What the idle closer talks to. */
export interface CloserDeps {
  readonly spec: CompiledSpec;
  readonly store: WindowStore;
  /** The window sets of session and stagger aggregations; needed only when the spec has any. */
  readonly keyStore?: KeyWindowStore;
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
  /** Pending windows read from the index. */
  readonly windowsRead: number;
  /** Pages read, each settled and emitted before the next. */
  readonly pages: number;
  /** The pass stopped at its deadline or its item budget, leaving windows for the next pass. */
  readonly truncated: boolean;
}

/** Pending windows the closer reads per page; each page is settled and emitted before the next is read. */
export const CLOSER_PAGE_SIZE = 500;
/** Pending windows one closing pass reads at most, so that a pass is bounded whatever the backlog. */
export const CLOSER_MAX_WINDOWS_PER_PASS = 20_000;
/** Time kept back from the deadline to settle and emit the last page read. */
export const CLOSER_PAGE_MARGIN_MS = 5_000;

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
  const idle = idleFiring(lanes, nowMs, deps.laneIdleTimeoutMs ?? DEFAULT_LANE_IDLE_TIMEOUT_MS);
  const watermarks = new Map<string, number>();
  for (const [lane, s] of lanes) if (s.watermark !== undefined) watermarks.set(lane, s.watermark);
  // Event-time firing as well: a batch looks only at the windows its own watermark passes, so a window two lanes passed
  // at the same moment (each reading the other's older watermark) is left for this sweep.
  const byWatermarks = eventTimeFiring(watermarks);
  // Idle firing reaches windows whose lateness has passed in processing time; event-time firing, and versions left
  // unemitted, up to the furthest watermark.
  const furthest = Math.max(-Infinity, ...watermarks.values());
  const time = deps.time ?? virtualTime(nowMs);
  const deadline = deadlineMs ?? nowMs + DEFAULT_BATCH_BUDGET_MS;
  const ctx: SettlementContext = {
    store: deps.store,
    fires: byWatermarks,
    idleFires: idle,
    nowMs,
    pendingStaleAfterMs: deps.pendingStaleAfterMs ?? DEFAULT_PENDING_STALE_AFTER_MS,
    stats,
    time,
    deadlineMs: deadline,
  };
  let windowsRead = 0;
  let pages = 0;
  let truncated = false;
  let ok = true;
  const budget = CLOSER_MAX_WINDOWS_PER_PASS;
  for (const agg of deps.spec.aggregations) {
    let cursor: string | undefined;
    do {
      if (windowsRead >= budget || time.now() >= deadline - CLOSER_PAGE_MARGIN_MS) {
        truncated = true;
        break;
      }
      const page = await deps.store.findPending(agg, { atOrBefore: Math.max(nowMs - agg.latenessMs, furthest), limit: Math.min(CLOSER_PAGE_SIZE, budget - windowsRead), cursor, rotation: Math.floor(nowMs / 60_000) });
      pages++;
      windowsRead += page.refs.length;
      cursor = page.cursor;
      // Emitted page by page: a pass that stops early has delivered what it settled.
      const emissions: Emissions = new Map();
      await settleRefs(ctx, page.refs, emissions, deps.log);
      ok = (await emitAndMark(deps.store, deps.results, emissions, stats, deps.log)) && ok;
    } while (cursor);
    if (truncated) break;
  }
  if (!truncated && deps.keyStore && deps.spec.keyed.length > 0) {
    const keyed = await closeIdleKeySets({ ...deps, keyStore: deps.keyStore }, ctx, byWatermarks, idle, lanes, watermarks, Math.min(deadline, deadline - CLOSER_PAGE_MARGIN_MS));
    windowsRead += keyed.read;
    ok = keyed.emitted && ok;
  }
  if (truncated) deps.log?.warn('closing pass stopped before the end of the pending windows', { windowsRead, pages });
  return { ...stats, emissionFailed: !ok, windowsRead, pages, truncated };
}

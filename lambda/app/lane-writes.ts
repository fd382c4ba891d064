/** The lane item's writes of a batch: its conditional update, and the record of a failed batch. */
import { EMPTY_LANE, type InFlight, type LaneState } from '../domain/lane';
import type { BatchDeps } from './batch-types';
import type { SourceRecord, TimePort, WindowStore } from './ports';
import { conflictBackoffMs, DeadlineExceededError } from './window-settlement';

/** Where a record stands, as the lane's in-flight mark keeps it. */
export function inFlightOf(r: SourceRecord): InFlight {
  return { sequenceNumber: r.sequenceNumber, position: r.position };
}

/**
 * Writes the lane's item with a conditional write on its revision; a conflict (a redrive running beside the event
 * source mapping) re-reads and applies `change` again.
 */
export async function updateLane(
  store: WindowStore,
  lane: string,
  state: LaneState,
  time: TimePort,
  deadlineMs: number,
  change: (cur: LaneState) => LaneState,
): Promise<LaneState> {
  let cur = state;
  for (let attempt = 0; ; attempt++) {
    const next = { ...change(cur), rev: cur.rev + 1 };
    if ((await store.writeLane(lane, next, cur.rev)) === 'written') return next;
    const delay = conflictBackoffMs(attempt, time.random);
    if (time.now() + delay >= deadlineMs) throw new DeadlineExceededError(`lane ${lane}: conflicting writes until the deadline`);
    await time.sleep(delay);
    cur = (await store.readLanes()).get(lane) ?? EMPTY_LANE;
  }
}

/**
 * Records that the lane had a batch now, even a failed one, so that the idle closer does not take a shard stuck on a
 * retried batch for an idle one; with skip detection, also where the mapping will resume. Best effort: the batch
 * is failing anyway.
 */
export async function touchLane(
  deps: BatchDeps,
  lane: string,
  state: LaneState,
  time: TimePort,
  deadlineMs: number,
  nowMs: number,
  resumeAt: InFlight | undefined,
): Promise<void> {
  try {
    await updateLane(deps.store, lane, state, time, deadlineMs, (cur) => ({
      ...cur,
      lastBatchAt: Math.max(cur.lastBatchAt ?? 0, nowMs),
      inFlight: resumeAt ?? cur.inFlight,
    }));
  } catch (e) {
    deps.log?.warn('recording the failed batch on its lane failed', { shardId: lane, error: String(e) });
  }
}

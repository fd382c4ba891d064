import type { Position } from './sequence';

/**
 * A lane is one ordered source of records: a shard. Its item records how far the aggregator got with it, so that
 * - the idle closer can tell an idle shard (no batch for a while) from a busy one that is behind in event time;
 * - with bounded retries (opt-in), a range the event source mapping gave up on can be told apart from records that
 *   were applied, before any fence moves past it.
 */

/** A range of one lane's records: from `from` (inclusive) up to just before `before`. */
export interface LaneRange {
  readonly from: Position;
  readonly before: Position;
}

/** The first record of the batch in flight: where the event source mapping resumes if the batch fails. */
export interface InFlight {
  readonly sequenceNumber: string;
  readonly position: Position;
}

/** What is kept of a lane. */
export interface LaneState {
  /** Largest event time the lane has delivered (epoch ms); absent before its first applied record. */
  readonly watermark?: number;
  /** Processing time of the lane's last batch, successful or not (epoch ms). */
  readonly lastBatchAt?: number;
  /** The last record of the last batch applied in full: every record of the lane up to here has been applied. */
  readonly applied?: Position;
  /** Skip detection only: the first record not yet known applied of a batch that was attempted. */
  readonly inFlight?: InFlight;
  /** Ranges the event source mapping skipped and the aggregator re-read from the stream and applied (newest last). */
  readonly repaired: readonly LaneRange[];
  /** Ranges the event source mapping skipped that were no longer in the stream: never applied (newest last). */
  readonly lost: readonly LaneRange[];
  /** Write count; every lane write is conditional on it. */
  readonly rev: number;
}

/** How long a lane must have had no batch before the idle closer takes it for idle, when none is configured. */
export const DEFAULT_LANE_IDLE_TIMEOUT_MS = 60_000;

/** Ranges kept per list: enough for every redrive of the failure queue's retention, small enough for one item. */
export const MAX_LANE_RANGES = 32;

/** A lane never written. */
export const EMPTY_LANE: LaneState = { repaired: [], lost: [], rev: 0 };

/**
 * A position just after `p` and before every later position: positions are fixed-format strings of which none is a
 * prefix of another, so any later position differs from `p` at a character where it is greater. Before any position
 * when `p` is undefined.
 */
export function justAfter(p: Position | undefined): Position {
  return p === undefined ? '' : `${p}!`;
}

/** Appends a range to a bounded list, dropping the oldest. */
export function withRange(list: readonly LaneRange[], range: LaneRange): LaneRange[] {
  return [...list, range].slice(-MAX_LANE_RANGES);
}

/**
 * The range the event source mapping skipped before a batch starting at `first`, if any. A retry starts at or before
 * the first record not yet applied (the in-flight mark); a batch that starts past it means the mapping gave up on
 * the records from the mark to just before `first`.
 */
export function skippedBefore(lane: LaneState, first: Position): InFlight | undefined {
  return lane.inFlight && first > lane.inFlight.position ? lane.inFlight : undefined;
}

/** Where a redriven range stands. */
export type RedriveVerdict = { ok: true } | { ok: false; reason: string };

/**
 * Whether records `[from, to]` of a lane may be re-fed by a redrive. Records past the lane's applied mark were never
 * applied in order, so re-feeding them is what the event source mapping would have done. Records at or below it were
 * applied (re-feeding them changes nothing), unless the mapping skipped them unseen, which only a record-age bound
 * can do (`unseenSkipsPossible`): then only a range the aggregator itself repaired is known to be counted.
 */
export function redriveVerdict(lane: LaneState, from: Position, to: Position, unseenSkipsPossible: boolean): RedriveVerdict {
  const lost = lane.lost.find((r) => r.from <= to && from < r.before);
  if (lost) return { ok: false, reason: `the range overlaps a range recorded as lost (from ${lost.from} up to ${lost.before})` };
  if (lane.applied === undefined || from > lane.applied) return { ok: true };
  if (lane.repaired.some((r) => r.from <= from && to < r.before)) return { ok: true };
  if (!unseenSkipsPossible) return { ok: true };
  return {
    ok: false,
    reason:
      `later records of the shard (up to ${lane.applied}) were applied after the event source mapping skipped this range ` +
      'unseen: the windows have moved past it, so re-feeding it could count only part of it or send it to the late sink',
  };
}

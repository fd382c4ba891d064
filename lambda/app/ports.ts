import type { CompiledAggregation } from '../domain/compiled-spec';
import type { WindowRef } from '../domain/window-ref';
import type { LaneState } from '../domain/lane';
import type { Position } from '../domain/sequence';
import type { StoredPartial, StoredWindow } from '../domain/window-lifecycle';
import type { WindowResult } from '../domain/window-result';
import type { KeyWindowSet } from '../domain/key-windows';
import { ItemBudgetExceededError } from './errors';

export { ItemBudgetExceededError };

/** One user record as delivered by the stream (a KPL aggregate yields several). */
export interface SourceRecord {
  /** The Kinesis record's sequence number: what a partial batch response reports. */
  readonly sequenceNumber: string;
  /** KPL sub-sequence number; 0 for a plain record. */
  readonly subSequenceNumber: number;
  /** `positionOf(sequenceNumber, subSequenceNumber)`: the batch code orders records by either (prepare-batch.ts). */
  readonly position: Position;
  readonly partitionKey: string;
  /** The payload as UTF-8 text, for parsing. */
  readonly payload: string;
  /** The payload as delivered, base64, kept for the errors sink so that nothing is lost to a decoding problem. */
  readonly payloadBase64: string;
  /**
   * When the record reached the stream (Kinesis ApproximateArrivalTimestamp), epoch ms: the reference of the
   * event-time future bound. Absent when unknown (the bound is then not checked).
   */
  readonly arrivalMs?: number;
  /** Set when the record could not be decoded (for example a corrupt KPL aggregate). */
  readonly decodeError?: string;
}

/** Which pending windows {@link WindowStore.findPending} returns. */
export interface PendingQuery {
  /** Only windows ending after this (epoch ms); absent: no lower bound. */
  readonly after?: number;
  /** Only windows ending at or before this (epoch ms). */
  readonly atOrBefore: number;
  /**
   * Only (at least) the windows this lane created: a store may return more. Absent: every lane's.
   */
  readonly lane?: string;
  /** At most about this many windows (a page may hold a few more); absent: every one. */
  readonly limit?: number;
  /** Where the previous page stopped. */
  readonly cursor?: string;
  /**
   * Paged queries only: a number that varies from pass to pass (the closer passes its clock), so that a pass that
   * stops at its budget does not always read the same windows first.
   */
  readonly rotation?: number;
}

/** A page of pending windows. */
export interface PendingPage {
  readonly refs: WindowRef[];
  /** Set when more windows may follow: the cursor of the next page. */
  readonly cursor?: string;
}

/** A lane's partial of a window kept in per-shard state. */
export interface PartialKey {
  readonly ref: WindowRef;
  readonly lane: string;
}

/** The outcome of a conditional window write. */
export type WriteOutcome = 'written' | 'conflict';

/** Window state and per-lane progress. */
export interface WindowStore {
  /** Every lane's state (watermark, last batch, applied mark); a lane is absent before its first batch. */
  readLanes(): Promise<Map<string, LaneState>>;
  /** Writes a lane's state if its revision is still `expectedRev` (0: never written). */
  writeLane(lane: string, next: LaneState, expectedRev: number): Promise<WriteOutcome>;
  /** Reads windows by id; absent ones are missing from the map. */
  getWindows(refs: readonly WindowRef[], consistent: boolean): Promise<Map<string, StoredWindow>>;
  /**
   * Writes a window if its revision is still `expectedRev` (undefined: if it does not exist), stamping `updatedAt`. A
   * window is filed for {@link findPending} under `fileUnder` when given (a lane that has still to pass its end), else
   * it keeps the lane it is filed under (a new window: the lane of its first fence).
   */
  writeWindow(ref: WindowRef, next: StoredWindow, expectedRev: number | undefined, nowMs: number, fileUnder?: string): Promise<WriteOutcome>;
  /**
   * Pending windows (open, or fired and not yet emitted) of an aggregation whose end is in `(after, atOrBefore]`, a
   * page at a time when `limit` is set (pass the returned cursor back for the next page; none: the last page).
   */
  findPending(aggregation: CompiledAggregation, query: PendingQuery): Promise<PendingPage>;
  /** Clears `pending` if the window is still at `version`. */
  markEmitted(ref: WindowRef, version: number): Promise<void>;
  /**
   * Per-shard state: reads partials; the map is keyed by `partialId(ref, lane)` (window-ref.ts), absent ones missing.
   */
  getPartials(keys: readonly PartialKey[], consistent: boolean): Promise<Map<string, StoredPartial>>;
  /**
   * Per-shard state: writes a partial if its revision is still `expectedRev` (undefined: if it does not exist). A
   * dirty partial is filed in the `pending` index (under its lane's bucket, at the window's end), a clean one is not.
   */
  writePartial(key: PartialKey, next: StoredPartial, expectedRev: number | undefined, nowMs: number): Promise<WriteOutcome>;
  /**
   * Per-shard state: adds `lane` to the lanes of the window's root item and bumps its revision, creating the root
   * (version 0, pending, filed under `lane`) if it does not exist. Returns the root's version after the update.
   */
  registerLane(ref: WindowRef, lane: string, nowMs: number): Promise<{ version: number }>;
}

/** Where window results go (the results Firehose). Throws when it cannot deliver after its own retries. */
export interface ResultSink {
  emit(results: readonly WindowResult[]): Promise<void>;
}

/** Where rejected records go (the errors sink, the late-data sink). Writing the same name again overwrites. */
export interface RecordSink {
  write(name: string, entries: readonly object[]): Promise<void>;
}

/** Structured logging, so the use case stays independent of a logging library. */
export interface LogPort {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/**
 * Reads a range of a shard back from the stream, for a range the event source mapping skipped. Throws when the stream
 * cannot be read now (the batch then fails and is retried).
 */
export interface StreamReader {
  /**
   * The user records of Kinesis records from `fromSequenceNumber` (inclusive) up to before `beforeSequenceNumber`, in
   * order. `trimmed` is true when records at the start of the range have left the stream: only the rest is returned.
   */
  readRange(
    streamArn: string,
    shardId: string,
    fromSequenceNumber: string,
    beforeSequenceNumber: string,
  ): Promise<{ records: SourceRecord[]; trimmed: boolean }>;
}

/** Processing time, injected: the clock, a sleep and a random source (for jitter). */
export interface TimePort {
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  /** Uniform in [0, 1), for jitter; a property so that it can be passed on unbound. */
  readonly random: () => number;
}

/** A page of keys whose per-key windows have something pending (see {@link KeyWindowStore.findPendingKeys}). */
export interface PendingKeysPage {
  readonly keys: string[];
  readonly cursor?: string;
}

/**
 * The window sets of per-key aggregations (session, stagger): one per (aggregation, key), holding all of the key's
 * live windows (see lambda/domain/key-windows.ts).
 */
export interface KeyWindowStore {
  /** Reads keys' window sets; absent ones are missing from the map (keyed by key JSON). */
  getKeySets(aggregation: CompiledAggregation, keyJsons: readonly string[], consistent: boolean): Promise<Map<string, KeyWindowSet>>;
  /**
   * Writes a key's window set if its revision is still `expectedRev` (0: if it does not exist), stamping `updatedAt`.
   * A set with a pending window is filed in the pending index under its next due end and `next.filedUnder`.
   */
  writeKeySet(aggregation: CompiledAggregation, keyJson: string, next: KeyWindowSet, expectedRev: number, nowMs: number): Promise<WriteOutcome>;
  /** Keys whose next due end is in `(after, atOrBefore]` (see {@link WindowStore.findPending}). */
  findPendingKeys(aggregation: CompiledAggregation, query: PendingQuery): Promise<PendingKeysPage>;
}

/** The batch use case's inputs, dependencies and outcome (see process-batch.ts). */
import type { CompiledSpec } from '../domain/compiled-spec';
import type { KeyWindowStore, LogPort, RecordSink, ResultSink, SourceRecord, StreamReader, TimePort, WindowStore } from './ports';

/** Everything the use case talks to. */
export interface BatchDeps {
  readonly spec: CompiledSpec;
  readonly store: WindowStore;
  /** The window sets of per-key aggregations (session, stagger); needed only when the spec has any. */
  readonly keyStore?: KeyWindowStore;
  readonly results: ResultSink;
  readonly errors: RecordSink;
  readonly late: RecordSink;
  readonly log?: LogPort;
  /** @default DEFAULT_PENDING_STALE_AFTER_MS */
  readonly pendingStaleAfterMs?: number;
  /**
   * Processing time for backoffs; the composition root injects the real clock.
   * @default - a virtual clock that starts at the batch's `nowMs` and moves only by its own sleeps
   */
  readonly time?: TimePort;
  /**
   * Detect ranges the event source mapping skipped (needed only when it may give up a batch: bounded retries or
   * record age). Each batch then records its first record on the lane before it writes any window.
   * @default false
   */
  readonly skipDetection?: boolean;
  /** Re-reads a skipped range from the stream; without one, a skipped range is recorded as lost. */
  readonly streamReader?: StreamReader;
  /**
   * The event source mapping may skip records it never delivered (a bounded record age): a redrive of a range behind
   * the shard's applied mark that the aggregator did not repair is then refused, since it may never have been counted.
   * @default false
   */
  readonly unseenSkipsPossible?: boolean;
}

/** One delivery of the stream: records of one shard (the lane), in order. */
export interface BatchInput {
  readonly lane: string;
  readonly records: readonly SourceRecord[];
  /** The stream the records come from (the records' `eventSourceARN`), to re-read a skipped range. */
  readonly streamArn?: string;
  /** Processing time by which conflicting writes stop retrying. @default nowMs + DEFAULT_BATCH_BUDGET_MS */
  readonly deadlineMs?: number;
  /**
   * The records are a redrive of a range the event source mapping gave up on: they are re-fed only if that is exact
   * (see {@link redriveVerdict}); otherwise the batch is refused, and reported as failed.
   */
  readonly redrive?: boolean;
}

/** Counters of one batch, for logs and metrics. */
export interface BatchStats {
  records: number;
  valid: number;
  invalid: number;
  lateRecords: number;
  windowsTouched: number;
  windowWrites: number;
  conflicts: number;
  emitted: number;
  /** Records of a skipped range re-read from the stream and applied (absent: none). */
  repairedRecords?: number;
  /** Skipped ranges no longer in the stream, recorded as lost (absent: none). */
  lostRanges?: number;
}

/** The outcome of a batch: when set, the sequence number from which the stream must redeliver. */
export interface BatchOutcome {
  readonly failedSequenceNumber?: string;
  readonly watermark?: number;
  readonly stats: BatchStats;
  /** Why a redrive was refused (its records were not applied, and are reported as failed). */
  readonly refused?: string;
}

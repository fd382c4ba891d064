/** Errors of the operations tools (producer, query, CLI input). */
import type { FailedRecord } from './producer';

/** Thrown by `flush`/`close` when records still failed after the retry bound; they are in `failed`. */
export class UndeliveredRecordsError extends Error {
  constructor(readonly failed: readonly FailedRecord[]) {
    super(`${failed.length} record(s) could not be written to Kinesis after retries`);
    this.name = 'UndeliveredRecordsError';
  }
}

/** A query the spec cannot answer; the message lists the valid choices. */
export class QueryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QueryError';
  }
}

/**
 * An input line that is not a usable event. Nothing from that line on was sent: every line before it was (or is in
 * the failed-records file), so resuming with `--from-line <line>` after fixing it sends each record exactly once.
 */
export class InvalidInputError extends Error {
  constructor(
    /** The input file, or `-` for stdin. */
    readonly file: string,
    /** The 1-based line number. */
    readonly line: number,
    /** Why the line is not usable. */
    readonly reason: string,
  ) {
    super(
      `${file === '-' ? 'stdin' : file}: line ${line}: ${reason}. Lines before ${line} were sent, nothing from line ${line} on: ` +
        `fix the line and resume exactly with --from-line ${line}, or pass --skip-invalid to skip such lines.`,
    );
    this.name = 'InvalidInputError';
  }
}

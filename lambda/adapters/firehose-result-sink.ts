import { PutRecordBatchCommand, type FirehoseClient } from '@aws-sdk/client-firehose';
import type { ResultSink } from '../app/ports';
import type { WindowResult } from '../domain/window-result';
import { sendWithRetries, type BackoffOptions } from '../support/backoff';
import { chunkByLimits } from '../support/chunk';

/** PutRecordBatch takes at most 500 records. @see https://docs.aws.amazon.com/firehose/latest/APIReference/API_PutRecordBatch.html */
export const MAX_RECORDS_PER_PUT_BATCH = 500;
/** PutRecordBatch takes at most 4 MiB in one call. @see https://docs.aws.amazon.com/firehose/latest/dev/limits.html */
export const MAX_BYTES_PER_PUT_BATCH = 4 * 1024 * 1024;
/** A Firehose record is at most 1,000 KiB before base64. @see https://docs.aws.amazon.com/firehose/latest/dev/limits.html */
export const MAX_FIREHOSE_RECORD_BYTES = 1000 * 1024;
/** Firehose bills ingestion per record rounded up to 5 KB, which is why results are packed. @see https://aws.amazon.com/firehose/pricing/ */
export const FIREHOSE_BILLING_INCREMENT_BYTES = 5 * 1024;

/** Options of the results sink. */
export interface FirehoseResultSinkOptions extends BackoffOptions {
  readonly deliveryStreamName: string;
  /**
   * Size cap of one packed Firehose record (newline-delimited results). Large records cost least, since each is billed
   * rounded up to 5 KB; smaller ones reach S3 in smaller objects on emulators that write one object per record.
   * @default MAX_FIREHOSE_RECORD_BYTES
   */
  readonly maxRecordBytes?: number;
}

/** Packs newline-terminated lines into records of at most `maxBytes`. */
export function packLines(lines: readonly string[], maxBytes: number): Buffer[] {
  const records: Buffer[] = [];
  let parts: string[] = [];
  let size = 0;
  for (const line of lines) {
    const bytes = Buffer.byteLength(line) + 1;
    if (bytes > maxBytes) throw new Error(`a window result of ${bytes} bytes exceeds the ${maxBytes}-byte record cap`);
    if (size + bytes > maxBytes) {
      records.push(Buffer.from(parts.join('')));
      parts = [];
      size = 0;
    }
    parts.push(line, '\n');
    size += bytes;
  }
  if (parts.length > 0) records.push(Buffer.from(parts.join('')));
  return records;
}

/** Groups records into PutRecordBatch calls within the record-count and byte limits. */
export function chunkForPutBatch(records: readonly Buffer[]): Buffer[][] {
  return chunkByLimits(records, MAX_RECORDS_PER_PUT_BATCH, MAX_BYTES_PER_PUT_BATCH, (r) => r.length);
}

/**
 * Emits window results to a Firehose delivery stream as newline-delimited JSON, packed into as few records as the
 * limits allow. Retries only the entries Firehose reports as failed; throws when some still fail after the bound, so
 * that the caller keeps the windows pending and they are emitted again.
 */
export class FirehoseResultSink implements ResultSink {
  constructor(
    private readonly client: FirehoseClient,
    private readonly opts: FirehoseResultSinkOptions,
  ) {}

  async emit(results: readonly WindowResult[]): Promise<void> {
    const records = packLines(
      results.map((r) => JSON.stringify(r)),
      this.opts.maxRecordBytes ?? MAX_FIREHOSE_RECORD_BYTES,
    );
    let undelivered = 0;
    for (const call of chunkForPutBatch(records)) {
      const left = await sendWithRetries(call, (batch) => this.put(batch), this.opts);
      undelivered += left.length;
    }
    if (undelivered > 0) {
      throw new Error(`${undelivered} Firehose record(s) of window results still failed after retries`);
    }
  }

  private async put(batch: readonly Buffer[]): Promise<number[]> {
    try {
      const res = await this.client.send(
        new PutRecordBatchCommand({
          DeliveryStreamName: this.opts.deliveryStreamName,
          Records: batch.map((Data) => ({ Data })),
        }),
      );
      if (!res.FailedPutCount) return [];
      const failed: number[] = [];
      (res.RequestResponses ?? []).forEach((r, i) => r.ErrorCode && failed.push(i));
      // A count without per-entry codes cannot say which failed: resending all is safe, results carry ids.
      return failed.length > 0 ? failed : batch.map((_, i) => i);
    } catch {
      // The SDK has already retried throttling and transient errors; from here the whole call counts as failed.
      return batch.map((_, i) => i);
    }
  }
}

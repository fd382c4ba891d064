import { PutRecordsCommand, type KinesisClient, type PutRecordsResultEntry } from '@aws-sdk/client-kinesis';

/** What a put landed as: the shard and sequence number Kinesis assigned. */
export interface PutReceipt {
  readonly shardId: string;
  readonly sequenceNumber: string;
}

/** One PutRecords request entry, with its data already in bytes. */
export interface RequestEntry {
  readonly PartitionKey: string;
  readonly Data: Uint8Array;
}

/** The outcome of one PutRecords call, entry by entry. */
export interface CallOutcome {
  /** Indexes (into the request) of the entries that were not written, in order. */
  readonly failed: readonly number[];
  /** The error of each failed entry, aligned with `failed`. */
  readonly errors: readonly string[];
  /** The response's entries, index for index with the request; absent when the whole call failed. */
  readonly results?: readonly PutRecordsResultEntry[];
}

/** Every entry of a call failed with one error. */
function everyEntry(count: number, error: string): CallOutcome {
  return { failed: Array.from({ length: count }, (_, i) => i), errors: Array.from({ length: count }, () => error) };
}

/**
 * One PutRecords call. An error thrown by the client (after the SDK's own retries of what it considers transient)
 * fails every entry; so does a response that does not account for each entry (a count of failures with no failed
 * entry, or fewer results than records), since a record no response calls written must be treated as not written.
 */
export async function putRecordsCall(client: KinesisClient, streamName: string, requests: readonly RequestEntry[]): Promise<CallOutcome> {
  let res;
  try {
    res = await client.send(new PutRecordsCommand({ StreamName: streamName, Records: requests as RequestEntry[] }));
  } catch (e) {
    const err = e as Error;
    return everyEntry(requests.length, `${err.name}: ${err.message}`);
  }
  const results = res.Records ?? [];
  if (results.length !== requests.length) {
    return everyEntry(requests.length, `PutRecords answered ${results.length} results for ${requests.length} records`);
  }
  const failed: number[] = [];
  const errors: string[] = [];
  for (let i = 0; i < results.length; i++) {
    const r = results[i];
    if (!r.ErrorCode) continue;
    failed.push(i);
    errors.push(r.ErrorMessage ? `${r.ErrorCode}: ${r.ErrorMessage}` : r.ErrorCode);
  }
  if ((res.FailedRecordCount ?? 0) > 0 && failed.length === 0) {
    return everyEntry(requests.length, `FailedRecordCount ${res.FailedRecordCount} without failed entries`);
  }
  return { failed, errors, results };
}

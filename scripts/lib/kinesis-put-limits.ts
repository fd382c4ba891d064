import { Buffer } from 'node:buffer';

/**
 * The PutRecords limits a producer must keep, and the checks of one record against them: one definition, shared by the
 * producer and its tests.
 */

/** PutRecords takes at most 500 records per call. @see https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecords.html */
export const MAX_PUT_RECORDS_ENTRIES = 500;
/** PutRecords takes at most 5 MiB per call, partition keys included. @see https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecords.html */
export const MAX_PUT_RECORDS_BYTES = 5 * 1024 * 1024;
/** A record's data blob plus partition key is at most 1 MiB by default. @see https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html */
export const MAX_RECORD_BYTES = 1024 * 1024;
/**
 * A partition key is 1 to 256 Unicode characters; one outside that range fails the whole PutRecords call.
 * @see https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecordsRequestEntry.html
 */
export const MAX_PARTITION_KEY_CHARS = 256;

/** UTF-8 spends at most 3 bytes per UTF-16 code unit (a surrogate pair, two units, takes 4). */
const MAX_UTF8_BYTES_PER_UNIT = 3;

/**
 * Whether a partition key has 1 to 256 Unicode characters. A string of at most 256 UTF-16 units has at most 256
 * characters, so only longer ones are counted: spreading every key into an array to count it was the producer's
 * largest per-record cost (P6).
 */
export function partitionKeyOk(key: unknown): key is string {
  if (typeof key !== 'string' || key.length === 0) return false;
  return key.length <= MAX_PARTITION_KEY_CHARS || countChars(key) <= MAX_PARTITION_KEY_CHARS;
}

/** Code points of a string, counted without building an array (a lone surrogate counts as one, as spreading does). */
export function countChars(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

/** Strings up to this many UTF-16 units are sized by their bound; longer ones are measured. */
const BOUND_STRINGS_UP_TO = 1024;

/**
 * A data string's UTF-8 size, or an upper bound of it for a short string. Measuring every record with
 * `Buffer.byteLength` cost the producer more than anything else it does per record (P6); a bound is as good as the
 * size wherever it stays under a limit, and it stays far under them for short strings: 500 of them, with keys of up
 * to 256 units, bound to at most 1.9 MB of a call's 5 MiB. Longer strings are measured, so that calls of large
 * records still fill to the limit.
 */
export function utf8SizeBound(s: string): number {
  return s.length <= BOUND_STRINGS_UP_TO ? s.length * MAX_UTF8_BYTES_PER_UNIT : Buffer.byteLength(s);
}

/** A record's size against the limits: its partition key in UTF-8 plus its data. */
export function exactRecordSize(partitionKey: string, data: string | Uint8Array): number {
  return Buffer.byteLength(partitionKey) + (typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength);
}

/**
 * A record's size against the limits, from its data's size, or an upper bound of it that is only made exact when the
 * bound would cross `limit` (see {@link utf8SizeBound}).
 */
export function recordSize(partitionKey: string, dataBytes: number, limit: number = MAX_RECORD_BYTES): number {
  const bound = partitionKey.length * MAX_UTF8_BYTES_PER_UNIT + dataBytes;
  return bound <= limit ? bound : Buffer.byteLength(partitionKey) + dataBytes;
}

/** Why a partition key is refused. */
export function partitionKeyError(key: unknown): string {
  const chars = typeof key === 'string' ? countChars(key) : 0;
  return `InvalidPartitionKey: ${chars} characters, outside the 1–${MAX_PARTITION_KEY_CHARS} Kinesis allows`;
}

/** Why a record over the size limit is refused. */
export function recordSizeError(size: number): string {
  return `RecordTooLarge: ${size} bytes exceeds the ${MAX_RECORD_BYTES}-byte Kinesis limit`;
}

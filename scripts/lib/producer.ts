import { KinesisClient, PutRecordsCommand, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import { chunkByLimits } from '../../lambda/support/chunk';
import { backoffDelay, realSleep, type BackoffOptions } from '../../lambda/support/backoff';
import { aggregateKpl } from './kpl-aggregate';
import { UndeliveredRecordsError } from './errors';

export { UndeliveredRecordsError };

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
/**
 * User records buffered before an aggregating producer flushes on its own. KPL aggregation only pays off when many
 * records share a call, and a flush of this many small records still fits a few PutRecords calls.
 */
export const DEFAULT_AGGREGATE_BATCH_SIZE = 5000;

/** One record to write. */
export interface ProducerRecord {
  readonly partitionKey: string;
  readonly data: string | Uint8Array;
}

/** A record that could not be written, with the last error Kinesis (or the SDK) gave for it. */
export interface FailedRecord extends ProducerRecord {
  readonly error: string;
}

/** What a put landed as: the shard and sequence number Kinesis assigned. */
export interface PutReceipt {
  readonly shardId: string;
  readonly sequenceNumber: string;
}

/** Options of the {@link Producer}. */
export interface ProducerOptions extends BackoffOptions {
  readonly streamName: string;
  /**
   * Records buffered before `put` flushes on its own. Counts user records when aggregating.
   * @default 500, or {@link DEFAULT_AGGREGATE_BATCH_SIZE} with `aggregate`
   */
  readonly batchSize?: number;
  /**
   * Pack records into KPL-format aggregated Kinesis records, one group per partition key, so that many small
   * records cost one Kinesis record. The aggregator de-aggregates them. @default false
   */
  readonly aggregate?: boolean;
  /** Called with each (user) record that is accepted, with where it landed. */
  readonly onDelivered?: (record: ProducerRecord, receipt: PutReceipt) => void;
  /**
   * Keep each partition key's records in put order across retries: a call then ends before a key's second record
   * (see {@link Producer}), so calls shrink when keys repeat often. `false` fills every call (500 records) and
   * retries failed entries after the rest, so a retried record can land after later records of its key; nothing is
   * lost or sent twice either way. Consumers that window by event time with some allowed lateness (this pipeline's
   * aggregator) do not need the order. @default true
   */
  readonly ordered?: boolean;
}

/** Counters of a producer's life, in user records. */
export interface ProducerStats {
  /** Records the stream accepted. */
  sent: number;
  /** Record sends beyond the first attempt. */
  retried: number;
  /** Records that still failed after the retry bound. */
  failed: number;
  /** Kinesis records written: equals `sent` unless aggregating. */
  kinesisRecords: number;
}

/** One Kinesis record as sent: a plain record, or a KPL aggregate of several user records. */
interface Entry {
  readonly partitionKey: string;
  readonly data: Uint8Array;
  /** The user records inside a KPL aggregate; absent for a plain record, which is `record`. */
  readonly users?: readonly ProducerRecord[];
  readonly record?: ProducerRecord;
  /** Bytes counted against the call limit (partition key and data), when known. */
  readonly size?: number;
}

/** How many user records an entry carries. */
const userCount = (e: Entry): number => e.users?.length ?? 1;
/** The user records of an entry. */
const usersOf = (e: Entry): readonly ProducerRecord[] => e.users ?? [e.record!];

/**
 * Writes records to a Kinesis stream in PutRecords batches (≤ 500 records, ≤ 5 MiB), retrying only the entries a
 * response reports as failed, with exponential backoff and full jitter, up to a bound. Nothing is dropped silently:
 * what still fails is thrown from `flush`/`close` as {@link UndeliveredRecordsError}, or handed back by `settle`.
 *
 * @example
 * const producer = new Producer(new KinesisClient({}), { streamName: 'my-stream' });
 * await producer.put({ partitionKey: 'dev-1', data: JSON.stringify({ deviceId: 'dev-1', ts: Date.now(), temperature: 21.5 }) });
 * await producer.close();
 */
export class Producer {
  readonly stats: ProducerStats = { sent: 0, retried: 0, failed: 0, kinesisRecords: 0 };
  /**
   * The buffered records, as the entries they are sent as: data converted to bytes and size measured once, in `put`,
   * which builds the entry itself (one object per record, where parallel arrays of records, data and sizes cost three
   * pushes in `put` and an entry built again from them per send: P6).
   */
  private buffer: Entry[] = [];
  private bufferBytes = 0;
  /** Records buffered before `put` sends. */
  private readonly batchSize: number;
  private undelivered: FailedRecord[] = [];
  /**
   * Partition keys with a record that could not be delivered, with its error: their later records are held back
   * unsent, to keep order.
   */
  private readonly heldKeys = new Map<string, string>();

  constructor(
    private readonly client: KinesisClient,
    private readonly opts: ProducerOptions,
  ) {
    this.batchSize = opts.batchSize ?? (opts.aggregate ? DEFAULT_AGGREGATE_BATCH_SIZE : MAX_PUT_RECORDS_ENTRIES);
  }

  /**
   * Buffers a record, sending a batch when the buffer is full. A record over the 1 MiB Kinesis limit, or whose
   * partition key is empty or over 256 characters, is not sent (it would fail the whole PutRecords call): it is
   * reported as undelivered like any other failure, with its reason.
   *
   * Not an `async` function on purpose: most calls only buffer, and returning one shared settled promise for them
   * saves a promise per record, which measurably slowed the producer against a plain PutRecords loop (P6 in
   * docs/performance.md).
   */
  put(record: ProducerRecord): Promise<void> {
    if (!partitionKeyOk(record.partitionKey)) {
      const chars = typeof record.partitionKey === 'string' ? countChars(record.partitionKey) : 0;
      this.stats.failed++;
      this.undelivered.push({
        ...record,
        error: `InvalidPartitionKey: ${chars} characters, outside the 1–${MAX_PARTITION_KEY_CHARS} Kinesis allows`,
      });
      return BUFFERED;
    }
    const data = bytesOf(record.data);
    const size = Buffer.byteLength(record.partitionKey) + data.byteLength;
    if (size > MAX_RECORD_BYTES) {
      this.stats.failed++;
      this.undelivered.push({ ...record, error: `RecordTooLarge: ${size} bytes exceeds the ${MAX_RECORD_BYTES}-byte Kinesis limit` });
      return BUFFERED;
    }
    const entry: Entry = { partitionKey: record.partitionKey, data, record, size };
    if (this.buffer.length >= this.batchSize || this.bufferBytes + size > MAX_PUT_RECORDS_BYTES) {
      return this.sendBuffer().then(() => this.append(entry));
    }
    this.append(entry);
    return BUFFERED;
  }

  private append(entry: Entry): void {
    this.buffer.push(entry);
    this.bufferBytes += entry.size!;
  }

  /**
   * Sends everything buffered and returns the records that could not be delivered since the last call (and forgets
   * them), without throwing: for callers that collect failures and carry on.
   */
  async settle(): Promise<FailedRecord[]> {
    await this.sendBuffer();
    const failed = this.undelivered;
    this.undelivered = [];
    return failed;
  }

  /** Sends everything buffered; throws {@link UndeliveredRecordsError} if anything could not be delivered. */
  async flush(): Promise<void> {
    const failed = await this.settle();
    if (failed.length > 0) throw new UndeliveredRecordsError(failed);
  }

  /** Flushes; the producer must not be used afterwards. */
  async close(): Promise<void> {
    await this.flush();
  }

  private async sendBuffer(): Promise<void> {
    if (this.buffer.length === 0) return;
    const entries = this.buffer;
    this.buffer = [];
    this.bufferBytes = 0;
    // Unaggregated, `put` already kept the buffer within one call's byte limit (sendChunk cuts calls of 500).
    if (!this.opts.aggregate) return this.sendChunk(entries);
    for (const chunk of chunkEntries(this.toEntries(entries.map((e) => e.record!)))) await this.sendChunk(chunk);
  }

  /** KPL aggregates of the buffered records. */
  private toEntries(records: readonly ProducerRecord[]): Entry[] {
    // One group per partition key keeps each key on its shard and in order; the aggregate carries the key.
    const byKey = new Map<string, ProducerRecord[]>();
    for (const r of records) {
      let group = byKey.get(r.partitionKey);
      if (!group) byKey.set(r.partitionKey, (group = []));
      group.push(r);
    }
    const entries: Entry[] = [];
    for (const group of byKey.values()) {
      let at = 0;
      for (const agg of aggregateKpl(group.map((r) => ({ partitionKey: r.partitionKey, data: Buffer.from(bytesOf(r.data)) })))) {
        entries.push({ partitionKey: agg.partitionKey, data: agg.data, users: group.slice(at, at + agg.count) });
        at += agg.count;
      }
    }
    return entries;
  }

  /**
   * Sends entries so that the records of one partition key land in the order they were put, across retries: a call
   * carries at most one entry per partition key (it ends before a key's second entry), so a later record of a key is
   * only sent once every earlier one was accepted. A record that still fails after the retry bound is reported, and
   * so are the later records of its key, unsent ("held"), so that re-sending the failed-records file restores the
   * order. Only the entries a response reports as failed are sent again, so nothing is sent twice.
   */
  private async sendChunk(entries: readonly Entry[]): Promise<void> {
    const maxAttempts = this.opts.maxAttempts ?? 6;
    const sleep = this.opts.sleep ?? realSleep;
    const lastError = new Map<Entry, string>();
    const attempts = new Map<Entry, number>();
    let queue: readonly Entry[] = entries;
    if (this.heldKeys.size > 0) {
      const open: Entry[] = [];
      for (const e of entries) {
        const cause = this.heldKeys.get(e.partitionKey);
        if (cause === undefined) open.push(e);
        else this.hold(e, heldError(e.partitionKey, cause));
      }
      queue = open;
    }
    const ordered = this.opts.ordered ?? true;
    for (let round = 0; queue.length > 0; round++) {
      const keys = new Set<string>();
      const call: Entry[] = [];
      let bytes = 0;
      let maxAttempt = 0;
      // The longest prefix of the queue with no key twice (when ordered): without failures the stream gets the records
      // in put order (across keys too, which event-time lateness depends on); a failed record stays at the head of the
      // queue.
      for (const e of queue) {
        if (ordered) {
          if (keys.has(e.partitionKey)) break;
          keys.add(e.partitionKey);
        }
        const size = e.size ?? Buffer.byteLength(e.partitionKey) + e.data.byteLength;
        if (call.length >= MAX_PUT_RECORDS_ENTRIES || bytes + size > MAX_PUT_RECORDS_BYTES) break;
        call.push(e);
        bytes += size;
        // No lookup while nothing has failed yet (the common case): a Map keyed by objects hashes each new one.
        const a = attempts.size === 0 ? 0 : (attempts.get(e) ?? 0);
        if (a > 0) {
          this.stats.retried += userCount(e);
          if (a > maxAttempt) maxAttempt = a;
        }
      }
      if (maxAttempt > 0) await sleep(backoffDelay(maxAttempt, this.opts));
      const failedAt = await this.putRecords(call, lastError);
      if (failedAt.length === 0) {
        // The common case: the call went through whole, and the queue goes on after it.
        this.stats.sent += this.opts.aggregate ? call.reduce((n, e) => n + userCount(e), 0) : call.length;
        this.stats.kinesisRecords += call.length;
        queue = call.length === queue.length ? [] : queue.slice(call.length);
        continue;
      }
      const failed = new Set(failedAt.map((i) => call[i]));
      const given = new Map<string, string>();
      for (const i of failedAt) {
        const e = call[i];
        const n = (attempts.get(e) ?? 0) + 1;
        attempts.set(e, n);
        if (n >= maxAttempts) {
          given.set(e.partitionKey, lastError.get(e) ?? 'unknown error');
          this.heldKeys.set(e.partitionKey, lastError.get(e) ?? 'unknown error');
        }
      }
      for (const e of call) {
        if (failed.has(e)) continue;
        this.stats.sent += userCount(e);
        this.stats.kinesisRecords++;
      }
      const next: Entry[] = [];
      for (let q = 0; q < queue.length; q++) {
        const e = queue[q];
        if (q < call.length && !failed.has(e)) continue;
        if (given.has(e.partitionKey)) {
          this.hold(e, lastError.get(e) ?? heldError(e.partitionKey, given.get(e.partitionKey)!));
          continue;
        }
        next.push(e);
      }
      queue = next;
    }
  }

  private hold(e: Entry, error: string): void {
    this.stats.failed += userCount(e);
    for (const u of usersOf(e)) this.undelivered.push({ partitionKey: u.partitionKey, data: u.data, error });
  }

  private async putRecords(batch: readonly Entry[], lastError: Map<Entry, string>): Promise<number[]> {
    // Fresh request entries, not the entries themselves: what the client is handed should be what it sends (an entry
    // also carries its record, which a client-side middleware or mock would walk).
    const request: PutRecordsRequestEntry[] = batch.map((e) => ({ PartitionKey: e.partitionKey, Data: e.data }));
    let res;
    try {
      res = await this.client.send(new PutRecordsCommand({ StreamName: this.opts.streamName, Records: request }));
    } catch (e) {
      // The SDK has already retried what it considers transient: the whole call counts as failed entries.
      const err = e as Error;
      for (const entry of batch) lastError.set(entry, `${err.name}: ${err.message}`);
      return batch.map((_, i) => i);
    }
    const failed: number[] = [];
    (res.Records ?? []).forEach((r, i) => {
      if (r.ErrorCode) {
        failed.push(i);
        lastError.set(batch[i], r.ErrorMessage ? `${r.ErrorCode}: ${r.ErrorMessage}` : r.ErrorCode);
      } else if (this.opts.onDelivered && r.ShardId && r.SequenceNumber) {
        for (const u of usersOf(batch[i])) this.opts.onDelivered(u, { shardId: r.ShardId, sequenceNumber: r.SequenceNumber });
      }
    });
    if ((res.FailedRecordCount ?? 0) > 0 && failed.length === 0) {
      for (const entry of batch) lastError.set(entry, `FailedRecordCount ${res.FailedRecordCount} without failed entries`);
      return batch.map((_, i) => i);
    }
    return failed;
  }
}

/** The error of a record held back behind an undeliverable record of its partition key. */
function heldError(partitionKey: string, cause: string): string {
  return `held unsent: an earlier record with partition key ${JSON.stringify(partitionKey)} could not be delivered (${cause})`;
}

/**
 * Whether a partition key has 1 to 256 Unicode characters. A string of at most 256 UTF-16 units has at most 256
 * characters, so only longer ones are counted: spreading every key into an array to count it was the producer's
 * largest per-record cost (P6).
 */
function partitionKeyOk(key: unknown): boolean {
  if (typeof key !== 'string' || key.length === 0) return false;
  return key.length <= MAX_PARTITION_KEY_CHARS || countChars(key) <= MAX_PARTITION_KEY_CHARS;
}

/** Code points of a string, counted without building an array (a lone surrogate counts as one, as spreading does). */
function countChars(s: string): number {
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

/** What `put` returns when it only buffered: settled already, shared by every such call. */
const BUFFERED: Promise<void> = Promise.resolve();

/** Cuts entries into PutRecords calls within both the entry-count and the byte limit. */
function chunkEntries(entries: readonly Entry[]): Entry[][] {
  return chunkByLimits(entries, MAX_PUT_RECORDS_ENTRIES, MAX_PUT_RECORDS_BYTES, (e) => Buffer.byteLength(e.partitionKey) + e.data.byteLength);
}

function bytesOf(data: string | Uint8Array): Uint8Array {
  return typeof data === 'string' ? Buffer.from(data) : data;
}


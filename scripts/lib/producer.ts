import { Buffer } from 'node:buffer';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { chunkByLimits } from '../../lambda/support/chunk';
import { backoffDelay, DEFAULT_MAX_ATTEMPTS, realSleep, type BackoffOptions } from '../../lambda/support/backoff';
import { aggregateKpl } from './kpl-aggregate';
import { UndeliveredRecordsError } from './errors';
import {
  MAX_PARTITION_KEY_CHARS,
  MAX_PUT_RECORDS_BYTES,
  MAX_PUT_RECORDS_ENTRIES,
  MAX_RECORD_BYTES,
  partitionKeyError,
  partitionKeyOk,
  exactRecordSize,
  recordSize,
  recordSizeError,
  utf8SizeBound,
} from './kinesis-put-limits';
import { putRecordsCall, type CallOutcome, type PutReceipt, type RequestEntry } from './put-records-call';

export { UndeliveredRecordsError, MAX_PARTITION_KEY_CHARS, MAX_PUT_RECORDS_BYTES, MAX_PUT_RECORDS_ENTRIES, MAX_RECORD_BYTES, type PutReceipt };

// Local bindings of what `put` reads per record. Under tsx, the loader the CLI and the bench run on, every imported
// binding of our own modules is a getter call: about 6 % of the producer's time per record went to them (P6).
const keyOk = partitionKeyOk;
const sizeOf = recordSize;
const stringBound = utf8SizeBound;
const RECORD_LIMIT = MAX_RECORD_BYTES;
const CALL_LIMIT = MAX_PUT_RECORDS_BYTES;

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
  readonly request: RequestEntry;
  /** The user records inside a KPL aggregate; absent for a plain record, which is `record`. */
  readonly users?: readonly ProducerRecord[];
  readonly record?: ProducerRecord;
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
 * await producer.putAll(moreRecords); // many at once: awaits only the calls that send
 * await producer.close();
 */
export class Producer {
  readonly stats: ProducerStats = { sent: 0, retried: 0, failed: 0, kinesisRecords: 0 };
  /** The buffered records, in put order. */
  private records: ProducerRecord[] = [];
  /** Bytes buffered, counted with the bounds `put` uses. */
  private bufferBytes = 0;
  /** Records buffered before `put` sends. */
  private readonly batchSize: number;
  private readonly ordered: boolean;
  private readonly maxAttempts: number;
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
    this.ordered = opts.ordered ?? true;
    this.maxAttempts = opts.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  }

  /**
   * Buffers a record, sending a batch when the buffer is full. A record over the 1 MiB Kinesis limit, whose
   * partition key is empty or over 256 characters, or whose data is neither a string nor a `Uint8Array`, is not sent
   * (it would fail the whole PutRecords call): it is reported as undelivered like any other failure, with its reason.
   *
   * Not an `async` function on purpose: most calls only buffer, and returning one shared settled promise for them
   * saves a promise per record, which measurably slowed the producer against a plain PutRecords loop (P6 in
   * docs/performance.md).
   */
  put(record: ProducerRecord): Promise<void> {
    const key = record.partitionKey;
    if (!keyOk(key)) return this.refuse(record, partitionKeyError(key));
    const data = record.data;
    // Converting to bytes waits for the send, as in a plain loop; here only the size counts, bounded where that is
    // enough (see utf8SizeBound), exact where the bound crosses the record limit.
    const bytes = typeof data === 'string' ? stringBound(data) : data instanceof Uint8Array ? data.byteLength : -1;
    if (bytes < 0) return this.refuse(record, `InvalidData: data must be a string or a Uint8Array, not ${typeof data}`);
    let size = sizeOf(key, bytes, RECORD_LIMIT);
    if (size > RECORD_LIMIT && (size = exactRecordSize(key, data)) > RECORD_LIMIT) return this.refuse(record, recordSizeError(size));
    if (this.records.length >= this.batchSize || this.bufferBytes + size > CALL_LIMIT) {
      return this.sendBuffer().then(() => {
        this.records.push(record);
        this.bufferBytes += size;
      });
    }
    this.records.push(record);
    this.bufferBytes += size;
    return BUFFERED;
  }

  /**
   * Puts every record, in order, as `for (const r of records) await producer.put(r)` would, but awaits only the puts
   * that send: a caller's `await` per buffered record costs a turn of the microtask queue each, about a tenth of the
   * producer's time per record (P6). Records still buffered at the end are sent by `flush`/`settle`/`close`.
   */
  async putAll(records: Iterable<ProducerRecord>): Promise<void> {
    for (const r of records) {
      const sent = this.put(r);
      if (sent !== BUFFERED) await sent;
    }
  }

  private refuse(record: ProducerRecord, error: string): Promise<void> {
    this.stats.failed++;
    this.undelivered.push({ ...record, error });
    return BUFFERED;
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
    if (this.records.length === 0) return;
    const records = this.records;
    this.records = [];
    this.bufferBytes = 0;
    if (this.opts.aggregate) {
      for (const chunk of chunkEntries(this.toEntries(records))) await this.sendChunk(chunk);
      return;
    }
    // `put` kept the buffer within one call's byte limit; with no order to keep and no key held back, a buffer of at
    // most one call goes as it is.
    if (!this.ordered && this.heldKeys.size === 0 && records.length <= MAX_PUT_RECORDS_ENTRIES) return this.sendWhole(records.map(requestOf), records);
    await this.sendChunk(records.map((record) => ({ request: requestOf(record), record })));
  }

  /**
   * The unordered common case: one call with the buffered request entries as they are, no per-entry bookkeeping while
   * the call succeeds whole. Failed entries go on to {@link sendChunk}'s retries with their first attempt counted.
   */
  private async sendWhole(requests: readonly RequestEntry[], records: readonly ProducerRecord[]): Promise<void> {
    const out = await putRecordsCall(this.client, this.opts.streamName, requests);
    const accepted = requests.length - out.failed.length;
    this.stats.sent += accepted;
    this.stats.kinesisRecords += accepted;
    if (this.opts.onDelivered && out.results) this.deliver(out, (i) => [records[i]]);
    if (out.failed.length === 0) return;
    const retry: Entry[] = [];
    const attempts = new Map<Entry, number>();
    const lastError = new Map<Entry, string>();
    out.failed.forEach((i, j) => {
      const e: Entry = { request: requests[i], record: records[i] };
      attempts.set(e, 1);
      lastError.set(e, out.errors[j]);
      if (this.maxAttempts > 1) retry.push(e);
      else this.giveUp(e, out.errors[j]);
    });
    if (retry.length > 0) await this.sendChunk(retry, attempts, lastError);
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
        entries.push({ request: { PartitionKey: agg.partitionKey, Data: agg.data }, users: group.slice(at, at + agg.count) });
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
   * order. Only the entries a response reports as failed are sent again, so nothing is sent twice. `attempts` and
   * `lastError` carry what earlier calls already tried.
   */
  private async sendChunk(entries: readonly Entry[], attempts = new Map<Entry, number>(), lastError = new Map<Entry, string>()): Promise<void> {
    const sleep = this.opts.sleep ?? realSleep;
    let queue: readonly Entry[] = entries;
    if (this.heldKeys.size > 0) {
      const open: Entry[] = [];
      for (const e of entries) {
        const cause = this.heldKeys.get(e.request.PartitionKey);
        if (cause === undefined) open.push(e);
        else this.hold(e, heldError(e.request.PartitionKey, cause));
      }
      queue = open;
    }
    for (let round = 0; queue.length > 0; round++) {
      const keys = new Set<string>();
      const call: Entry[] = [];
      let bytes = 0;
      let maxAttempt = 0;
      // The longest prefix of the queue with no key twice (when ordered): without failures the stream gets the records
      // in put order (across keys too, which event-time lateness depends on); a failed record stays at the head of the
      // queue.
      for (const e of queue) {
        const key = e.request.PartitionKey;
        if (this.ordered) {
          if (keys.has(key)) break;
          keys.add(key);
        }
        if (call.length >= MAX_PUT_RECORDS_ENTRIES) break;
        const size = recordSize(key, e.request.Data.byteLength, MAX_PUT_RECORDS_BYTES - bytes);
        if (bytes + size > MAX_PUT_RECORDS_BYTES) break;
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
      const out = await putRecordsCall(this.client, this.opts.streamName, call.map((e) => e.request));
      if (this.opts.onDelivered && out.results) this.deliver(out, (i) => usersOf(call[i]));
      if (out.failed.length === 0) {
        // The common case: the call went through whole, and the queue goes on after it.
        this.stats.sent += this.opts.aggregate ? call.reduce((n, e) => n + userCount(e), 0) : call.length;
        this.stats.kinesisRecords += call.length;
        queue = call.length === queue.length ? [] : queue.slice(call.length);
        continue;
      }
      const failed = new Set(out.failed.map((i) => call[i]));
      const given = new Map<string, string>();
      out.failed.forEach((i, j) => {
        const e = call[i];
        const n = (attempts.get(e) ?? 0) + 1;
        attempts.set(e, n);
        lastError.set(e, out.errors[j]);
        if (n >= this.maxAttempts) {
          given.set(e.request.PartitionKey, out.errors[j]);
          this.heldKeys.set(e.request.PartitionKey, out.errors[j]);
        }
      });
      for (const e of call) {
        if (failed.has(e)) continue;
        this.stats.sent += userCount(e);
        this.stats.kinesisRecords++;
      }
      const next: Entry[] = [];
      for (let q = 0; q < queue.length; q++) {
        const e = queue[q];
        if (q < call.length && !failed.has(e)) continue;
        const cause = given.get(e.request.PartitionKey);
        if (cause !== undefined) {
          this.hold(e, lastError.get(e) ?? heldError(e.request.PartitionKey, cause));
          continue;
        }
        next.push(e);
      }
      queue = next;
    }
  }

  /** Reports a record that failed its last attempt, and holds its key's later records back. */
  private giveUp(e: Entry, error: string): void {
    this.heldKeys.set(e.request.PartitionKey, error);
    this.hold(e, error);
  }

  private hold(e: Entry, error: string): void {
    this.stats.failed += userCount(e);
    for (const u of usersOf(e)) this.undelivered.push({ partitionKey: u.partitionKey, data: u.data, error });
  }

  /** Hands each accepted entry's user records to `onDelivered`, with where the entry landed. */
  private deliver(out: CallOutcome, usersAt: (i: number) => readonly ProducerRecord[]): void {
    const results = out.results!;
    for (let i = 0; i < results.length; i++) {
      const r = results[i];
      if (r.ErrorCode || !r.ShardId || !r.SequenceNumber) continue;
      const receipt: PutReceipt = { shardId: r.ShardId, sequenceNumber: r.SequenceNumber };
      for (const u of usersAt(i)) this.opts.onDelivered!(u, receipt);
    }
  }
}

/** The error of a record held back behind an undeliverable record of its partition key. */
function heldError(partitionKey: string, cause: string): string {
  return `held unsent: an earlier record with partition key ${JSON.stringify(partitionKey)} could not be delivered (${cause})`;
}

/** What `put` returns when it only buffered: settled already, shared by every such call. */
const BUFFERED: Promise<void> = Promise.resolve();

/** Cuts entries into PutRecords calls within both the entry-count and the byte limit. */
function chunkEntries(entries: readonly Entry[]): Entry[][] {
  return chunkByLimits(entries, MAX_PUT_RECORDS_ENTRIES, MAX_PUT_RECORDS_BYTES, (e) => Buffer.byteLength(e.request.PartitionKey) + e.request.Data.byteLength);
}

function bytesOf(data: string | Uint8Array): Uint8Array {
  return typeof data === 'string' ? Buffer.from(data) : data;
}

/** The request entry of a plain record. */
function requestOf(r: ProducerRecord): RequestEntry {
  return { PartitionKey: r.partitionKey, Data: typeof r.data === 'string' ? Buffer.from(r.data) : r.data };
}

import { createReadStream, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { BackoffOptions } from '../../lambda/support/backoff';
import { derivePartitionKey, type PartitionKeyRule } from '../../lambda/domain/partition-key';
import { Producer, UndeliveredRecordsError, MAX_PUT_RECORDS_ENTRIES, type FailedRecord, type ProducerRecord } from '../lib/producer';
import { generateClickstreamWorkload, generateIotWorkload, seededRandom, type GeneratedRecord } from '../workload';
import { InvalidInputError } from '../lib/errors';

export { InvalidInputError };

/** Counters a produce run reports. */
export interface ProduceStats {
  sent: number;
  retried: number;
  failed: number;
  invalidLines: number;
  elapsedMs: number;
}

/** The outcome of a run: its counters and every record that could not be delivered. */
export interface ProduceResult extends ProduceStats {
  readonly failures: readonly FailedRecord[];
  /** What stopped the source early (a bad input line), after everything read before it was sent. */
  readonly sourceError?: unknown;
}

/** Options of a produce run. */
export interface ProduceOptions extends BackoffOptions {
  readonly streamName: string;
  /** Records per second; unlimited when undefined. */
  readonly rate?: number;
  /** Stop after this many records. */
  readonly count?: number;
  /** KPL-aggregate records per partition key. */
  readonly aggregate?: boolean;
  /** Called after every batch with the running counters. */
  readonly onProgress?: (stats: ProduceStats) => void;
  /** Stops producing when aborted. */
  readonly signal?: AbortSignal;
}

/**
 * Paces a record source at `rate` records per second. Sleeping per record would cost more than the put itself at
 * high rates, so it sleeps once every few records against a start-relative schedule, which also absorbs drift.
 */
async function pace(sent: number, startedAt: number, rate: number | undefined): Promise<void> {
  if (!rate) return;
  const due = startedAt + (sent / rate) * 1000;
  const wait = due - Date.now();
  if (wait > 5) await new Promise((r) => setTimeout(r, wait));
}

/**
 * Puts records from any source, paced, and collects what could not be delivered instead of stopping at the first
 * failed batch: a long run keeps going, and the caller gets every failure to write down and report.
 */
export async function produce(
  kinesis: KinesisClient,
  source: AsyncIterable<ProducerRecord> | Iterable<ProducerRecord>,
  opts: ProduceOptions,
): Promise<ProduceResult> {
  const startedAt = Date.now();
  const stats: ProduceStats = { sent: 0, retried: 0, failed: 0, invalidLines: 0, elapsedMs: 0 };
  const failures: FailedRecord[] = [];
  // At a set rate, smaller batches keep the pace smooth; aggregation wants many records per flush.
  const batchSize = opts.rate
    ? Math.max(1, Math.min(MAX_PUT_RECORDS_ENTRIES, Math.ceil(opts.rate / 4)))
    : opts.aggregate
      ? 5000
      : MAX_PUT_RECORDS_ENTRIES;
  const producer = new Producer(kinesis, { ...opts, batchSize });
  let queued = 0;
  let sourceError: unknown;
  const report = () => {
    Object.assign(stats, { sent: producer.stats.sent, retried: producer.stats.retried, failed: producer.stats.failed, elapsedMs: Date.now() - startedAt });
    opts.onProgress?.(stats);
  };
  try {
    for await (const record of source) {
      if (opts.signal?.aborted || (opts.count !== undefined && queued >= opts.count)) break;
      await producer.put(record);
      queued++;
      if (queued % batchSize === 0) {
        failures.push(...(await producer.settle()));
        report();
        await pace(queued, startedAt, opts.rate);
      }
    }
  } catch (e) {
    // What was read before a bad input line is still sent, and the caller reports both.
    sourceError = e;
  }
  failures.push(...(await producer.settle()));
  report();
  return { ...stats, failures, sourceError };
}

/** The built-in demo workloads. */
export type DemoKind = 'iot' | 'clickstream';
/** The names `--demo` accepts. */
export const DEMO_KINDS: readonly DemoKind[] = ['iot', 'clickstream'];

function demoBatch(kind: DemoKind, seed: number, count: number, startMs: number, live: boolean): GeneratedRecord[] {
  if (kind === 'clickstream') return generateClickstreamWorkload({ seed, count, startMs, stepMs: live ? 0 : 100 });
  return live
    ? generateIotWorkload({ seed, count, startMs, stepMs: 0, maxDisorderMs: 10_000, malformedRatio: 0.01 })
    : generateIotWorkload({ seed, count, startMs });
}

/** A fixed number of seeded demo events, event times from `startMs` on. */
export function demoRecords(kind: DemoKind, seed: number, count: number, startMs: number): GeneratedRecord[] {
  return demoBatch(kind, seed, count, startMs, false);
}

/** Demo events stamped with the current time, so that windows fire as the wall clock moves. */
export function* liveDemoRecords(seed: number, rate: number, kind: DemoKind = 'iot'): Generator<GeneratedRecord> {
  const rnd = seededRandom(seed);
  for (;;) {
    yield* demoBatch(kind, Math.floor(rnd() * 2 ** 31), Math.max(1, Math.ceil(rate / 4)), Date.now(), true);
  }
}

/**
 * Re-keys generated records by an event field when one is asked for, else by the spec's partition-key rule when it
 * declares one (so that records are co-partitioned as the aggregator checks). A record without the field (a
 * malformed demo record) keeps the generator's key, so that it still reaches the errors sink.
 */
export function* withPartitionKey(records: Iterable<GeneratedRecord>, field: string | undefined, keyRule?: PartitionKeyRule): Generator<ProducerRecord> {
  for (const r of records) {
    if (!field && keyRule && r.event) {
      const derived = derivePartitionKey(keyRule, r.event);
      yield { partitionKey: derived.ok ? derived.key : r.partitionKey, data: r.data };
      continue;
    }
    const v = field ? r.event?.[field] : undefined;
    yield { partitionKey: typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : r.partitionKey, data: r.data };
  }
}

/** Where the partition key of an input line comes from, and which lines to read. */
export interface NdjsonOptions {
  /** Read from this line on (1-based): the lines before it were sent by an earlier run. @default 1 */
  readonly fromLine?: number;
  /** The spec's partition-key rule, used when no `--partition-key` field is given. */
  readonly keyRule?: PartitionKeyRule;
}

/**
 * Lines of an NDJSON file (or stdin for "-"), each validated as a JSON object; the partition key is read from a
 * field, else derived with the spec's partition-key rule, else is the line number. Throws {@link InvalidInputError}
 * at the first bad line unless `skipInvalid`.
 */
export async function* ndjsonRecords(
  file: string,
  partitionKeyField: string | undefined,
  skipInvalid: boolean,
  onInvalid: (line: number, reason: string) => void,
  input: NodeJS.ReadableStream = file === '-' ? process.stdin : createReadStream(file),
  opts: NdjsonOptions = {},
): AsyncGenerator<ProducerRecord> {
  const lines = createInterface({ input, crlfDelay: Infinity });
  let n = 0;
  const bad = (reason: string) => {
    if (!skipInvalid) throw new InvalidInputError(file, n, reason);
    onInvalid(n, `line ${n}: ${reason}`);
  };
  for await (const line of lines) {
    n++;
    if (n < (opts.fromLine ?? 1)) continue;
    if (!line.trim()) continue;
    let event: unknown;
    try {
      event = JSON.parse(line);
    } catch (e) {
      bad(`invalid JSON (${(e as Error).message})`);
      continue;
    }
    if (!event || typeof event !== 'object' || Array.isArray(event)) {
      bad('not a JSON object');
      continue;
    }
    let pk: string;
    if (partitionKeyField) {
      const v = (event as Record<string, unknown>)[partitionKeyField];
      if (!(typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') || String(v) === '') {
        bad(`no usable partition key field "${partitionKeyField}"`);
        continue;
      }
      pk = String(v);
    } else if (opts.keyRule) {
      const derived = derivePartitionKey(opts.keyRule, event as Record<string, unknown>);
      if (!derived.ok) {
        bad(`${derived.reason} (the spec's partitionKey is [${opts.keyRule.fields.join(', ')}])`);
        continue;
      }
      pk = derived.key;
    } else {
      pk = String(n);
    }
    yield { partitionKey: pk, data: line };
  }
}

/**
 * Reads a whole NDJSON file and returns every line that {@link ndjsonRecords} would reject, so that a file with a bad
 * line is refused before anything is sent (instead of stopping half-way, which left the first lines sent).
 */
export async function invalidLines(
  file: string,
  partitionKeyField: string | undefined,
  opts: NdjsonOptions = {},
  input?: NodeJS.ReadableStream,
): Promise<string[]> {
  const bad: string[] = [];
  for await (const _ of ndjsonRecords(file, partitionKeyField, true, (_line, reason) => bad.push(reason), input, opts));
  return bad;
}

/**
 * Writes undelivered records, one JSON object a line: `partitionKey`, `data` (text when it was text, else
 * `dataBase64`) and `error`. The file can be fed back with `produce --file` after extracting `data`.
 */
export function writeFailedRecords(file: string, failures: readonly FailedRecord[]): void {
  mkdirSync(dirname(file), { recursive: true });
  const lines = failures.map((f) =>
    JSON.stringify(
      typeof f.data === 'string'
        ? { partitionKey: f.partitionKey, data: f.data, error: f.error }
        : { partitionKey: f.partitionKey, dataBase64: Buffer.from(f.data).toString('base64'), error: f.error },
    ),
  );
  writeFileSync(file, lines.join('\n') + (lines.length > 0 ? '\n' : ''));
}

/** Width of the progress bar in characters. */
const BAR_WIDTH = 30;

/**
 * One line of progress: a bar when the total is known, else the running counts. Redrawn in place with `\r`, so it
 * is only for a terminal.
 */
export function progressLine(stats: ProduceStats, total: number | undefined): string {
  const perSecond = stats.elapsedMs > 0 ? (stats.sent * 1000) / stats.elapsedMs : 0;
  const counts = `sent ${stats.sent}  retried ${stats.retried}  failed ${stats.failed}  ${perSecond.toFixed(0)} rec/s`;
  if (!total) return counts;
  const done = Math.min(1, (stats.sent + stats.failed) / total);
  const filled = Math.round(done * BAR_WIDTH);
  return `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${(done * 100).toFixed(0).padStart(3)}%  ${counts}`;
}

/** The closing summary of a run. */
export function summaryLine(r: ProduceStats, skipped: number): string {
  const perSecond = r.elapsedMs > 0 ? (r.sent * 1000) / r.elapsedMs : r.sent;
  return `sent ${r.sent}, retried ${r.retried}, failed ${r.failed}, skipped ${skipped} invalid line(s), ${perSecond.toFixed(0)} records/s`;
}

export { UndeliveredRecordsError };

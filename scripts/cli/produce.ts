import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { Producer, UndeliveredRecordsError, type ProducerRecord } from '../lib/producer';
import { generateIotWorkload, seededRandom } from '../workload';

/** Counters a produce run reports. */
export interface ProduceStats {
  sent: number;
  retried: number;
  failed: number;
  invalidLines: number;
  elapsedMs: number;
}

/** Options of a produce run. */
export interface ProduceOptions {
  readonly streamName: string;
  /** Records per second; unlimited when undefined. */
  readonly rate?: number;
  /** Stop after this many records. */
  readonly count?: number;
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

/** Puts records from any source, paced, and flushes at the end. Throws UndeliveredRecordsError if some failed. */
export async function produce(
  kinesis: KinesisClient,
  source: AsyncIterable<ProducerRecord> | Iterable<ProducerRecord>,
  opts: ProduceOptions,
): Promise<ProduceStats> {
  const startedAt = Date.now();
  const stats: ProduceStats = { sent: 0, retried: 0, failed: 0, invalidLines: 0, elapsedMs: 0 };
  const batchSize = opts.rate ? Math.max(1, Math.min(500, Math.ceil(opts.rate / 4))) : 500;
  const producer = new Producer(kinesis, { streamName: opts.streamName, batchSize });
  let queued = 0;
  const report = () => {
    Object.assign(stats, producer.stats, { elapsedMs: Date.now() - startedAt });
    opts.onProgress?.(stats);
  };
  try {
    for await (const record of source) {
      if (opts.signal?.aborted || (opts.count !== undefined && queued >= opts.count)) break;
      await producer.put(record);
      queued++;
      if (queued % batchSize === 0) {
        await producer.flush();
        report();
        await pace(queued, startedAt, opts.rate);
      }
    }
    await producer.close();
  } finally {
    report();
  }
  return stats;
}

/** Demo IoT readings stamped with the current time, so that windows fire as the wall clock moves. */
export function* liveDemoRecords(seed: number, rate: number): Generator<ProducerRecord> {
  const rnd = seededRandom(seed);
  for (let batch = 0; ; batch++) {
    const now = Date.now();
    const records = generateIotWorkload({
      seed: Math.floor(rnd() * 2 ** 31),
      count: Math.max(1, Math.ceil(rate / 4)),
      startMs: now,
      stepMs: 0,
      maxDisorderMs: 10_000,
      malformedRatio: 0.01,
    });
    for (const r of records) yield { partitionKey: r.partitionKey, data: r.data };
  }
}

/** Lines of an NDJSON file (or stdin for "-"), each validated as JSON; the partition key is read from a field. */
export async function* ndjsonRecords(
  file: string,
  partitionKeyField: string | undefined,
  skipInvalid: boolean,
  onInvalid: (line: number, reason: string) => void,
): AsyncGenerator<ProducerRecord> {
  const input = file === '-' ? process.stdin : createReadStream(file);
  const lines = createInterface({ input, crlfDelay: Infinity });
  let n = 0;
  for await (const line of lines) {
    n++;
    if (!line.trim()) continue;
    let event: unknown;
    try {
      event = JSON.parse(line);
    } catch (e) {
      const reason = `line ${n}: invalid JSON (${(e as Error).message})`;
      if (!skipInvalid) throw new Error(`${file}: ${reason}. Use --skip-invalid to skip such lines.`);
      onInvalid(n, reason);
      continue;
    }
    let pk: string;
    if (partitionKeyField) {
      const v = event && typeof event === 'object' ? (event as Record<string, unknown>)[partitionKeyField] : undefined;
      if (v === undefined || v === null || typeof v === 'object') {
        const reason = `line ${n}: no usable partition key field "${partitionKeyField}"`;
        if (!skipInvalid) throw new Error(`${file}: ${reason}. Use --skip-invalid to skip such lines.`);
        onInvalid(n, reason);
        continue;
      }
      pk = String(v);
    } else {
      pk = String(n);
    }
    yield { partitionKey: pk, data: line };
  }
}

export { UndeliveredRecordsError };

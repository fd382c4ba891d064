/**
 * P1: the handler's CPU throughput on one 10,000-record batch (decode, validation, window assignment,
 * pre-aggregation, window state merge, result building), with every port in memory so that no I/O is timed, against
 * a parse-only loop over the same batch (base64 decode + JSON.parse): the least any handler has to do per record.
 */
import type { KinesisStreamEvent } from 'aws-lambda';
import { createKinesisHandler } from '../lambda/adapters/kinesis-handler';
import type { CompiledSpec } from '../lambda/domain/compiled-spec';
import type { BenchLog, FigureResult } from './lib/figure';
import { CountingRecordSink, CountingResultSink, LeanWindowStore } from './lib/memory-ports';
import { median, round, since } from './lib/stats';
import { BENCH_START_MS, benchEvent, benchSpec, benchWorkload } from './lib/workload';

/** Options of {@link runP1}. */
export interface P1Options {
  /** Records in the batch. @default 10000 */
  readonly records?: number;
  /** Untimed rounds first, so that both loops run optimised code. @default 8 */
  readonly warmup?: number;
  /** Timed rounds; the medians are reported. @default 25 */
  readonly rounds?: number;
}

/** The reference: what every consumer of this stream must do at least, per record. */
export function parseOnly(event: KinesisStreamEvent): number {
  let ok = 0;
  for (const r of event.Records) {
    try {
      JSON.parse(Buffer.from(r.kinesis.data, 'base64').toString('utf8'));
      ok++;
    } catch {
      // Malformed records are part of the workload; the reference skips them as the handler rejects them.
    }
  }
  return ok;
}

/** One delivery of the batch to a fresh handler, so that every round takes the common path (first delivery). */
export async function handleOnce(spec: CompiledSpec, event: KinesisStreamEvent, nowMs: number) {
  const store = new LeanWindowStore();
  const results = new CountingResultSink();
  const errors = new CountingRecordSink();
  const late = new CountingRecordSink();
  const handler = createKinesisHandler({ spec, store, results, errors, late }, () => nowMs);
  const res = await handler(event);
  if (res.batchItemFailures.length > 0) throw new Error('P1: the batch reported failures');
  return { store, results, errors };
}

/** Measures P1. */
export async function runP1(opts: P1Options = {}, log: BenchLog = () => undefined): Promise<FigureResult> {
  const n = opts.records ?? 10_000;
  const warmup = opts.warmup ?? 8;
  const rounds = opts.rounds ?? 25;
  const { spec } = benchSpec();
  const event = benchEvent(benchWorkload(n));
  // The clock is the end of the workload's event time, as for a consumer that keeps up.
  const nowMs = BENCH_START_MS + n * 100;

  const check = await handleOnce(spec, event, nowMs);
  const parseMs: number[] = [];
  const handlerMs: number[] = [];
  for (let i = 0; i < warmup + rounds; i++) {
    // Interleaved, so that drift in the machine's speed (other tenants, thermal) hits both sides alike.
    let t = performance.now();
    parseOnly(event);
    const p = since(t);
    t = performance.now();
    await handleOnce(spec, event, nowMs);
    const h = since(t);
    if (i >= warmup) {
      parseMs.push(p);
      handlerMs.push(h);
    }
  }
  const parse = median(parseMs);
  const handler = median(handlerMs);
  const ratio = parse / handler;
  const handlerRate = (n * 1000) / handler;
  const parseRate = (n * 1000) / parse;
  log(`P1: handler ${handler.toFixed(1)} ms, parse-only ${parse.toFixed(1)} ms per ${n} records`);
  return {
    id: 'P1',
    figure: `handler ${Math.round(handlerRate).toLocaleString('en-US')} rec/s`,
    reference: `parse-only ${Math.round(parseRate).toLocaleString('en-US')} rec/s`,
    ratio,
    target: '≥ 0.70',
    met: ratio >= 0.7,
    raw: {
      records: n,
      warmupRounds: warmup,
      rounds,
      handlerMedianMs: round(handler),
      parseOnlyMedianMs: round(parse),
      handlerRecordsPerSecond: Math.round(handlerRate),
      parseOnlyRecordsPerSecond: Math.round(parseRate),
      handlerMsAll: handlerMs.map((x) => round(x)),
      parseOnlyMsAll: parseMs.map((x) => round(x)),
      windowWritesPerBatch: check.store.calls.windowWrites,
      resultsEmittedPerBatch: check.results.emitted,
      invalidRecordsPerBatch: check.errors.entries,
    },
  };
}

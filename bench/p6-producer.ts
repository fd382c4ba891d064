/**
 * P6: the producer library (`scripts/lib/producer.ts`) against a plain SDK loop that sends the same records in the
 * same 500-record PutRecords batches. The headline is the producer with the same batching (`ordered: false`); the
 * default, ordered mode, whose calls end before a partition key's second record (about 50 records a call with the
 * workload's 50 devices), is reported beside it: its gap is the number of calls, not the producer's own work. Both talk to the same in-process fake Kinesis (aws-sdk-client-mock on a real
 * KinesisClient), so the figure is the producer's own overhead, not the network's or an emulator's: against the
 * emulator, run-to-run noise on a shared machine is larger than the difference being measured. A mock is also the
 * only way to inject partial failures (chosen entries answered with ProvisionedThroughputExceededException), for the
 * zero-loss check.
 */
import { KinesisClient, PutRecordsCommand, type PutRecordsCommandInput, type PutRecordsResultEntry } from '@aws-sdk/client-kinesis';
import { mockClient } from 'aws-sdk-client-mock';
import { MAX_PUT_RECORDS_ENTRIES, Producer } from '../scripts/lib/producer';
import type { BenchLog, FigureResult } from './lib/figure';
import { collectGarbage, cpuNow, cpuSince, median, round } from './lib/stats';
import { benchWorkload } from './lib/workload';
import { LOCAL_REGION } from '../scripts/local/probe';

/** Options of {@link runP6}. */
export interface P6Options {
  /** Records per run. @default 50000 */
  readonly records?: number;
  /** Timed runs of each side, interleaved; medians are reported. @default 9 */
  readonly rounds?: number;
}

/** A fake Kinesis: accepts everything, or fails the entries `fail` picks, answering as PutRecords does. */
function fakeKinesis(fail?: (data: string) => boolean) {
  const client = new KinesisClient({ region: LOCAL_REGION, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
  const mock = mockClient(client);
  const delivered = new Map<string, number>();
  let calls = 0;
  let seq = 0;
  mock.on(PutRecordsCommand).callsFake((input: PutRecordsCommandInput) => {
    calls++;
    let failed = 0;
    const Records: PutRecordsResultEntry[] = input.Records!.map((r) => {
      const data = Buffer.from(r.Data!).toString();
      if (fail?.(data)) {
        failed++;
        return { ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'injected' };
      }
      if (fail) delivered.set(data, (delivered.get(data) ?? 0) + 1);
      return { ShardId: 'shardId-000000000000', SequenceNumber: String(++seq) };
    });
    return { FailedRecordCount: failed, Records };
  });
  return { client, mock, delivered, calls: () => calls };
}

/** The reference: what a user would write with the SDK alone, batching the same way. */
async function plainLoop(client: KinesisClient, streamName: string, records: readonly { partitionKey: string; data: string }[]) {
  for (let i = 0; i < records.length; i += MAX_PUT_RECORDS_ENTRIES) {
    const batch = records.slice(i, i + MAX_PUT_RECORDS_ENTRIES);
    await client.send(
      new PutRecordsCommand({ StreamName: streamName, Records: batch.map((r) => ({ PartitionKey: r.partitionKey, Data: Buffer.from(r.data) })) }),
    );
  }
}

async function producerRun(client: KinesisClient, records: readonly { partitionKey: string; data: string }[], sleepless: boolean, ordered = true) {
  const producer = new Producer(client, {
    streamName: 'bench',
    ordered,
    // Backoff is waited for real in production; here it would only measure the sleep, so it is skipped.
    ...(sleepless ? { sleep: () => Promise.resolve() } : {}),
  });
  for (const r of records) await producer.put(r);
  await producer.close();
  return producer.stats;
}

/** Measures P6. */
export async function runP6(opts: P6Options = {}, log: BenchLog = () => undefined): Promise<FigureResult> {
  const n = opts.records ?? 50_000;
  const rounds = opts.rounds ?? 9;
  const records = benchWorkload(n).map((r) => ({ partitionKey: r.partitionKey, data: r.data }));

  const fake = fakeKinesis();
  const loopMs: number[] = [];
  const producerMs: number[] = [];
  const orderedMs: number[] = [];
  try {
    // The mock (a sinon stub) keeps every call's input, 50,000 records a side: its history is dropped and the heap
    // collected before each side, so that what one side left behind is not collected during the next one's timing.
    const fresh = () => {
      fake.mock.resetHistory();
      collectGarbage();
    };
    for (let i = 0; i < rounds + 2; i++) {
      fresh();
      let t = cpuNow();
      await plainLoop(fake.client, 'bench', records);
      const l = cpuSince(t);
      fresh();
      t = cpuNow();
      await producerRun(fake.client, records, true, false);
      const p = cpuSince(t);
      fresh();
      t = cpuNow();
      await producerRun(fake.client, records, true, true);
      const o = cpuSince(t);
      if (i >= 2) {
        loopMs.push(l);
        producerMs.push(p);
        orderedMs.push(o);
      }
    }
  } finally {
    fake.mock.restore();
  }

  // Partial failures: each record fails on 0, 1 or 2 attempts (chosen by a hash of its content, so the run is
  // reproducible), within the producer's default bound of 6 attempts; every record must land exactly once, in both
  // modes.
  const failFor = (data: string) => {
    let h = 0;
    for (let i = 0; i < data.length; i++) h = (Math.imul(h, 31) + data.charCodeAt(i)) | 0;
    return [0, 0, 0, 0, 0, 0, 0, 1, 1, 2][Math.abs(h) % 10];
  };
  const distinct = new Set(records.map((r) => r.data));
  const injected = [...distinct].reduce((a, d) => a + failFor(d), 0);
  const lossCheck = async (ordered: boolean) => {
    const attempts = new Map<string, number>();
    const faulty = fakeKinesis((data) => {
      const seen = attempts.get(data) ?? 0;
      attempts.set(data, seen + 1);
      return seen < failFor(data);
    });
    try {
      const stats = await producerRun(faulty.client, records, true, ordered);
      return {
        distinctRecords: distinct.size,
        injectedEntryFailures: injected,
        putRecordsCalls: faulty.calls(),
        retriedEntries: stats.retried,
        lost: [...distinct].filter((d) => !faulty.delivered.has(d)).length,
        deliveredMoreThanOnce: [...faulty.delivered.values()].filter((c) => c > 1).length,
        producerReportedFailed: stats.failed,
      };
    } finally {
      faulty.mock.restore();
    }
  };
  const unorderedLoss = await lossCheck(false);
  const orderedLoss = await lossCheck(true);
  const lost = unorderedLoss.lost + orderedLoss.lost;
  const clean = [unorderedLoss, orderedLoss].every((c) => c.lost === 0 && c.deliveredMoreThanOnce === 0 && c.producerReportedFailed === 0);

  const loop = median(loopMs);
  const prod = median(producerMs);
  const ordered = median(orderedMs);
  const ratio = loop / prod;
  log(`P6: producer ${prod.toFixed(1)} ms (ordered: ${ordered.toFixed(1)} ms), plain loop ${loop.toFixed(1)} ms per ${n} records; lost ${lost}`);
  return {
    id: 'P6',
    figure:
      `producer ${Math.round((n * 1000) / prod).toLocaleString('en-US')} rec/s (ordered: ${Math.round((n * 1000) / ordered).toLocaleString('en-US')}); ` +
      `lost ${lost} of ${distinct.size} with ${injected} injected failures, each mode`,
    reference: `plain loop ${Math.round((n * 1000) / loop).toLocaleString('en-US')} rec/s`,
    ratio,
    target: '≥ 0.90; 0 lost',
    met: ratio >= 0.9 && clean,
    subRatios: { ordered: round(loop / ordered, 4) },
    raw: {
      records: n,
      rounds,
      transport: 'aws-sdk-client-mock (in-process fake PutRecords)',
      headline: 'ordered: false (500-record calls, the plain loop\'s batching); ordered (the default) as a secondary ratio',
      producerMedianMs: round(prod),
      orderedProducerMedianMs: round(ordered),
      plainLoopMedianMs: round(loop),
      producerMsAll: producerMs.map((x) => round(x)),
      orderedProducerMsAll: orderedMs.map((x) => round(x)),
      plainLoopMsAll: loopMs.map((x) => round(x)),
      partialFailures: { unordered: unorderedLoss, ordered: orderedLoss },
    },
  };
}

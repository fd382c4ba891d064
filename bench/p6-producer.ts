/**
 * P6: the producer library (`scripts/lib/producer.ts`) against a plain SDK loop that sends the same records in the
 * same 500-record PutRecords batches. The headline is the producer with the same batching (`ordered: false`), fed with
 * `putAll`, its call for many records at once.
 *
 * Both sides send through a real KinesisClient whose whole request path runs (serialising, signing, parsing the
 * answer) and whose transport answers in process (`bench/lib/in-process-kinesis.ts`): the CPU a PutRecords call costs
 * the caller, without a network or an emulator, whose noise on a shared machine is larger than the difference being
 * measured. Beside the headline:
 * - `awaited put`: the same records put one `await producer.put(r)` at a time (the caller's await per record);
 * - `mocked send`: the producer against the loop with `send` mocked out (aws-sdk-client-mock), which leaves only
 *   what the two do around the SDK: the producer's own overhead, at its most visible;
 * - `ordered`: the default mode against the mocked loop, whose calls end before a partition key's second record
 *   (about 50 records a call with the workload's 50 devices): its gap is the number of calls, not the producer's own
 *   work (through the SDK's request path, its ~1,000 calls a run would take most of the bench's time).
 *
 * Partial failures (chosen entries answered with ProvisionedThroughputExceededException) are injected through a mock,
 * for the zero-loss check, which runs every feed and mode. */
import { KinesisClient, PutRecordsCommand, type PutRecordsCommandInput, type PutRecordsResultEntry } from '@aws-sdk/client-kinesis';
import { mockClient } from 'aws-sdk-client-mock';
import { MAX_PUT_RECORDS_ENTRIES, Producer } from '../scripts/lib/producer';
import type { BenchLog, FigureResult } from './lib/figure';
import { collectGarbage, cpuNow, cpuSince, median, round } from './lib/stats';
import { inProcessKinesis } from './lib/in-process-kinesis';
import { benchWorkload } from './lib/workload';
import { LOCAL_REGION } from '../scripts/local/probe';

/** Options of {@link runP6}. */
export interface P6Options {
  /** Records per run. @default 50000 */
  readonly records?: number;
  /** Timed rounds, each running every side once; the median of the rounds' ratios is reported. @default 15 */
  readonly rounds?: number;
}

/** A real KinesisClient whose PutRecords `answer` stands in for the service. */
function mockedKinesis(answer: (input: PutRecordsCommandInput) => { FailedRecordCount: number; Records: PutRecordsResultEntry[] }) {
  const client = new KinesisClient({ region: LOCAL_REGION, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
  const mock = mockClient(client);
  mock.on(PutRecordsCommand).callsFake(answer);
  return { client, mock };
}

/** What the timing fake answers for each entry. */
const ACCEPTED: PutRecordsResultEntry = Object.freeze({ ShardId: 'shardId-000000000000', SequenceNumber: '1' });

/**
 * The fake the timed sides talk to: accepts every entry, with as little work per entry as an answer allows. Its cost
 * is paid by both sides alike, so any per-entry work here (decoding each record, as the faulty fake must) would pull
 * the ratio towards 1; it is also its own function, not the faulty fake's with a flag, so that the loss checks do not
 * make its code polymorphic for the runs that follow (that moved the loop's time from 47 to 115 ms between runs).
 */
function acceptingKinesis() {
  return mockedKinesis((input) => ({ FailedRecordCount: 0, Records: input.Records!.map(() => ACCEPTED) }));
}

/** The fake of the loss checks: fails the entries `fail` picks, as PutRecords does, and counts what it accepted. */
function faultyKinesis(fail: (data: string) => boolean) {
  const delivered = new Map<string, number>();
  let calls = 0;
  let seq = 0;
  const fake = mockedKinesis((input) => {
    calls++;
    let failed = 0;
    const Records: PutRecordsResultEntry[] = input.Records!.map((r) => {
      const data = Buffer.from(r.Data!).toString();
      if (fail(data)) {
        failed++;
        return { ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'injected' };
      }
      delivered.set(data, (delivered.get(data) ?? 0) + 1);
      return { ShardId: 'shardId-000000000000', SequenceNumber: String(++seq) };
    });
    return { FailedRecordCount: failed, Records };
  });
  return { ...fake, delivered, calls: () => calls };
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

/** How the producer is handed the records: `putAll`, or an awaited `put` per record. */
type Feed = 'putAll' | 'put';

async function producerRun(client: KinesisClient, records: readonly { partitionKey: string; data: string }[], feed: Feed, ordered: boolean) {
  const producer = new Producer(client, {
    streamName: 'bench',
    ordered,
    // Backoff is waited for real in production; here it would only measure the sleep, so it is skipped.
    sleep: () => Promise.resolve(),
  });
  if (feed === 'putAll') await producer.putAll(records);
  else for (const r of records) await producer.put(r);
  await producer.close();
  return producer.stats;
}

/** Measures P6. */
export async function runP6(opts: P6Options = {}, log: BenchLog = () => undefined): Promise<FigureResult> {
  const n = opts.records ?? 50_000;
  const rounds = opts.rounds ?? 15;
  const records = benchWorkload(n).map((r) => ({ partitionKey: r.partitionKey, data: r.data }));

  const sdk = inProcessKinesis();
  const fake = acceptingKinesis();
  // Each side, timed in turn every round. `loop` and `producer` are the headline; the mocked pair is the producer's own
  // overhead, with the SDK's request path (serialisation, signing, parsing) cut out of both sides.
  const sides: Record<string, () => Promise<unknown>> = {
    'loop': () => plainLoop(sdk, 'bench', records),
    'producer': () => producerRun(sdk, records, 'putAll', false),
    'awaited put': () => producerRun(sdk, records, 'put', false),
    'mocked loop': () => plainLoop(fake.client, 'bench', records),
    'mocked producer': () => producerRun(fake.client, records, 'putAll', false),
    // Through the mock: its ~1,000 calls would spend most of the bench's time in the SDK's per-call path.
    'ordered': () => producerRun(fake.client, records, 'putAll', true),
  };
  const ms: Record<string, number[]> = Object.fromEntries(Object.keys(sides).map((k) => [k, []]));
  try {
    for (let i = 0; i < rounds + 2; i++) {
      // Every other round runs the sides in reverse, so that neither side of a pair always runs first.
      const order = Object.entries(sides);
      if (i % 2 === 1) order.reverse();
      for (const [name, run] of order) {
        // The mock (a sinon stub) keeps every call's input: its history is dropped and the heap collected before each
        // side, so that what one side left behind is not collected during the next one's timing.
        fake.mock.resetHistory();
        collectGarbage();
        const t = cpuNow();
        await run();
        if (i >= 2) ms[name].push(cpuSince(t));
      }
    }
  } finally {
    fake.mock.restore();
  }

  // Partial failures: each record fails on 0, 1 or 2 attempts (chosen by a hash of its content, so the run is
  // reproducible), within the producer's default bound of 6 attempts; every record must land exactly once, in both
  // modes and both feeds.
  const failFor = (data: string) => {
    let h = 0;
    for (let i = 0; i < data.length; i++) h = (Math.imul(h, 31) + data.charCodeAt(i)) | 0;
    return [0, 0, 0, 0, 0, 0, 0, 1, 1, 2][Math.abs(h) % 10];
  };
  const distinct = new Set(records.map((r) => r.data));
  const injected = [...distinct].reduce((a, d) => a + failFor(d), 0);
  const lossCheck = async (ordered: boolean, feed: Feed) => {
    const attempts = new Map<string, number>();
    const faulty = faultyKinesis((data) => {
      const seen = attempts.get(data) ?? 0;
      attempts.set(data, seen + 1);
      return seen < failFor(data);
    });
    try {
      const stats = await producerRun(faulty.client, records, feed, ordered);
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
  const unorderedLoss = await lossCheck(false, 'putAll');
  const orderedLoss = await lossCheck(true, 'putAll');
  const awaitedLoss = await lossCheck(false, 'put');
  const checks = [unorderedLoss, orderedLoss, awaitedLoss];
  const lost = checks.reduce((n, c) => n + c.lost, 0);
  const clean = checks.every((c) => c.lost === 0 && c.deliveredMoreThanOnce === 0 && c.producerReportedFailed === 0);

  const med = Object.fromEntries(Object.entries(ms).map(([k, xs]) => [k, median(xs)]));
  // Each ratio is the median of the rounds' own ratios: the two sides of one round ran moments apart, so a drift in the
  // machine's speed over the run (other work, the heap growing) moves both alike, where a ratio of the two sides'
  // medians mixed rounds run at different speeds.
  const ratioOf = (ref: string, side: string) => median(ms[ref].map((r, i) => r / ms[side][i]));
  const loop = med['loop'];
  const prod = med['producer'];
  const ratio = ratioOf('loop', 'producer');
  const subRatios = {
    'awaited put': round(ratioOf('loop', 'awaited put'), 4),
    'ordered': round(ratioOf('mocked loop', 'ordered'), 4),
    'mocked send': round(ratioOf('mocked loop', 'mocked producer'), 4),
  };
  log(
    `P6: producer ${prod.toFixed(1)} ms (awaited put ${med['awaited put'].toFixed(1)}, ordered ${med['ordered'].toFixed(1)}), ` +
      `plain loop ${loop.toFixed(1)} ms per ${n} records; mocked send: producer ${med['mocked producer'].toFixed(1)}, loop ${med['mocked loop'].toFixed(1)} ms; lost ${lost}`,
  );
  const rate = (msPerRun: number) => Math.round((n * 1000) / msPerRun).toLocaleString('en-US');
  return {
    id: 'P6',
    figure: `producer ${rate(prod)} rec/s (ordered: ${rate(med['ordered'])}); lost ${lost} of ${distinct.size} with ${injected} injected failures, each mode and feed`,
    reference: `plain loop ${rate(loop)} rec/s`,
    ratio,
    target: '≥ 0.90; 0 lost',
    met: ratio >= 0.9 && clean,
    subRatios,
    raw: {
      records: n,
      rounds,
      transport:
        'the SDK\'s whole request path answered in process (bench/lib/in-process-kinesis.ts); "mocked" sides: aws-sdk-client-mock, send replaced',
      headline: "putAll, ordered: false (500-record calls, the plain loop's batching) against the plain loop, both through the SDK's request path",
      secondary: 'awaited put: one awaited put per record; mocked send: producer against loop with send mocked out; ordered: the default mode against the mocked loop',
      medianMs: Object.fromEntries(Object.entries(med).map(([k, v]) => [k, round(v)])),
      msAll: Object.fromEntries(Object.entries(ms).map(([k, xs]) => [k, xs.map((x) => round(x))])),
      partialFailures: { unordered: unorderedLoss, ordered: orderedLoss, awaitedPut: awaitedLoss },
    },
  };
}

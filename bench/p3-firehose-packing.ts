/**
 * P3: how cheaply window results reach Firehose. The real `FirehoseResultSink` packs results (NDJSON lines) into
 * Firehose records of up to 1,000 KiB and sends them with PutRecordBatch; a mocked Firehose client captures every
 * call. Firehose bills each record rounded up to 5 KB, so the billing ratio is Σ ceil(bytes / 5120) × 5120 ÷ Σ bytes.
 *
 * The honest floor: an emission of b bytes cannot be billed less than ceil(b / 5 KB) · 5 KB however it is packed (one
 * record per 5 KB at best). So the figure is reported by emission size, side by side:
 * - small emissions (≤ 50 KB): billed ÷ that floor, target ≤ 1.02 (packing adds at most 2 % to what no packing avoids);
 * - emissions over 50 KB: billed ÷ bytes sent, target ≤ 1.05 (the rounding is then small beside the payload).
 *
 * Three emission shapes, all from the handler running on the shared generator's workload:
 * - per batch: what each 500-record batch of the stack's default BatchSize emits (tens of results);
 * - large: one emission of many thousand results (a backlog, or a batch after the idle closer fired many keys),
 *   which is where "records per request" has enough to send.
 */
import { FirehoseClient, PutRecordBatchCommand } from '@aws-sdk/client-firehose';
import { mockClient } from 'aws-sdk-client-mock';
import { createKinesisHandler } from '../lambda/adapters/kinesis-handler';
import { FIREHOSE_BILLING_INCREMENT_BYTES, FirehoseResultSink } from '../lambda/adapters/firehose-result-sink';
import type { WindowResult } from '../lambda/domain/window-result';
import type { BenchLog, FigureResult } from './lib/figure';
import { CountingRecordSink, LeanWindowStore } from './lib/memory-ports';
import { round } from './lib/stats';
import { BENCH_START_MS, benchEvent, benchSpec, benchWorkload } from './lib/workload';
import { LOCAL_REGION } from '../scripts/local/probe';

/** Options of {@link runP3}. */
export interface P3Options {
  /** Records of the per-batch scenario. @default 20000 */
  readonly records?: number;
  /** @default 500 */
  readonly batchSize?: number;
  /** Devices of the large-emission scenario (one key each, so one window result each per minute). @default 10000 */
  readonly largeDevices?: number;
}

/** What a sequence of emissions cost on Firehose. */
export interface EmissionCost {
  emissions: number;
  results: number;
  requests: number;
  firehoseRecords: number;
  bytesSent: number;
  bytesBilled: number;
  billingRatio: number;
  resultsPerRequest: number;
  firehoseRecordsPerRequest: number;
  maxResultsInARequest: number;
  /** Each emission's bytes (Σ of its Firehose records) and what it was billed, in emission order. */
  perEmission: { bytes: number; billed: number }[];
}

/** Emissions above this many bytes are "large" (the 50 KB: ten billing increments). */
export const LARGE_EMISSION_BYTES = 10 * FIREHOSE_BILLING_INCREMENT_BYTES;

/** The least an emission of `bytes` can be billed, however it is packed. */
export function emissionFloor(bytes: number): number {
  return Math.ceil(bytes / FIREHOSE_BILLING_INCREMENT_BYTES) * FIREHOSE_BILLING_INCREMENT_BYTES;
}

/** Totals of a set of emissions: billed against the floor (small) and against bytes sent (large). */
export interface SizeClass {
  emissions: number;
  bytesSent: number;
  bytesBilled: number;
  floorBytes: number;
  /** billed ÷ Σ floor(emission). */
  ratioToFloor: number;
  /** billed ÷ bytes sent. */
  billingRatio: number;
}

/** Adds up the emissions whose size `keep` accepts. */
export function sizeClass(costs: readonly EmissionCost[], keep: (bytes: number) => boolean): SizeClass {
  const c = { emissions: 0, bytesSent: 0, bytesBilled: 0, floorBytes: 0, ratioToFloor: NaN, billingRatio: NaN };
  for (const cost of costs) {
    for (const e of cost.perEmission) {
      if (!keep(e.bytes)) continue;
      c.emissions++;
      c.bytesSent += e.bytes;
      c.bytesBilled += e.billed;
      c.floorBytes += emissionFloor(e.bytes);
    }
  }
  if (c.emissions > 0) {
    c.ratioToFloor = c.bytesBilled / c.floorBytes;
    c.billingRatio = c.bytesBilled / c.bytesSent;
  }
  return c;
}

/** Sends each emission through the real sink to a mocked Firehose and adds up what the calls would be billed. */
export async function emissionCost(emissions: readonly (readonly WindowResult[])[]): Promise<EmissionCost> {
  const client = new FirehoseClient({ region: LOCAL_REGION, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
  const mock = mockClient(client);
  mock.on(PutRecordBatchCommand).callsFake((input: { Records: unknown[] }) => ({
    FailedPutCount: 0,
    RequestResponses: input.Records.map((_: unknown, i: number) => ({ RecordId: String(i) })),
  }));
  const sink = new FirehoseResultSink(client, { deliveryStreamName: 'results' });
  const cost: EmissionCost = {
    emissions: 0,
    results: 0,
    requests: 0,
    firehoseRecords: 0,
    bytesSent: 0,
    bytesBilled: 0,
    billingRatio: 0,
    resultsPerRequest: 0,
    firehoseRecordsPerRequest: 0,
    maxResultsInARequest: 0,
    perEmission: [],
  };
  try {
    for (const results of emissions) {
      if (results.length === 0) continue;
      mock.resetHistory();
      await sink.emit(results);
      cost.emissions++;
      cost.results += results.length;
      const emission = { bytes: 0, billed: 0 };
      for (const call of mock.commandCalls(PutRecordBatchCommand)) {
        const records = call.args[0].input.Records ?? [];
        cost.requests++;
        let lines = 0;
        for (const r of records) {
          const bytes = r.Data!.byteLength;
          cost.firehoseRecords++;
          const billed = Math.ceil(bytes / FIREHOSE_BILLING_INCREMENT_BYTES) * FIREHOSE_BILLING_INCREMENT_BYTES;
          cost.bytesSent += bytes;
          cost.bytesBilled += billed;
          emission.bytes += bytes;
          emission.billed += billed;
          for (const b of r.Data!) if (b === 0x0a) lines++;
        }
        cost.maxResultsInARequest = Math.max(cost.maxResultsInARequest, lines);
      }
      cost.perEmission.push(emission);
    }
  } finally {
    mock.restore();
  }
  cost.billingRatio = cost.bytesSent === 0 ? NaN : cost.bytesBilled / cost.bytesSent;
  cost.resultsPerRequest = cost.requests === 0 ? NaN : cost.results / cost.requests;
  cost.firehoseRecordsPerRequest = cost.requests === 0 ? NaN : cost.firehoseRecords / cost.requests;
  return cost;
}

/** Runs the handler over a workload in batches and keeps each batch's emission. */
async function emissionsOf(records: ReturnType<typeof benchWorkload>, batchSize: number): Promise<WindowResult[][]> {
  const { spec } = benchSpec();
  const emissions: WindowResult[][] = [];
  const handler = createKinesisHandler(
    {
      spec,
      store: new LeanWindowStore(),
      results: {
        emit: (r) => {
          emissions.push([...r]);
          return Promise.resolve();
        },
      },
      errors: new CountingRecordSink(),
      late: new CountingRecordSink(),
    },
    () => BENCH_START_MS,
  );
  for (let first = 0; first < records.length; first += batchSize) {
    await handler(benchEvent(records.slice(first, first + batchSize), first));
  }
  return emissions;
}

/** Measures P3. */
export async function runP3(opts: P3Options = {}, log: BenchLog = () => undefined): Promise<FigureResult> {
  const n = opts.records ?? 20_000;
  const batchSize = opts.batchSize ?? 500;
  const workload = benchWorkload(n);
  const perBatch = await emissionCost(await emissionsOf(workload, batchSize));
  // The same stream in batches ten times larger (BatchSize, or a batching window at a higher rate).
  const biggerBatch = batchSize * 10;
  const perBiggerBatch = await emissionCost(await emissionsOf(workload, biggerBatch));
  // One delivery holding many keys: every device's minute windows fire together.
  const large = await emissionCost(await emissionsOf(benchWorkload(20_000, { devices: opts.largeDevices ?? 10_000 }), 20_000));
  const all = [perBatch, perBiggerBatch, large];
  const small = sizeClass(all, (b) => b <= LARGE_EMISSION_BYTES);
  const big = sizeClass(all, (b) => b > LARGE_EMISSION_BYTES);
  const SMALL_TARGET = 1.02;
  const LARGE_TARGET = 1.05;
  log(`P3: billed/sent ${perBatch.billingRatio.toFixed(3)} at ${batchSize}/batch, ${perBiggerBatch.billingRatio.toFixed(3)} at ${biggerBatch}, ${large.billingRatio.toFixed(3)} large`);
  log(
    `P3: emissions ≤ 50 KB: ${small.emissions}, billed ÷ floor ${small.ratioToFloor.toFixed(3)} (target ≤ ${SMALL_TARGET}); ` +
      `> 50 KB: ${big.emissions}, billed ÷ sent ${big.billingRatio.toFixed(3)} (target ≤ ${LARGE_TARGET})`,
  );
  const smallMet = !(small.ratioToFloor > SMALL_TARGET);
  const bigMet = !(big.billingRatio > LARGE_TARGET);
  const met = smallMet && bigMet && large.resultsPerRequest >= 450;
  const summary = (c: EmissionCost) => {
    const { perEmission, ...rest } = c;
    return {
      ...rest,
      billingRatio: round(c.billingRatio, 4),
      resultsPerRequest: round(c.resultsPerRequest, 1),
      firehoseRecordsPerRequest: round(c.firehoseRecordsPerRequest, 2),
      meanEmissionBytes: Math.round(c.bytesSent / Math.max(1, c.emissions)),
      maxEmissionBytes: Math.max(0, ...perEmission.map((e) => e.bytes)),
    };
  };
  const cls = (c: SizeClass) => ({ ...c, ratioToFloor: round(c.ratioToFloor, 4), billingRatio: round(c.billingRatio, 4) });
  return {
    id: 'P3',
    figure:
      `≤ 50 KB: billed ÷ floor ${round(small.ratioToFloor, 3)} (target ≤ ${SMALL_TARGET}, ${small.emissions} emissions); ` +
      `> 50 KB: billed ÷ sent ${round(big.billingRatio, 3)} (target ≤ ${LARGE_TARGET}, ${big.emissions}); ` +
      `billed/sent ${round(perBatch.billingRatio, 3)} @${batchSize}/batch, ${round(perBiggerBatch.billingRatio, 3)} @${biggerBatch}, ` +
      `${round(large.billingRatio, 3)} large; results/request ${Math.round(large.resultsPerRequest)} large`,
    reference: 'floor ceil(b/5 KB)·5 KB per emission (≤ 50 KB); bytes sent (> 50 KB)',
    ratio: small.ratioToFloor,
    target: `≤ ${SMALL_TARGET} × floor (≤ 50 KB); ≤ ${LARGE_TARGET} (> 50 KB); ≥ 450 results/request (large)`,
    met,
    subRatios: {
      'small÷floor': round(small.ratioToFloor, 4),
      'large billed÷sent': round(big.billingRatio, 4),
      [`billed÷sent @${batchSize}`]: round(perBatch.billingRatio, 4),
    },
    note:
      `emissions ≤ 50 KB ${smallMet ? 'meet' : 'MISS'} ≤ ${SMALL_TARGET} × floor (${round(small.ratioToFloor, 3)}); ` +
      `> 50 KB ${bigMet ? 'meet' : 'MISS'} ≤ ${LARGE_TARGET} (${round(big.billingRatio, 3)}). ` +
      `Billed ÷ sent at ${batchSize}/batch is ${round(perBatch.billingRatio, 3)}: a batch emits about ` +
      `${Math.round(perBatch.bytesSent / Math.max(1, perBatch.emissions) / 1024)} KiB, and the rounding of its last 5 KB is the floor itself`,
    raw: {
      billingIncrementBytes: FIREHOSE_BILLING_INCREMENT_BYTES,
      [`batch${batchSize}`]: summary(perBatch),
      [`batch${biggerBatch}`]: summary(perBiggerBatch),
      large: summary(large),
      largeEmissionThresholdBytes: LARGE_EMISSION_BYTES,
      emissionsUpTo50KB: cls(small),
      emissionsOver50KB: cls(big),
    },
  };
}

/**
 * The guide's cost comparison: this pipeline against a one-KPU Managed Service for Apache Flink application at 1, 10
 * and 100 records/s, priced with bench/lib/cost-model.ts (one definition of each price).
 */
import {
  FLINK_STORAGE_GB_PER_KPU,
  HOURS_PER_MONTH,
  monthlyCost,
  PRICES,
  SECONDS_PER_MONTH,
} from '../../bench/lib/cost-model';

/** The rates compared. */
export const COST_RATES = [1, 10, 100] as const;
/** Assumptions: the sample's record size and keys, and a handler time per batch. */
const BYTES_PER_RECORD = 150;
const KEYS = 12;
const WINDOW_SECONDS = 60;
const LAMBDA_MS_PER_BATCH = 60;
const BYTES_PER_RESULT = 350;

/** A month of Managed Flink: KPUs (plus the orchestration one) and their running storage. */
export function flinkMonthly(kpus = 1): number {
  return (kpus + 1) * PRICES.flinkPerKpuHour * HOURS_PER_MONTH + kpus * FLINK_STORAGE_GB_PER_KPU * PRICES.flinkStoragePerGbMonth;
}

/** A month of one provisioned shard, PUT payload units included (each record at most 25 KB: one unit). */
export function provisionedStreamMonthly(recordsPerSecond: number): number {
  return PRICES.kinesisProvisionedPerShardHour * HOURS_PER_MONTH + (recordsPerSecond * SECONDS_PER_MONTH * PRICES.kinesisProvisionedPerMillionPutUnits) / 1e6;
}

/** A monthly amount: cents below $10, whole dollars above. */
const usd = (x: number) => `$${x < 10 && !Number.isInteger(x) ? x.toFixed(2) : Math.round(x)}`;
/** A unit price, as listed. */
const price = (x: number) => `$${x}`;

/** The guide's cost table and its assumptions, as markdown. */
export function kdaCostRows(): string {
  const rows = COST_RATES.map((r) => {
    // The event source mapping polls each shard about once a second (batching window 1 s): one batch a second.
    const batchesPerSecond = 1;
    const windowsPerBatch = Math.min(r, KEYS);
    const pipeline = monthlyCost({
      shards: 1,
      recordsPerSecond: r,
      bytesPerRecord: BYTES_PER_RECORD,
      batchSize: r / batchesPerSecond,
      // A write per touched window and one for the lane, a firing write and a mark per window and minute.
      wcuPerSecond: batchesPerSecond * (windowsPerBatch + 1) + (2 * KEYS) / WINDOW_SECONDS,
      rcuPerSecond: batchesPerSecond * windowsPerBatch,
      resultsPerSecond: KEYS / WINDOW_SECONDS,
      bytesPerResult: BYTES_PER_RESULT,
      lambdaMsPerBatch: LAMBDA_MS_PER_BATCH,
    });
    const onDemandStream = pipeline.kinesis;
    const provisioned = provisionedStreamMonthly(r);
    const withProvisioned = pipeline.total - onDemandStream + provisioned;
    const flink = flinkMonthly(1);
    return `| ${r} | ${usd(pipeline.dynamodb)} | ${usd(pipeline.lambda)} | ${usd(pipeline.firehose)} | ${usd(onDemandStream)} / ${usd(provisioned)} | **${usd(pipeline.total)}** / **${usd(withProvisioned)}** | ${usd(flink)} + stream ${usd(provisioned)} = **${usd(flink + provisioned)}** |`;
  });
  return [
    '| records/s | DynamoDB | Lambda | Firehose | Kinesis (on-demand / 1 provisioned shard) | this pipeline (on-demand / provisioned) | Managed Flink, 1 KPU |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
    `Prices (us-east-1, bench/lib/cost-model.ts): Managed Flink ${price(PRICES.flinkPerKpuHour)}/KPU-hour, one more KPU per application ` +
      `for orchestration, ${FLINK_STORAGE_GB_PER_KPU} GB running storage per KPU at ${price(PRICES.flinkStoragePerGbMonth)}/GB-month; ` +
      `Kinesis on-demand ${price(PRICES.kinesisOnDemandPerStreamHour)}/stream-hour + ${price(PRICES.kinesisOnDemandPerGbIn)}/GB in + ${price(PRICES.kinesisOnDemandPerGbOut)}/GB out, ` +
      `provisioned ${price(PRICES.kinesisProvisionedPerShardHour)}/shard-hour + ${price(PRICES.kinesisProvisionedPerMillionPutUnits)}/million PUT units; ` +
      `DynamoDB on-demand ${price(PRICES.dynamodbPerMillionWrites)}/million writes, ${price(PRICES.dynamodbPerMillionReads)}/million reads; ` +
      `Lambda arm64 ${price(PRICES.lambdaPerGbSecond)}/GB-s + ${price(PRICES.lambdaPerMillionRequests)}/million requests; Firehose ${price(PRICES.firehosePerGb)}/GB. ` +
      `A 30-day month. Assumptions: ${BYTES_PER_RECORD}-byte records, ${KEYS} keys, one-minute windows, one shard polled once a second ` +
      `(one batch a second), ${LAMBDA_MS_PER_BATCH} ms of a 1 GB function per batch, each touched window written once per batch; ` +
      'the pipeline\'s Kinesis figure includes reading the stream twice (aggregator and raw archive), and its Firehose figure the raw archive. ' +
      'Dollar amounts of the pipeline are rounded to whole dollars by the cost model. The Flink column counts the KPUs and the same source stream ' +
      '(provisioned), not its sink. Idle, the pipeline costs its stream alone; the Flink application bills its KPUs whether or not records flow.',
  ].join('\n');
}

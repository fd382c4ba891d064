/**
 * On-demand list prices, us-east-1, as stated in docs/performance.md ("What P8 costs"). Check the pricing pages before
 * relying on them; they are constants here so that every figure uses the same ones.
 */
export const PRICES = {
  /** DynamoDB on-demand, per million write request units. @see https://aws.amazon.com/dynamodb/pricing/on-demand/ */
  dynamodbPerMillionWrites: 0.625,
  /** DynamoDB on-demand, per million read request units. */
  dynamodbPerMillionReads: 0.125,
  /** Lambda arm64, per GB-second. @see https://aws.amazon.com/lambda/pricing/ */
  lambdaPerGbSecond: 0.0000133334,
  /** Lambda, per million requests. */
  lambdaPerMillionRequests: 0.2,
  /** Kinesis Data Streams on-demand, per stream-hour. @see https://aws.amazon.com/kinesis/data-streams/pricing/ */
  kinesisOnDemandPerStreamHour: 0.04,
  /** Kinesis on-demand, per GB written. */
  kinesisOnDemandPerGbIn: 0.08,
  /** Kinesis on-demand, per GB read (standard consumers). */
  kinesisOnDemandPerGbOut: 0.04,
  /** Firehose direct PUT, per GB ingested (first 500 TB/month), each record rounded up to 5 KB. @see https://aws.amazon.com/firehose/pricing/ */
  firehosePerGb: 0.029,
  /** Kinesis Data Streams provisioned, per shard-hour. @see https://aws.amazon.com/kinesis/data-streams/pricing/ */
  kinesisProvisionedPerShardHour: 0.015,
  /** Kinesis provisioned, per million PUT payload units (25 KB each). */
  kinesisProvisionedPerMillionPutUnits: 0.014,
  /**
   * Managed Service for Apache Flink, per KPU-hour (1 vCPU, 4 GB); every application is billed one more KPU for
   * orchestration. @see https://aws.amazon.com/managed-service-apache-flink/pricing/
   */
  flinkPerKpuHour: 0.11,
  /** Managed Flink running application storage, per GB-month; each KPU comes with 50 GB of it. */
  flinkStoragePerGbMonth: 0.1,
} as const;

/** Running application storage per Managed Flink KPU, GB. @see https://aws.amazon.com/managed-service-apache-flink/pricing/ */
export const FLINK_STORAGE_GB_PER_KPU = 50;
/** Hours in a 30-day month. */
export const HOURS_PER_MONTH = 720;

/** Seconds in a 30-day month. */
export const SECONDS_PER_MONTH = 30 * 86_400;
/** The aggregator's memory (window-aggregator.ts), for GB-seconds. */
export const AGGREGATOR_MEMORY_GB = 1;
/** Firehose bills each record rounded up to this. */
const FIREHOSE_RECORD_BYTES = 5 * 1024;

/** The load a month is priced at. */
export interface CostInput {
  readonly shards: number;
  readonly recordsPerSecond: number;
  readonly bytesPerRecord: number;
  readonly batchSize: number;
  readonly wcuPerSecond: number;
  readonly rcuPerSecond: number;
  /** Window results emitted per second (packed, newline-delimited, into Firehose records of up to 1,000 KiB). */
  readonly resultsPerSecond: number;
  /** Bytes per result line. */
  readonly bytesPerResult: number;
  /** Lambda time per batch (from P9's latency model). */
  readonly lambdaMsPerBatch: number;
}

/** Dollars per month, by service. */
export interface MonthlyCost {
  readonly dynamodb: number;
  readonly lambda: number;
  readonly kinesis: number;
  readonly firehose: number;
  readonly total: number;
}

/**
 * What the pipeline costs per month at a steady load. Firehose carries the raw archive (every record, packed by the
 * producer into 5 KB-rounded records of about 1 MiB: so billed by size) and the results.
 */
export function monthlyCost(i: CostInput): MonthlyCost {
  const r2 = (x: number) => Math.round(x);
  const dynamodb = (i.wcuPerSecond * PRICES.dynamodbPerMillionWrites + i.rcuPerSecond * PRICES.dynamodbPerMillionReads) * (SECONDS_PER_MONTH / 1e6);
  const batchesPerSecond = i.recordsPerSecond / i.batchSize;
  const lambda =
    batchesPerSecond * SECONDS_PER_MONTH * ((i.lambdaMsPerBatch / 1000) * AGGREGATOR_MEMORY_GB * PRICES.lambdaPerGbSecond + PRICES.lambdaPerMillionRequests / 1e6);
  const gbPerMonth = (i.recordsPerSecond * i.bytesPerRecord * SECONDS_PER_MONTH) / 1e9;
  // One stream; its data is read twice (the aggregator and the raw-archive Firehose).
  const kinesis = PRICES.kinesisOnDemandPerStreamHour * 720 + gbPerMonth * (PRICES.kinesisOnDemandPerGbIn + 2 * PRICES.kinesisOnDemandPerGbOut);
  const resultGb = (Math.max(i.resultsPerSecond * i.bytesPerResult, i.resultsPerSecond > 0 ? FIREHOSE_RECORD_BYTES / 60 : 0) * SECONDS_PER_MONTH) / 1e9;
  const firehose = (gbPerMonth + resultGb) * PRICES.firehosePerGb;
  return { dynamodb: r2(dynamodb), lambda: r2(lambda), kinesis: r2(kinesis), firehose: r2(firehose), total: r2(dynamodb + lambda + kinesis + firehose) };
}

import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { z } from 'zod';
import { UPDATE_BATCHING_MODES } from '../../lambda/contract/env';
import { LANE_BUCKETS, PENDING_KEY_SPREAD } from '../../lambda/contract/window-table-layout';
import type { AggregationSpec } from '../../lambda/domain/spec';
import { CONFIG_DEFAULTS } from './defaults';
import {
  EMAIL,
  GLUE_DATABASE_NAME,
  INFINITE,
  MAX_BATCHING_WINDOW_SECONDS,
  MAX_BUFFER_INTERVAL_SECONDS,
  MAX_BUFFER_SIZE_MIB,
  MAX_KINESIS_BATCH_SIZE,
  MAX_LIFECYCLE_DAYS,
  MAX_PARALLELIZATION_FACTOR,
  MAX_RECORD_AGE_SECONDS,
  MAX_RETENTION_HOURS,
  MAX_RETRY_ATTEMPTS,
  MAX_SHARD_COUNT,
  METRICS_NAMESPACE,
  MIN_BUFFER_SIZE_MIB,
  MIN_RECORD_AGE_SECONDS,
  MIN_RETENTION_HOURS,
  SNS_TOPIC_ARN,
} from './limits';

/*
 * The settings schema: each field's type, range and default. Values from `-c key=value` always arrive as strings,
 * values from cdk.json as JSON types; both are accepted, but coercion is strict ("10" is an integer, "1e1" and "10.0"
 * are not; only "true"/"false" are booleans). The config types are derived from it.
 */

/** The `RetentionDays` values CloudWatch Logs accepts. */
const RETENTION_DAYS: readonly number[] = Object.values(RetentionDays).filter((v): v is number => typeof v === 'number');

function coerceInt(v: unknown): unknown {
  return typeof v === 'string' && /^[+-]?\d+$/.test(v.trim()) ? Number(v.trim()) : v;
}

function coerceBool(v: unknown): unknown {
  if (v === 'true') return true;
  if (v === 'false') return false;
  return v;
}

function intIn(min: number, max: number) {
  const error = `must be an integer ${min}–${max}`;
  return z.preprocess(coerceInt, z.number({ error }).int({ error }).min(min, { error }).max(max, { error }));
}

/** -1 (infinite) or an integer in [min, max]. */
function infiniteOr(min: number, max: number) {
  const error = `must be -1 (infinite) or an integer ${min}–${max}`;
  return z.preprocess(
    coerceInt,
    z
      .number({ error })
      .int({ error })
      .refine((v) => v === INFINITE || (v >= min && v <= max), { error }),
  );
}

const bool = z.preprocess(coerceBool, z.boolean({ error: 'must be true or false' }));

function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: `must be one of ${values.map((v) => `"${v}"`).join(', ')}` });
}

// Stage and prefix end up in the stack name ([A-Za-z][A-Za-z0-9-]*, ≤ 128) and in tags.
const STAGE = /^[a-z][a-z0-9-]{0,31}$/;
const NAME_PREFIX = /^[A-Za-z][A-Za-z0-9-]{0,63}$/;

/** The raw settings, each optional; cross-field defaults are applied after parsing (see rules.ts). */
export const settingsSchema = z.object({
  /**
   * Deployment stage; part of the stack name and a tag on every resource.
   * @default "dev"
   */
  stage: z.string({ error: `must match ${STAGE}` }).regex(STAGE, { error: `must match ${STAGE}` }).default(CONFIG_DEFAULTS.stage),
  /**
   * Replaces "WindowedPipeline" in the stack name, so that several copies can live in one account.
   * @default - "WindowedPipeline"
   */
  namePrefix: z
    .string({ error: `must match ${NAME_PREFIX}` })
    .regex(NAME_PREFIX, { error: `must match ${NAME_PREFIX}` })
    .optional(),
  /**
   * What happens to stateful resources (stream, table, bucket, queue, logs) when the stack is deleted.
   * @default "retain" for stage "prod", "destroy" otherwise
   */
  removalPolicy: oneOf(['destroy', 'retain']).optional(),
  /**
   * Whether deleting the stack empties the bucket first (a Lambda-backed custom resource). Only allowed with
   * removalPolicy "destroy"; the local emulator target turns it off because it cannot run that custom resource.
   * @default true when removalPolicy is "destroy", false otherwise
   */
  autoDeleteObjects: bool.optional(),
  /**
   * Kinesis capacity mode.
   * @default "on-demand"
   */
  streamMode: oneOf(['on-demand', 'provisioned']).default(CONFIG_DEFAULTS.streamMode),
  /**
   * Shards of a provisioned stream (1–500). Setting it with streamMode "on-demand" is an error.
   * @default 1
   */
  shardCount: intIn(1, MAX_SHARD_COUNT).optional(),
  /**
   * How long the stream keeps records, in hours (24–8760).
   * @default 24
   */
  retentionHours: intIn(MIN_RETENTION_HOURS, MAX_RETENTION_HOURS).default(CONFIG_DEFAULTS.retentionHours),
  /**
   * ESM BatchSize (1–10000).
   * @default 500
   */
  batchSize: intIn(1, MAX_KINESIS_BATCH_SIZE).default(CONFIG_DEFAULTS.batchSize),
  /**
   * ESM MaximumBatchingWindowInSeconds (0–300).
   * @default 1
   */
  maxBatchingWindowSeconds: intIn(0, MAX_BATCHING_WINDOW_SECONDS).default(CONFIG_DEFAULTS.maxBatchingWindowSeconds),
  /**
   * ESM ParallelizationFactor. Only 1 is accepted: see {@link loadConfig} for why values above 1 are refused.
   * @default 1
   */
  parallelizationFactor: intIn(1, MAX_PARALLELIZATION_FACTOR).default(CONFIG_DEFAULTS.parallelizationFactor),
  /**
   * ESM MaximumRetryAttempts: -1 (retry until the batch succeeds: nothing is ever skipped) or 0–10000 (opt-in: a
   * batch that still fails is given up to the failure queue, trading completeness for freshness).
   * @default -1
   */
  retryAttempts: infiniteOr(0, MAX_RETRY_ATTEMPTS).default(CONFIG_DEFAULTS.retryAttempts),
  /**
   * ESM MaximumRecordAgeInSeconds: -1 (never skip a record for its age) or 60–604800 and at most the stream retention
   * (opt-in, like a bounded `retryAttempts`).
   * @default -1
   */
  maxRecordAgeSeconds: infiniteOr(MIN_RECORD_AGE_SECONDS, MAX_RECORD_AGE_SECONDS).default(CONFIG_DEFAULTS.maxRecordAgeSeconds),
  /**
   * The idle closer fires a window only when every shard that fed it has had no batch for this long, however far
   * behind wall-clock time its event time is (10–86400).
   * @default 60
   */
  laneIdleTimeoutSeconds: intIn(10, 86_400).default(CONFIG_DEFAULTS.laneIdleTimeoutSeconds),
  /**
   * Path of the aggregation spec JSON, relative to the repository root (or absolute).
   * @default "specs/demo.json"
   */
  spec: z.string({ error: 'must be a file path' }).min(1, { error: 'must be a file path' }).default(CONFIG_DEFAULTS.spec),
  /**
   * Whether the Firehose delivery streams log delivery errors to CloudWatch Logs. The local emulator target sets
   * false because it cannot create AWS::Logs::LogStream.
   * @default true
   */
  firehoseErrorLogging: bool.default(CONFIG_DEFAULTS.firehoseErrorLogging),
  /**
   * How the functions send their conditional DynamoDB updates: "single", a request each; "transactions", the updates
   * a batch issues together grouped into TransactWriteItems of up to 100 (each keeps its own condition and outcome).
   * The local emulator target sets "transactions": the emulator serves every request in one process, so its cost
   * follows the number of requests. Keep "single" on AWS, where a transaction bills twice the write units and one
   * conflicting write cancels the whole transaction.
   * @default "single"
   */
  dynamoDbUpdateBatching: oneOf(UPDATE_BATCHING_MODES).default(CONFIG_DEFAULTS.dynamoDbUpdateBatching),
  /**
   * Buckets per shard slot of the window table's `pending` index (1–32): they spread a shard's window creations and
   * emissions over index partitions (see the P8 capacity figure). Part of the table layout: set it when the
   * deployment is created, never change it on a live one (pending windows would be left in the old buckets). The
   * local emulator target sets 1: it has no partitions, and serves every Query in one process.
   * @default 32
   */
  pendingKeySpread: intIn(1, PENDING_KEY_SPREAD).default(CONFIG_DEFAULTS.pendingKeySpread),
  /**
   * Partitions of the window table's lane (shard watermark) items (1–8): every batch reads every lane, one Query per
   * partition, and they spread the lanes' reads and writes. Part of the table layout: set it when the deployment is
   * created, never change it on a live one (the lanes' state would be left in the old partitions). The local emulator
   * target sets 1: it has no partitions, and serves every Query in one process.
   * @default 8
   */
  laneBuckets: intIn(1, LANE_BUCKETS).default(CONFIG_DEFAULTS.laneBuckets),
  /**
   * Retention of the function's and Firehose's log groups, one of the CloudWatch Logs values.
   * @default 30
   */
  logRetentionDays: z
    .preprocess(
      coerceInt,
      z.custom<RetentionDays>((v) => typeof v === 'number' && RETENTION_DAYS.includes(v), {
        error: `must be one of the CloudWatch Logs retention values ${RETENTION_DAYS.join(', ')}`,
      }),
    )
    .default(CONFIG_DEFAULTS.logRetentionDays),
  /**
   * Firehose buffering interval of the results stream, in seconds (0–900).
   * @default 60
   */
  resultsBufferSeconds: intIn(0, MAX_BUFFER_INTERVAL_SECONDS).default(CONFIG_DEFAULTS.resultsBufferSeconds),
  /**
   * Firehose buffering interval of the raw archive stream, in seconds (0–900).
   * @default 300
   */
  rawBufferSeconds: intIn(0, MAX_BUFFER_INTERVAL_SECONDS).default(CONFIG_DEFAULTS.rawBufferSeconds),
  /**
   * Firehose buffering size of both delivery streams, in MiB (1–128).
   * @default 5
   */
  bufferSizeMiB: intIn(MIN_BUFFER_SIZE_MIB, MAX_BUFFER_SIZE_MIB).default(CONFIG_DEFAULTS.bufferSizeMiB),
  /**
   * How often the idle closer fires windows whose end plus allowed lateness has passed in processing time, in
   * minutes (1–1440).
   * @default 1
   */
  idleCloseIntervalMinutes: intIn(1, 1440).default(CONFIG_DEFAULTS.idleCloseIntervalMinutes),
  /**
   * Which KMS keys encrypt the stream, the queue, the bucket and the table at rest. "customer-managed" creates one
   * key with yearly rotation for all four (and grants exactly the key actions each role needs); it costs about
   * $1 a month plus requests, and lets you revoke access or audit key use in CloudTrail.
   * @default "aws-managed"
   */
  encryptionKey: oneOf(['aws-managed', 'customer-managed']).default(CONFIG_DEFAULTS.encryptionKey),
  /**
   * S3 versioning on the data-lake bucket (protects against overwrites and deletes; noncurrent versions expire
   * after `noncurrentVersionExpirationDays`).
   * @default true for stage "prod", false otherwise
   */
  bucketVersioning: bool.optional(),
  /**
   * Days after which noncurrent object versions are deleted, when versioning is on (0 = never).
   * @default 30
   */
  noncurrentVersionExpirationDays: intIn(0, MAX_LIFECYCLE_DAYS).default(CONFIG_DEFAULTS.noncurrentVersionExpirationDays),
  /**
   * Days after which raw/ objects move to STANDARD_IA (0 = never; else at least 30).
   * @default 30
   */
  rawInfrequentAccessDays: intIn(0, MAX_LIFECYCLE_DAYS).default(CONFIG_DEFAULTS.rawInfrequentAccessDays),
  /**
   * Days after which raw/ objects move to GLACIER_IR (0 = never; else at least 30 after STANDARD_IA).
   * @default 90
   */
  rawGlacierDays: intIn(0, MAX_LIFECYCLE_DAYS).default(CONFIG_DEFAULTS.rawGlacierDays),
  /**
   * Days after which raw/ objects are deleted (0 = never).
   * @default 0
   */
  rawExpirationDays: intIn(0, MAX_LIFECYCLE_DAYS).default(CONFIG_DEFAULTS.rawExpirationDays),
  /**
   * Days after which results/ objects are deleted (0 = never).
   * @default 0
   */
  resultsExpirationDays: intIn(0, MAX_LIFECYCLE_DAYS).default(CONFIG_DEFAULTS.resultsExpirationDays),
  /**
   * Days after which errors/ objects and the Firehose raw-errors/ and results-errors/ objects are deleted (0 = never).
   * @default 90
   */
  errorsExpirationDays: intIn(0, MAX_LIFECYCLE_DAYS).default(CONFIG_DEFAULTS.errorsExpirationDays),
  /**
   * Days after which late/ objects are deleted (0 = never).
   * @default 90
   */
  lateExpirationDays: intIn(0, MAX_LIFECYCLE_DAYS).default(CONFIG_DEFAULTS.lateExpirationDays),
  /**
   * CloudFormation termination protection on the stack.
   * @default true for stage "prod", false otherwise
   */
  terminationProtection: bool.optional(),
  /**
   * Create the Glue Data Catalog database and tables (partition projection, no crawler) over the bucket.
   * @default true
   */
  glueCatalog: bool.default(CONFIG_DEFAULTS.glueCatalog),
  /**
   * Name of the Glue database (what Athena queries name).
   * @default the stack name in lower case with "-" replaced by "_", e.g. "windowedpipeline_dev"
   */
  glueDatabaseName: z
    .string({ error: `must match ${GLUE_DATABASE_NAME}` })
    .regex(GLUE_DATABASE_NAME, { error: `must match ${GLUE_DATABASE_NAME}` })
    .optional(),
  /**
   * CloudWatch namespace of the aggregator's EMF metrics (POWERTOOLS_METRICS_NAMESPACE).
   * @default "<namePrefix>/<stage>", e.g. "WindowedPipeline/dev"
   */
  metricsNamespace: z
    .string({ error: `must match ${METRICS_NAMESPACE}` })
    .regex(METRICS_NAMESPACE, { error: `must match ${METRICS_NAMESPACE}` })
    .optional(),
  /**
   * The iterator-age alarm fires when the aggregator's IteratorAge maximum is above this many minutes in
   * `iteratorAgeAlarmPeriods` consecutive 1-minute periods (1–1440).
   * @default 5
   */
  iteratorAgeAlarmMinutes: intIn(1, 1440).default(CONFIG_DEFAULTS.iteratorAgeAlarmMinutes),
  /**
   * Consecutive 1-minute periods for the iterator-age alarm (1–60).
   * @default 3
   */
  iteratorAgeAlarmPeriods: intIn(1, 60).default(CONFIG_DEFAULTS.iteratorAgeAlarmPeriods),
  /**
   * The bad-records alarm fires when more than this many records go to the errors sink in 5 minutes (0–10^9).
   * @default 100
   */
  badRecordsAlarmThreshold: intIn(0, 1_000_000_000).default(CONFIG_DEFAULTS.badRecordsAlarmThreshold),
  /**
   * The Firehose freshness alarms fire when the oldest undelivered record is older than this, in seconds. Must be
   * above both buffering intervals, or the alarm fires on normal buffering.
   * @default 900
   */
  deliveryFreshnessAlarmSeconds: intIn(60, 86_400).default(CONFIG_DEFAULTS.deliveryFreshnessAlarmSeconds),
  /**
   * Create an SNS topic (KMS-encrypted, TLS-only) that every alarm notifies.
   * @default true when alarmEmail is set, false otherwise
   */
  createAlarmTopic: bool.optional(),
  /**
   * Subscribe this address to the created alarm topic (implies createAlarmTopic).
   * @default - no subscription
   */
  alarmEmail: z.string({ error: 'must be an e-mail address' }).regex(EMAIL, { error: 'must be an e-mail address' }).optional(),
  /**
   * An existing SNS topic every alarm notifies, instead of creating one. Its key policy (if encrypted) must let
   * cloudwatch.amazonaws.com use the key.
   * @default - none
   */
  alarmTopicArn: z
    .string({ error: 'must be an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)' })
    .regex(SNS_TOPIC_ARN, { error: 'must be an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)' })
    .optional(),
});

/** The config keys read from CDK context (`-c key=value` or cdk.json). */
export const CONFIG_KEYS = Object.keys(settingsSchema.shape) as readonly (keyof typeof settingsSchema.shape)[];


/** The settings as the schema parses them, before the cross-field defaults. */
export type RawSettings = z.output<typeof settingsSchema>;

/** Settings whose default depends on other settings (see `resolveSettings` in rules.ts). */
type DerivedDefaultKeys =
  | 'removalPolicy'
  | 'autoDeleteObjects'
  | 'shardCount'
  | 'bucketVersioning'
  | 'terminationProtection'
  | 'glueDatabaseName'
  | 'metricsNamespace'
  | 'createAlarmTopic';

/** The config without the spec contents and derived values: everything that can be checked from the raw values alone. */
export type PipelineSettings = Readonly<Omit<RawSettings, DerivedDefaultKeys> & Required<Pick<RawSettings, DerivedDefaultKeys>>>;

/** What the loader adds to the settings: the spec's contents and values derived from several settings. */
export interface DerivedConfig {
  /**
   * How long window items are kept after their end plus allowed lateness before DynamoDB's TTL removes them, in
   * seconds. Derived, not set: the larger of 7 days and the stream retention plus a day, so that no redelivery the
   * stream can still make reaches a window whose fences are gone.
   */
  readonly windowRetentionSeconds: number;
  /** The validated aggregation spec read from `spec`. */
  readonly aggregationSpec: AggregationSpec;
  /** `aggregationSpec` as compact JSON, as passed in AGGREGATION_SPEC (at most MAX_SPEC_ENV_BYTES). */
  readonly aggregationSpecJson: string;
}

/** The fully validated configuration of one pipeline deployment. */
export type PipelineConfig = PipelineSettings & DerivedConfig;

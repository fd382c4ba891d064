import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { z } from 'zod';
import { type AggregationSpec, nearest, nonCoPartitioned, parseAggregationSpecJson, SpecValidationError } from '../lambda/domain/spec';
import { GLUE_PARTITION_COLUMNS } from './constructs/data-lake-catalog';

/*
 * Typed, validated pipeline configuration.
 *
 * Everything here is pure: bin/app.ts gathers raw values (CDK context, file contents) and hands them in, so the
 * validation rules can be unit-tested without an App and a bad value fails `cdk synth` before any construct exists.
 * Values from `-c key=value` always arrive as strings, values from cdk.json as JSON types; both are accepted, but
 * coercion is strict ("10" is an integer, "1e1" and "10.0" are not; only "true"/"false" are booleans).
 */

/**
 * Kinesis ESM BatchSize upper bound for Kinesis sources.
 * @see https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html#lambda-CreateEventSourceMapping-request-BatchSize
 */
export const MAX_KINESIS_BATCH_SIZE = 10_000;
/**
 * ESM MaximumBatchingWindowInSeconds upper bound.
 * @see https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html#lambda-CreateEventSourceMapping-request-MaximumBatchingWindowInSeconds
 */
export const MAX_BATCHING_WINDOW_SECONDS = 300;
/**
 * ESM ParallelizationFactor upper bound (concurrent batches per shard).
 * @see https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html#lambda-CreateEventSourceMapping-request-ParallelizationFactor
 */
export const MAX_PARALLELIZATION_FACTOR = 10;
/**
 * ESM MaximumRetryAttempts upper bound; {@link INFINITE} (-1) retries until the batch succeeds.
 * @see https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html#lambda-CreateEventSourceMapping-request-MaximumRetryAttempts
 */
export const MAX_RETRY_ATTEMPTS = 10_000;
/**
 * What MaximumRetryAttempts and MaximumRecordAgeInSeconds take for "never give up": the event source mapping then
 * retries a failing batch until it succeeds (or its records leave the stream), and never skips it.
 * @see https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html#lambda-CreateEventSourceMapping-request-MaximumRetryAttempts
 */
export const INFINITE = -1;
/**
 * ESM MaximumRecordAgeInSeconds bounds; {@link INFINITE} (-1) never skips a record for its age.
 * @see https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html#lambda-CreateEventSourceMapping-request-MaximumRecordAgeInSeconds
 */
export const MIN_RECORD_AGE_SECONDS = 60;
/** @see MIN_RECORD_AGE_SECONDS */
export const MAX_RECORD_AGE_SECONDS = 604_800;
/**
 * Kinesis data retention bounds, in hours (1 day to 365 days).
 * @see https://docs.aws.amazon.com/streams/latest/dev/kinesis-extended-retention.html
 */
export const MIN_RETENTION_HOURS = 24;
/** @see MIN_RETENTION_HOURS */
export const MAX_RETENTION_HOURS = 8_760;
/**
 * Shards a provisioned stream may be created with; 500 is the default per-account shard quota in the largest
 * regions (200 elsewhere), so larger values need a quota increase first.
 * @see https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html
 */
export const MAX_SHARD_COUNT = 500;
/**
 * Firehose BufferingHints bounds.
 * @see https://docs.aws.amazon.com/firehose/latest/APIReference/API_BufferingHints.html
 */
export const MAX_BUFFER_INTERVAL_SECONDS = 900;
/** @see MAX_BUFFER_INTERVAL_SECONDS */
export const MIN_BUFFER_SIZE_MIB = 1;
/** @see MAX_BUFFER_INTERVAL_SECONDS */
export const MAX_BUFFER_SIZE_MIB = 128;
/**
 * Lambda allows 4 KB for all environment variables together (names and values).
 * @see https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
 */
export const LAMBDA_ENVIRONMENT_MAX_BYTES = 4_096;
/**
 * Budget for the AGGREGATION_SPEC variable: the 4 KB total minus headroom for the other variables, whose values
 * (resource names) are only known at deploy time.
 */
export const MAX_SPEC_ENV_BYTES = 3_500;

/**
 * S3 lifecycle minimums: an object must have been stored 30 days before it can move to STANDARD_IA, and 30 days in
 * STANDARD_IA before it can move on to another class.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/lifecycle-transition-general-considerations.html
 */
export const MIN_STANDARD_IA_TRANSITION_DAYS = 30;
/** @see MIN_STANDARD_IA_TRANSITION_DAYS */
export const MIN_DAYS_IN_STANDARD_IA = 30;
/** Upper bound accepted for any lifecycle day count here (about 100 years); 0 always means "never". */
export const MAX_LIFECYCLE_DAYS = 36_500;
/**
 * CloudWatch namespace rules: 1–255 characters of `[A-Za-z0-9.\-_/#:]`, and the `AWS/` prefix is reserved.
 * @see https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_MetricDatum.html
 */
export const METRICS_NAMESPACE = /^(?!AWS\/)[A-Za-z0-9.\-_/#:]{1,255}$/;
/**
 * Glue database names: lower case letters, digits and underscores (what Athena accepts without quoting), ≤ 255.
 * @see https://docs.aws.amazon.com/athena/latest/ug/tables-databases-columns-names.html
 */
export const GLUE_DATABASE_NAME = /^[a-z0-9_]{1,255}$/;
/** An SNS topic ARN in any partition. */
const SNS_TOPIC_ARN = /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/;
/** Deliberately loose: SNS validates the address; this catches obvious typos at synth time. */
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** Least time window items are kept after their end plus allowed lateness: a week. */
export const MIN_WINDOW_RETENTION_SECONDS = 7 * 86_400;
/** Window items outlive the stream's retention by this much, so that a redelivery never finds its window gone. */
export const WINDOW_RETENTION_MARGIN_SECONDS = 86_400;

/** The stack-name prefix when namePrefix is not set. */
export const DEFAULT_NAME_PREFIX = 'WindowedPipeline';

/** Default spec file, relative to the repository root. */
export const DEFAULT_SPEC_PATH = 'specs/demo.json';

/** The `RetentionDays` values CloudWatch Logs accepts. */
const RETENTION_DAYS: readonly number[] = Object.values(RetentionDays).filter((v): v is number => typeof v === 'number');

/** The fully validated configuration of one pipeline deployment. */
export interface PipelineConfig {
  /**
   * Deployment stage; part of the stack name and a tag on every resource.
   * @default "dev"
   */
  readonly stage: string;
  /**
   * Replaces "WindowedPipeline" in the stack name, so that several copies can live in one account.
   * @default - "WindowedPipeline"
   */
  readonly namePrefix?: string;
  /**
   * What happens to stateful resources (stream, table, bucket, queue, logs) when the stack is deleted.
   * @default "retain" for stage "prod", "destroy" otherwise
   */
  readonly removalPolicy: 'destroy' | 'retain';
  /**
   * Whether deleting the stack empties the bucket first (a Lambda-backed custom resource). Only allowed with
   * removalPolicy "destroy"; the local emulator target turns it off because it cannot run that custom resource.
   * @default true when removalPolicy is "destroy", false otherwise
   */
  readonly autoDeleteObjects: boolean;
  /**
   * Kinesis capacity mode.
   * @default "on-demand"
   */
  readonly streamMode: 'on-demand' | 'provisioned';
  /**
   * Shards of a provisioned stream (1–500). Setting it with streamMode "on-demand" is an error.
   * @default 1
   */
  readonly shardCount: number;
  /**
   * How long the stream keeps records, in hours (24–8760).
   * @default 24
   */
  readonly retentionHours: number;
  /**
   * How long window items are kept after their end plus allowed lateness before DynamoDB's TTL removes them, in
   * seconds. Derived, not set: the larger of 7 days and the stream retention plus a day, so that no redelivery the
   * stream can still make reaches a window whose fences are gone.
   */
  readonly windowRetentionSeconds: number;
  /**
   * ESM BatchSize (1–10000).
   * @default 500
   */
  readonly batchSize: number;
  /**
   * ESM MaximumBatchingWindowInSeconds (0–300).
   * @default 1
   */
  readonly maxBatchingWindowSeconds: number;
  /**
   * ESM ParallelizationFactor. Only 1 is accepted: see {@link loadConfig} for why values above 1 are refused.
   * @default 1
   */
  readonly parallelizationFactor: number;
  /**
   * ESM MaximumRetryAttempts: -1 (retry until the batch succeeds: nothing is ever skipped) or 0–10000 (opt-in: a
   * batch that still fails is given up to the failure queue, trading completeness for freshness).
   * @default -1
   */
  readonly retryAttempts: number;
  /**
   * ESM MaximumRecordAgeInSeconds: -1 (never skip a record for its age) or 60–604800 and at most the stream retention
   * (opt-in, like a bounded `retryAttempts`).
   * @default -1
   */
  readonly maxRecordAgeSeconds: number;
  /**
   * The idle closer fires a window only when every shard that fed it has had no batch for this long, however far
   * behind wall-clock time its event time is (10–86400).
   * @default 60
   */
  readonly laneIdleTimeoutSeconds: number;
  /**
   * Path of the aggregation spec JSON, relative to the repository root (or absolute).
   * @default "specs/demo.json"
   */
  readonly spec: string;
  /** The validated aggregation spec read from `spec`. */
  readonly aggregationSpec: AggregationSpec;
  /** `aggregationSpec` as compact JSON, as passed in AGGREGATION_SPEC (at most MAX_SPEC_ENV_BYTES). */
  readonly aggregationSpecJson: string;
  /**
   * Whether the Firehose delivery streams log delivery errors to CloudWatch Logs. The local emulator target sets
   * false because it cannot create AWS::Logs::LogStream.
   * @default true
   */
  readonly firehoseErrorLogging: boolean;
  /**
   * Retention of the function's and Firehose's log groups, one of the CloudWatch Logs values.
   * @default 30
   */
  readonly logRetentionDays: RetentionDays;
  /**
   * Firehose buffering interval of the results stream, in seconds (0–900).
   * @default 60
   */
  readonly resultsBufferSeconds: number;
  /**
   * Firehose buffering interval of the raw archive stream, in seconds (0–900).
   * @default 300
   */
  readonly rawBufferSeconds: number;
  /**
   * Firehose buffering size of both delivery streams, in MiB (1–128).
   * @default 5
   */
  readonly bufferSizeMiB: number;
  /**
   * How often the idle closer fires windows whose end plus allowed lateness has passed in processing time, in
   * minutes (1–1440).
   * @default 1
   */
  readonly idleCloseIntervalMinutes: number;
  /**
   * Which KMS keys encrypt the stream, the queue, the bucket and the table at rest. "customer-managed" creates one
   * key with yearly rotation for all four (and grants exactly the key actions each role needs); it costs about
   * $1 a month plus requests, and lets you revoke access or audit key use in CloudTrail.
   * @default "aws-managed"
   */
  readonly encryptionKey: 'aws-managed' | 'customer-managed';
  /**
   * S3 versioning on the data-lake bucket (protects against overwrites and deletes; noncurrent versions expire
   * after `noncurrentVersionExpirationDays`).
   * @default true for stage "prod", false otherwise
   */
  readonly bucketVersioning: boolean;
  /**
   * Days after which noncurrent object versions are deleted, when versioning is on (0 = never).
   * @default 30
   */
  readonly noncurrentVersionExpirationDays: number;
  /**
   * Days after which raw/ objects move to STANDARD_IA (0 = never; else at least 30).
   * @default 30
   */
  readonly rawInfrequentAccessDays: number;
  /**
   * Days after which raw/ objects move to GLACIER_IR (0 = never; else at least 30 after STANDARD_IA).
   * @default 90
   */
  readonly rawGlacierDays: number;
  /**
   * Days after which raw/ objects are deleted (0 = never).
   * @default 0
   */
  readonly rawExpirationDays: number;
  /**
   * Days after which results/ objects are deleted (0 = never).
   * @default 0
   */
  readonly resultsExpirationDays: number;
  /**
   * Days after which errors/ objects and the Firehose raw-errors/ and results-errors/ objects are deleted (0 = never).
   * @default 90
   */
  readonly errorsExpirationDays: number;
  /**
   * Days after which late/ objects are deleted (0 = never).
   * @default 90
   */
  readonly lateExpirationDays: number;
  /**
   * CloudFormation termination protection on the stack.
   * @default true for stage "prod", false otherwise
   */
  readonly terminationProtection: boolean;
  /**
   * Create the Glue Data Catalog database and tables (partition projection, no crawler) over the bucket.
   * @default true
   */
  readonly glueCatalog: boolean;
  /**
   * Name of the Glue database (what Athena queries name).
   * @default the stack name in lower case with "-" replaced by "_", e.g. "windowedpipeline_dev"
   */
  readonly glueDatabaseName: string;
  /**
   * CloudWatch namespace of the aggregator's EMF metrics (POWERTOOLS_METRICS_NAMESPACE).
   * @default "<namePrefix>/<stage>", e.g. "WindowedPipeline/dev"
   */
  readonly metricsNamespace: string;
  /**
   * The iterator-age alarm fires when the aggregator's IteratorAge maximum is above this many minutes in
   * `iteratorAgeAlarmPeriods` consecutive 1-minute periods (1–1440).
   * @default 5
   */
  readonly iteratorAgeAlarmMinutes: number;
  /**
   * Consecutive 1-minute periods for the iterator-age alarm (1–60).
   * @default 3
   */
  readonly iteratorAgeAlarmPeriods: number;
  /**
   * The bad-records alarm fires when more than this many records go to the errors sink in 5 minutes (0–10^9).
   * @default 100
   */
  readonly badRecordsAlarmThreshold: number;
  /**
   * The Firehose freshness alarms fire when the oldest undelivered record is older than this, in seconds. Must be
   * above both buffering intervals, or the alarm fires on normal buffering.
   * @default 900
   */
  readonly deliveryFreshnessAlarmSeconds: number;
  /**
   * Create an SNS topic (KMS-encrypted, TLS-only) that every alarm notifies.
   * @default true when alarmEmail is set, false otherwise
   */
  readonly createAlarmTopic: boolean;
  /**
   * Subscribe this address to the created alarm topic (implies createAlarmTopic).
   * @default - no subscription
   */
  readonly alarmEmail?: string;
  /**
   * An existing SNS topic every alarm notifies, instead of creating one. Its key policy (if encrypted) must let
   * cloudwatch.amazonaws.com use the key.
   * @default - none
   */
  readonly alarmTopicArn?: string;
}

/** Raised for any invalid configuration value; the message names the field and what it accepts. */
export class ConfigError extends Error {
  constructor(
    message: string,
    /** The config keys at fault. */
    readonly fields: readonly string[],
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

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

/** The raw settings, each optional; cross-field defaults are applied after parsing. */
const settingsSchema = z.object({
  stage: z.string({ error: `must match ${STAGE}` }).regex(STAGE, { error: `must match ${STAGE}` }).default('dev'),
  namePrefix: z
    .string({ error: `must match ${NAME_PREFIX}` })
    .regex(NAME_PREFIX, { error: `must match ${NAME_PREFIX}` })
    .optional(),
  removalPolicy: oneOf(['destroy', 'retain']).optional(),
  autoDeleteObjects: bool.optional(),
  streamMode: oneOf(['on-demand', 'provisioned']).default('on-demand'),
  shardCount: intIn(1, MAX_SHARD_COUNT).optional(),
  retentionHours: intIn(MIN_RETENTION_HOURS, MAX_RETENTION_HOURS).default(24),
  batchSize: intIn(1, MAX_KINESIS_BATCH_SIZE).default(500),
  maxBatchingWindowSeconds: intIn(0, MAX_BATCHING_WINDOW_SECONDS).default(1),
  parallelizationFactor: intIn(1, MAX_PARALLELIZATION_FACTOR).default(1),
  retryAttempts: infiniteOr(0, MAX_RETRY_ATTEMPTS).default(INFINITE),
  maxRecordAgeSeconds: infiniteOr(MIN_RECORD_AGE_SECONDS, MAX_RECORD_AGE_SECONDS).default(INFINITE),
  laneIdleTimeoutSeconds: intIn(10, 86_400).default(60),
  spec: z.string({ error: 'must be a file path' }).min(1, { error: 'must be a file path' }).default(DEFAULT_SPEC_PATH),
  firehoseErrorLogging: bool.default(true),
  logRetentionDays: z
    .preprocess(
      coerceInt,
      z.custom<RetentionDays>((v) => typeof v === 'number' && RETENTION_DAYS.includes(v), {
        error: `must be one of the CloudWatch Logs retention values ${RETENTION_DAYS.join(', ')}`,
      }),
    )
    .default(RetentionDays.ONE_MONTH),
  resultsBufferSeconds: intIn(0, MAX_BUFFER_INTERVAL_SECONDS).default(60),
  rawBufferSeconds: intIn(0, MAX_BUFFER_INTERVAL_SECONDS).default(300),
  bufferSizeMiB: intIn(MIN_BUFFER_SIZE_MIB, MAX_BUFFER_SIZE_MIB).default(5),
  idleCloseIntervalMinutes: intIn(1, 1440).default(1),
  encryptionKey: oneOf(['aws-managed', 'customer-managed']).default('aws-managed'),
  bucketVersioning: bool.optional(),
  noncurrentVersionExpirationDays: intIn(0, MAX_LIFECYCLE_DAYS).default(30),
  rawInfrequentAccessDays: intIn(0, MAX_LIFECYCLE_DAYS).default(30),
  rawGlacierDays: intIn(0, MAX_LIFECYCLE_DAYS).default(90),
  rawExpirationDays: intIn(0, MAX_LIFECYCLE_DAYS).default(0),
  resultsExpirationDays: intIn(0, MAX_LIFECYCLE_DAYS).default(0),
  errorsExpirationDays: intIn(0, MAX_LIFECYCLE_DAYS).default(90),
  lateExpirationDays: intIn(0, MAX_LIFECYCLE_DAYS).default(90),
  terminationProtection: bool.optional(),
  glueCatalog: bool.default(true),
  glueDatabaseName: z
    .string({ error: `must match ${GLUE_DATABASE_NAME}` })
    .regex(GLUE_DATABASE_NAME, { error: `must match ${GLUE_DATABASE_NAME}` })
    .optional(),
  metricsNamespace: z
    .string({ error: `must match ${METRICS_NAMESPACE}` })
    .regex(METRICS_NAMESPACE, { error: `must match ${METRICS_NAMESPACE}` })
    .optional(),
  iteratorAgeAlarmMinutes: intIn(1, 1440).default(5),
  iteratorAgeAlarmPeriods: intIn(1, 60).default(3),
  badRecordsAlarmThreshold: intIn(0, 1_000_000_000).default(100),
  deliveryFreshnessAlarmSeconds: intIn(60, 86_400).default(900),
  createAlarmTopic: bool.optional(),
  alarmEmail: z.string({ error: 'must be an e-mail address' }).regex(EMAIL, { error: 'must be an e-mail address' }).optional(),
  alarmTopicArn: z
    .string({ error: 'must be an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)' })
    .regex(SNS_TOPIC_ARN, { error: 'must be an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)' })
    .optional(),
});

/** The config keys read from CDK context (`-c key=value` or cdk.json). */
export const CONFIG_KEYS = Object.keys(settingsSchema.shape) as readonly (keyof typeof settingsSchema.shape)[];

function show(v: unknown): string {
  // Context values are strings; quote them only when they would otherwise be unreadable.
  return typeof v === 'string' && /^\S+$/.test(v) ? v : JSON.stringify(v) ?? String(v);
}

function fieldError(field: string, message: string, got: unknown): string {
  return `Invalid config "${field}": ${message} (got ${show(got)})`;
}

/** The config without the spec contents and derived values: everything that can be checked from the raw values alone. */
export type PipelineSettings = Omit<PipelineConfig, 'aggregationSpec' | 'aggregationSpecJson' | 'windowRetentionSeconds'>;

/** A context key that looks like a setting name (see {@link parseSettings}). */
const SETTING_SHAPED = /^[a-z][A-Za-z0-9]*$/;

/**
 * How long window items are kept after their end plus allowed lateness: at least a week, and always a day longer than
 * the stream keeps records, so that no redelivery the stream can still make finds its window's fences gone.
 */
export function windowRetentionSecondsFor(retentionHours: number): number {
  return Math.max(MIN_WINDOW_RETENTION_SECONDS, retentionHours * 3600 + WINDOW_RETENTION_MARGIN_SECONDS);
}

/**
 * Validates raw settings (strings from `-c`, or JSON values from cdk.json) and applies defaults.
 * @throws ConfigError naming every invalid field with its allowed range
 */
export function parseSettings(raw: Record<string, unknown>): PipelineSettings {
  // CDK's own context keys (`@aws-cdk/…`, `aws:cdk:…`, `acknowledged-issue-numbers`) are not settings; any other
  // key shaped like one (camelCase) is a misspelt or removed setting, which would otherwise be silently ignored.
  const unknown = Object.keys(raw).filter((k) => SETTING_SHAPED.test(k) && !(CONFIG_KEYS as readonly string[]).includes(k));
  if (unknown.length > 0) {
    throw new ConfigError(
      unknown
        .map((k) => {
          const near = nearest(k, CONFIG_KEYS);
          return `Invalid config "${k}": unknown setting${near ? ` (did you mean "${near}"?)` : ''}`;
        })
        .join('\n'),
      unknown,
    );
  }
  const result = settingsSchema.safeParse(raw);
  if (!result.success) {
    const seen = new Map<string, string>();
    for (const issue of result.error.issues) {
      const field = String(issue.path[0] ?? '(root)');
      if (!seen.has(field)) seen.set(field, issue.message);
    }
    const lines = [...seen].map(([field, message]) => fieldError(field, message, raw[field]));
    throw new ConfigError(lines.join('\n'), [...seen.keys()]);
  }
  const s = result.data;
  const problems: [string, string][] = [];

  const removalPolicy = s.removalPolicy ?? (s.stage === 'prod' ? 'retain' : 'destroy');
  if (s.autoDeleteObjects === true && removalPolicy !== 'destroy') {
    problems.push([
      'autoDeleteObjects',
      `can only be true when removalPolicy is "destroy", but removalPolicy is "${removalPolicy}"`,
    ]);
  }
  if (s.shardCount !== undefined && s.streamMode !== 'provisioned') {
    problems.push(['shardCount', `only applies when streamMode is "provisioned", but streamMode is "${s.streamMode}"`]);
  }
  // A record that ages out goes to the failure queue as metadata only; redriving it means re-reading the stream,
  // which is only possible while the record is still retained.
  const retentionSeconds = s.retentionHours * 3600;
  if (s.maxRecordAgeSeconds !== INFINITE && s.maxRecordAgeSeconds > retentionSeconds) {
    problems.push([
      'maxRecordAgeSeconds',
      `must be <= retentionHours × 3600 (${retentionSeconds}) so that failed records can still be redriven from the stream`,
    ]);
  }
  if (s.laneIdleTimeoutSeconds <= s.maxBatchingWindowSeconds) {
    problems.push([
      'laneIdleTimeoutSeconds',
      `must be more than maxBatchingWindowSeconds (${s.maxBatchingWindowSeconds}): a shard with records gets a batch at least that often, so a shorter timeout takes a busy shard for an idle one`,
    ]);
  }
  if (s.rawInfrequentAccessDays > 0 && s.rawInfrequentAccessDays < MIN_STANDARD_IA_TRANSITION_DAYS) {
    problems.push([
      'rawInfrequentAccessDays',
      `must be 0 (never) or at least ${MIN_STANDARD_IA_TRANSITION_DAYS}: S3 moves objects to STANDARD_IA only after 30 days`,
    ]);
  }
  if (s.rawGlacierDays > 0 && s.rawInfrequentAccessDays > 0 && s.rawGlacierDays < s.rawInfrequentAccessDays + MIN_DAYS_IN_STANDARD_IA) {
    problems.push([
      'rawGlacierDays',
      `must be 0 (never) or at least rawInfrequentAccessDays + ${MIN_DAYS_IN_STANDARD_IA} ` +
        `(${s.rawInfrequentAccessDays + MIN_DAYS_IN_STANDARD_IA}): S3 keeps objects 30 days in STANDARD_IA before a further transition`,
    ]);
  }
  const lastRawTransition = Math.max(s.rawInfrequentAccessDays, s.rawGlacierDays);
  if (s.rawExpirationDays > 0 && s.rawExpirationDays <= lastRawTransition) {
    problems.push([
      'rawExpirationDays',
      `must be 0 (never) or more than the last raw transition (${lastRawTransition} days)`,
    ]);
  }
  const slowestBuffer = Math.max(s.resultsBufferSeconds, s.rawBufferSeconds);
  if (s.deliveryFreshnessAlarmSeconds <= slowestBuffer) {
    problems.push([
      'deliveryFreshnessAlarmSeconds',
      `must be more than the longest Firehose buffering interval (${slowestBuffer} s), or it alarms on normal buffering`,
    ]);
  }
  if (s.alarmTopicArn !== undefined && (s.createAlarmTopic === true || s.alarmEmail !== undefined)) {
    problems.push([
      'alarmTopicArn',
      'cannot be combined with createAlarmTopic or alarmEmail: alarms notify either an existing topic or a created one',
    ]);
  }
  if (s.alarmEmail !== undefined && s.createAlarmTopic === false) {
    problems.push(['alarmEmail', 'needs the created alarm topic, but createAlarmTopic is false']);
  }
  if (problems.length > 0) {
    throw new ConfigError(
      problems.map(([field, message]) => fieldError(field, message, raw[field])).join('\n'),
      problems.map(([field]) => field),
    );
  }

  const prefix = s.namePrefix ?? DEFAULT_NAME_PREFIX;
  return {
    stage: s.stage,
    ...(s.namePrefix !== undefined ? { namePrefix: s.namePrefix } : {}),
    removalPolicy,
    autoDeleteObjects: s.autoDeleteObjects ?? removalPolicy === 'destroy',
    streamMode: s.streamMode,
    shardCount: s.shardCount ?? 1,
    retentionHours: s.retentionHours,
    batchSize: s.batchSize,
    maxBatchingWindowSeconds: s.maxBatchingWindowSeconds,
    parallelizationFactor: s.parallelizationFactor,
    retryAttempts: s.retryAttempts,
    maxRecordAgeSeconds: s.maxRecordAgeSeconds,
    laneIdleTimeoutSeconds: s.laneIdleTimeoutSeconds,
    spec: s.spec,
    firehoseErrorLogging: s.firehoseErrorLogging,
    logRetentionDays: s.logRetentionDays,
    resultsBufferSeconds: s.resultsBufferSeconds,
    rawBufferSeconds: s.rawBufferSeconds,
    bufferSizeMiB: s.bufferSizeMiB,
    idleCloseIntervalMinutes: s.idleCloseIntervalMinutes,
    encryptionKey: s.encryptionKey,
    bucketVersioning: s.bucketVersioning ?? s.stage === 'prod',
    noncurrentVersionExpirationDays: s.noncurrentVersionExpirationDays,
    rawInfrequentAccessDays: s.rawInfrequentAccessDays,
    rawGlacierDays: s.rawGlacierDays,
    rawExpirationDays: s.rawExpirationDays,
    resultsExpirationDays: s.resultsExpirationDays,
    errorsExpirationDays: s.errorsExpirationDays,
    lateExpirationDays: s.lateExpirationDays,
    terminationProtection: s.terminationProtection ?? s.stage === 'prod',
    glueCatalog: s.glueCatalog,
    glueDatabaseName: s.glueDatabaseName ?? `${prefix}_${s.stage}`.toLowerCase().replace(/-/g, '_'),
    metricsNamespace: s.metricsNamespace ?? `${prefix}/${s.stage}`,
    iteratorAgeAlarmMinutes: s.iteratorAgeAlarmMinutes,
    iteratorAgeAlarmPeriods: s.iteratorAgeAlarmPeriods,
    badRecordsAlarmThreshold: s.badRecordsAlarmThreshold,
    deliveryFreshnessAlarmSeconds: s.deliveryFreshnessAlarmSeconds,
    createAlarmTopic: s.createAlarmTopic ?? s.alarmEmail !== undefined,
    ...(s.alarmEmail !== undefined ? { alarmEmail: s.alarmEmail } : {}),
    ...(s.alarmTopicArn !== undefined ? { alarmTopicArn: s.alarmTopicArn } : {}),
  };
}

/**
 * Validates spec JSON text with the same schema the handler uses, and checks that its compact form fits the
 * AGGREGATION_SPEC environment variable.
 * @param specPath the configured path, for the message
 * @throws ConfigError naming the "spec" field and each failing spec field
 */
export function parseSpec(text: string, specPath: string): { spec: AggregationSpec; json: string } {
  let spec: AggregationSpec;
  try {
    spec = parseAggregationSpecJson(text, `aggregation spec ${JSON.stringify(specPath)}`);
  } catch (e) {
    if (!(e instanceof SpecValidationError)) throw e;
    throw new ConfigError(
      `Invalid config "spec": ${JSON.stringify(specPath)} is not a valid aggregation spec:\n  - ${e.issues.join('\n  - ')}`,
      ['spec'],
    );
  }
  const fields = [
    spec.eventTime.field,
    ...(spec.partitionKey ?? []),
    ...spec.aggregations.flatMap((a) => [...a.groupBy, ...a.measures.flatMap((m) => ('field' in m ? [m.field] : []))]),
  ];
  // The raw-events table has a column per top-level field (lower-cased) next to its partition columns.
  const clashes = [...new Set(fields.filter((f) => GLUE_PARTITION_COLUMNS.includes(f.split('.')[0].toLowerCase())))];
  if (clashes.length > 0) {
    throw new ConfigError(
      `Invalid config "spec": ${JSON.stringify(specPath)} reads the field${clashes.length > 1 ? 's' : ''} ${clashes.map((c) => `"${c}"`).join(', ')}, ` +
        `whose name collides with a partition column of the Glue raw-events table (${GLUE_PARTITION_COLUMNS.join(', ')}); rename the field`,
      ['spec'],
    );
  }
  const json = JSON.stringify(spec);
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes > MAX_SPEC_ENV_BYTES) {
    throw new ConfigError(
      `Invalid config "spec": ${JSON.stringify(specPath)} is ${bytes} bytes as compact JSON; the AGGREGATION_SPEC ` +
        `environment variable allows at most ${MAX_SPEC_ENV_BYTES} bytes (Lambda environment variables total ` +
        `${LAMBDA_ENVIRONMENT_MAX_BYTES} bytes). Split the aggregations across deployments or shorten names.`,
      ['spec'],
    );
  }
  return { spec, json };
}

/**
 * Builds the validated pipeline config from raw settings.
 * @param raw values by config key (see CONFIG_KEYS); an unknown key fails, naming the nearest valid one
 * @param readSpec returns the text of the spec file at the configured path (injected so this stays pure)
 * @throws ConfigError naming the field at fault
 */
export function loadConfig(raw: Record<string, unknown>, readSpec: (specPath: string) => string): PipelineConfig {
  const settings = parseSettings(raw);
  let text: string;
  try {
    text = readSpec(settings.spec);
  } catch (e) {
    throw new ConfigError(
      `Invalid config "spec": cannot read ${JSON.stringify(settings.spec)} (${(e as Error).message})`,
      ['spec'],
    );
  }
  const { spec, json } = parseSpec(text, settings.spec);
  if (settings.parallelizationFactor > 1) {
    // Refused even for a co-partitioned spec: concurrent batches of one shard share the shard's watermark and its
    // fences, so a retried batch is judged against a sibling that moved ahead (its records can turn late, or be
    // taken as applied). A lane per ordering scope (shard + partition key) would be correct but makes the lane
    // items grow with the key count; see README "ParallelizationFactor".
    const offending = nonCoPartitioned(spec);
    const why = offending.length === 0 ? '' : spec.partitionKey
      ? ` (and the group-by of ${offending.join(', ')} does not include the partition-key fields ${spec.partitionKey.join(', ')})`
      : ' (and the spec does not declare "partitionKey")';
    throw new ConfigError(
      `Invalid config "parallelizationFactor": only 1 is supported${why}. With a value above 1, Lambda runs batches ` +
        'of one shard concurrently and keeps order only per partition key, while the aggregator keeps one watermark ' +
        'and one fence per shard: a retried batch would be judged against a sibling batch that moved ahead, and its ' +
        'records could be reported late or skipped as already applied. Add shards for more throughput instead.',
      ['parallelizationFactor'],
    );
  }
  return { ...settings, windowRetentionSeconds: windowRetentionSecondsFor(settings.retentionHours), aggregationSpec: spec, aggregationSpecJson: json };
}

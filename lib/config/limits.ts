/*
 * AWS limits the configuration is validated against: one named constant per quota, each with its documentation link.
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
export const SNS_TOPIC_ARN = /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/;
/** Deliberately loose: SNS validates the address; this catches obvious typos at synth time. */
export const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/*
 * Bounds of the spec's window definitions. They are defined beside the spec schema (lambda/domain/spec.ts), which the
 * handlers validate again at init and cannot import from lib/; re-exported here so that every bound the
 * configuration is checked against can be found in one place.
 * - MAX_WINDOW_SECONDS (a day): window sizes, and a session's maxDurationSeconds; longer windows belong in a batch job.
 * - MAX_SESSION_GAP_SECONDS (an hour): a session gap. A key's sessions share one item, kept until the watermark is a
 *   gap plus the allowed lateness past them, so the gap bounds how many sessions an item holds.
 * - keyWindowsPerItem: how many session or stagger windows one key's item may hold; times the worst-case measures
 *   size, it must fit the item's measures budget (checked at synth, naming allowedLatenessSeconds).
 */
export { KEY_WINDOW_OVERHEAD_BYTES, keyWindowsPerItem, MAX_SESSION_GAP_SECONDS, MAX_WINDOW_SECONDS } from '../../lambda/domain/spec';

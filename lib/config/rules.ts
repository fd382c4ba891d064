import { nonCoPartitioned, type AggregationSpec } from '../../lambda/domain/spec';
import { DEFAULT_NAME_PREFIX } from './defaults';
import { INFINITE, MIN_DAYS_IN_STANDARD_IA, MIN_STANDARD_IA_TRANSITION_DAYS } from './limits';
import type { PipelineSettings, RawSettings } from './schema';

/*
 * The cross-field rules: what no single field's schema can say, and the defaults that depend on other settings.
 * Pure functions of the parsed settings, so that each rule is unit-tested without an App.
 */

/** Least time window items are kept after their end plus allowed lateness: a week. */
export const MIN_WINDOW_RETENTION_SECONDS = 7 * 86_400;
/** Window items outlive the stream's retention by this much, so that a redelivery never finds its window gone. */
export const WINDOW_RETENTION_MARGIN_SECONDS = 86_400;

/**
 * How long window items are kept after their end plus allowed lateness: at least a week, and always a day longer than
 * the stream keeps records, so that no redelivery the stream can still make finds its window's fences gone.
 */
export function windowRetentionSecondsFor(retentionHours: number): number {
  return Math.max(MIN_WINDOW_RETENTION_SECONDS, retentionHours * 3600 + WINDOW_RETENTION_MARGIN_SECONDS);
}

function resolvedRemovalPolicy(s: RawSettings): 'destroy' | 'retain' {
  return s.removalPolicy ?? (s.stage === 'prod' ? 'retain' : 'destroy');
}

/** The settings that contradict each other, as [field, message] pairs; empty when the settings are consistent. */
export function crossFieldProblems(s: RawSettings): [string, string][] {
  const problems: [string, string][] = [];
  const removalPolicy = resolvedRemovalPolicy(s);
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
  return problems;
}

/** Applies the defaults that depend on other settings (removal policy by stage, names by prefix and stage, ...). */
export function resolveSettings(s: RawSettings): PipelineSettings {
  const removalPolicy = resolvedRemovalPolicy(s);
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
    dynamoDbUpdateBatching: s.dynamoDbUpdateBatching,
    pendingKeySpread: s.pendingKeySpread,
    laneBuckets: s.laneBuckets,
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
 * Why `parallelizationFactor` is refused for this spec, or undefined when it is 1. Refused even for a co-partitioned
 * spec: concurrent batches of one shard share the shard's watermark and its fences, so a retried batch is judged
 * against a sibling that moved ahead (its records can turn late, or be taken as applied). A lane per ordering scope
 * (shard + partition key) would be correct but makes the lane items grow with the key count; see README
 * "ParallelizationFactor".
 */
export function parallelizationProblem(settings: PipelineSettings, spec: AggregationSpec): string | undefined {
  if (settings.parallelizationFactor <= 1) return undefined;
  const offending = nonCoPartitioned(spec);
  const why = offending.length === 0 ? '' : spec.partitionKey
    ? ` (and the group-by of ${offending.join(', ')} does not include the partition-key fields ${spec.partitionKey.join(', ')})`
    : ' (and the spec does not declare "partitionKey")';
  return (
    `Invalid config "parallelizationFactor": only 1 is supported${why}. With a value above 1, Lambda runs batches ` +
    'of one shard concurrently and keeps order only per partition key, while the aggregator keeps one watermark ' +
    'and one fence per shard: a retried batch would be judged against a sibling batch that moved ahead, and its ' +
    'records could be reported late or skipped as already applied. Add shards for more throughput instead.'
  );
}

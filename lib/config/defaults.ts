import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { DEFAULT_LANE_IDLE_TIMEOUT_MS } from '../../lambda/domain/lane';
import { LANE_BUCKETS, PENDING_KEY_SPREAD } from '../../lambda/contract/window-table-layout';
import { INFINITE } from './limits';

/** The stack-name prefix when namePrefix is not set. */
export const DEFAULT_NAME_PREFIX = 'WindowedPipeline';

/** Default spec file, relative to the repository root. */
export const DEFAULT_SPEC_PATH = 'specs/demo.json';

/**
 * The default of every setting that has a fixed one (the others are derived from other settings; see rules.ts): one
 * pure object, in the manner of AWS Solutions Constructs' `*-defaults.ts`, read by the schema and by the constructs'
 * own `??` defaults, so that a construct used alone behaves as the configured stack does.
 */
export const CONFIG_DEFAULTS = {
  stage: 'dev',
  streamMode: 'on-demand',
  retentionHours: 24,
  batchSize: 500,
  maxBatchingWindowSeconds: 1,
  parallelizationFactor: 1,
  retryAttempts: INFINITE,
  maxRecordAgeSeconds: INFINITE,
  laneIdleTimeoutSeconds: DEFAULT_LANE_IDLE_TIMEOUT_MS / 1000,
  spec: DEFAULT_SPEC_PATH,
  firehoseErrorLogging: true,
  dynamoDbUpdateBatching: 'single',
  pendingKeySpread: PENDING_KEY_SPREAD,
  laneBuckets: LANE_BUCKETS,
  logRetentionDays: RetentionDays.ONE_MONTH,
  resultsBufferSeconds: 60,
  rawBufferSeconds: 300,
  bufferSizeMiB: 5,
  idleCloseIntervalMinutes: 1,
  encryptionKey: 'aws-managed',
  noncurrentVersionExpirationDays: 30,
  rawInfrequentAccessDays: 30,
  rawGlacierDays: 90,
  rawExpirationDays: 0,
  resultsExpirationDays: 0,
  errorsExpirationDays: 90,
  lateExpirationDays: 90,
  glueCatalog: true,
  iteratorAgeAlarmMinutes: 5,
  iteratorAgeAlarmPeriods: 3,
  badRecordsAlarmThreshold: 100,
  deliveryFreshnessAlarmSeconds: 900,
} as const;

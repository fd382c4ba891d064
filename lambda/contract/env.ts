/**
 * The environment contract between the stack and the pipeline's functions: the variable names the constructs set and
 * the handlers read, and one typed reader per function (in the manner of Powertools' EnvironmentVariablesService).
 * It imports only pure domain code, so that the CDK app can use it without loading the SDK.
 */
import { DEFAULT_LANE_IDLE_TIMEOUT_MS } from '../domain/lane';
import { SINK_PREFIXES } from './s3-prefixes';
import { MissingEnvError } from './errors';

export { DEFAULT_LANE_IDLE_TIMEOUT_MS };

/**
 * V8 flags the aggregator runs with (in its NODE_OPTIONS), which the P1 benchmark applies too. A 64 MB semi-space
 * (V8's default is at most 16 MB): a 10,000-record batch allocates tens of MB of short-lived objects (parsed events,
 * decoded payloads), and a small young generation collects several times per batch, copying everything the batch
 * still holds (its records, window slices) each time; with 64 MB most batches finish between collections. Measured
 * with P1: about a quarter less handler CPU (see docs/performance.md). The function has 1,024 MB.
 * @see https://nodejs.org/api/cli.html#--max-semi-space-sizesize-in-mib
 */
export const AGGREGATOR_V8_FLAGS: readonly string[] = ['--max-semi-space-size=64'];

/** Names of the environment variables the stack sets on the pipeline's functions. */
export const ENV = {
  /** The validated aggregation spec, compact JSON. */
  aggregationSpec: 'AGGREGATION_SPEC',
  /** Name of the window-state table. */
  windowTableName: 'WINDOW_TABLE_NAME',
  /** Seconds window items outlive their end plus allowed lateness (their TTL); unset: the store's default. */
  windowRetentionSeconds: 'WINDOW_RETENTION_SECONDS',
  /** Firehose delivery stream of the window results. */
  resultsDeliveryStream: 'RESULTS_DELIVERY_STREAM',
  /** Bucket of the errors and late-data sinks. */
  sinkBucketName: 'SINK_BUCKET_NAME',
  /** Key prefix of the errors sink. */
  errorsPrefix: 'ERRORS_PREFIX',
  /** Key prefix of the late-data sink. */
  latePrefix: 'LATE_PREFIX',
  /** Milliseconds after which a pending window's claim is taken as abandoned. */
  pendingStaleAfterMs: 'PENDING_STALE_AFTER_MS',
  /**
   * Set on the aggregator when the event source mapping may give up a batch: the aggregator then records each batch
   * in flight on its shard's lane item, detects a range the mapping skipped, and re-reads it from the stream before
   * it moves any fence. {@link SKIP_DETECTION_RETRIES}: only a retry bound is set, so only attempted batches can be
   * skipped; {@link SKIP_DETECTION_AGE}: a record-age bound is set, so records can also be skipped unseen.
   */
  skipDetection: 'SKIP_DETECTION',
  /** Milliseconds without a batch after which the idle closer takes a shard (lane) for idle. */
  laneIdleTimeoutMs: 'LANE_IDLE_TIMEOUT_MS',
  /** Powertools: the `service` key of every log line and dimension of every metric. */
  serviceName: 'POWERTOOLS_SERVICE_NAME',
  /** Powertools: CloudWatch namespace of the EMF metrics. */
  metricsNamespace: 'POWERTOOLS_METRICS_NAMESPACE',
  /** Node.js options of the functions (source maps). */
  nodeOptions: 'NODE_OPTIONS',
  /**
   * How the window store sends its conditional updates, one of {@link UPDATE_BATCHING_MODES}; unset: `single`. The
   * local stage sets `transactions` (see `lambda/adapters/dynamodb-update-sender.ts`).
   */
  updateBatching: 'DYNAMODB_UPDATE_BATCHING',
  /** Buckets per lane slot of the `pending` index (`PENDING_KEY_SPREAD` in window-table-layout.ts); unset: that default. */
  pendingKeySpread: 'PENDING_KEY_SPREAD',
  /** Partitions of the lane items (`LANE_BUCKETS` in window-table-layout.ts); unset: that default. */
  laneBuckets: 'LANE_BUCKETS',
} as const;

/**
 * How the window store sends its conditional updates: `single`, an UpdateItem each (every AWS stage: a transaction
 * bills twice the write units); `transactions`, the updates issued together grouped into TransactWriteItems (the local
 * emulator, whose cost follows the number of requests).
 */
export const UPDATE_BATCHING_MODES = ['single', 'transactions'] as const;
/** @see UPDATE_BATCHING_MODES */
export type UpdateBatching = (typeof UPDATE_BATCHING_MODES)[number];

/** @see ENV.skipDetection */
export const SKIP_DETECTION_ENV = ENV.skipDetection;
/** @see ENV.skipDetection */
export const SKIP_DETECTION_RETRIES = 'retries';
/** @see ENV.skipDetection */
export const SKIP_DETECTION_AGE = 'age';
/** @see ENV.laneIdleTimeoutMs */
export const LANE_IDLE_TIMEOUT_MS_ENV = ENV.laneIdleTimeoutMs;

/** The Powertools service names of the two functions (log `service` key, metric `service` dimension). */
export const SERVICE_NAMES = { aggregator: 'aggregator', closer: 'closer' } as const;

/** The CloudWatch namespace of the aggregator's metrics unless the stack says otherwise. */
export const DEFAULT_METRICS_NAMESPACE = 'WindowedPipeline';

/** What both functions read. */
export interface FunctionEnv {
  /** The aggregation spec, JSON text (parsed and validated by the handler). */
  readonly aggregationSpecJson: string;
  /** The window-state table. */
  readonly windowTableName: string;
  /** Window items' TTL past their end plus lateness, if set. */
  readonly windowRetentionSeconds?: number;
  /** The results delivery stream. */
  readonly resultsDeliveryStream: string;
  /** Stale-claim threshold, if set. */
  readonly pendingStaleAfterMs?: number;
  /** How the window store sends its conditional updates. */
  readonly updateBatching: UpdateBatching;
  /** Buckets per lane slot of the `pending` index, if not the default. */
  readonly pendingKeySpread?: number;
  /** Partitions of the lane items, if not the default. */
  readonly laneBuckets?: number;
}

/** What the aggregator reads. */
export interface AggregatorEnv extends FunctionEnv {
  /** Bucket of the errors and late sinks. */
  readonly sinkBucketName: string;
  /** Errors-sink key prefix. */
  readonly errorsPrefix: string;
  /** Late-sink key prefix. */
  readonly latePrefix: string;
  /** Whether the aggregator detects and repairs ranges the mapping skipped. */
  readonly skipDetection: boolean;
  /** Whether records can be skipped without ever being attempted (a record-age bound). */
  readonly unseenSkipsPossible: boolean;
}

/** What the idle closer reads. */
export interface CloserEnv extends FunctionEnv {
  /** Lane idle timeout, if set. */
  readonly laneIdleTimeoutMs?: number;
}

type Env = Readonly<Record<string, string | undefined>>;

function required(env: Env, fn: string, name: string): string {
  const v = env[name];
  if (!v) throw new MissingEnvError(fn, name);
  return v;
}

function optionalNumber(env: Env, name: string): number | undefined {
  const v = env[name];
  return v ? Number(v) : undefined;
}

function updateBatchingOf(env: Env, fn: string): UpdateBatching {
  const v = env[ENV.updateBatching];
  if (v === undefined || v === '') return 'single';
  if (!(UPDATE_BATCHING_MODES as readonly string[]).includes(v)) {
    throw new Error(`${fn}: ${ENV.updateBatching} is ${JSON.stringify(v)}, expected one of ${UPDATE_BATCHING_MODES.join(', ')}`);
  }
  return v as UpdateBatching;
}

function positiveIntegerOf(env: Env, fn: string, name: string): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${fn}: ${name} is ${JSON.stringify(v)}, expected a positive integer`);
  return n;
}

function readFunctionEnv(env: Env, fn: string): FunctionEnv {
  return {
    aggregationSpecJson: required(env, fn, ENV.aggregationSpec),
    windowTableName: required(env, fn, ENV.windowTableName),
    windowRetentionSeconds: optionalNumber(env, ENV.windowRetentionSeconds),
    resultsDeliveryStream: required(env, fn, ENV.resultsDeliveryStream),
    pendingStaleAfterMs: optionalNumber(env, ENV.pendingStaleAfterMs),
    updateBatching: updateBatchingOf(env, fn),
    pendingKeySpread: positiveIntegerOf(env, fn, ENV.pendingKeySpread),
    laneBuckets: positiveIntegerOf(env, fn, ENV.laneBuckets),
  };
}

/** Reads and checks the aggregator's environment; throws {@link MissingEnvError} naming a missing variable. */
export function readAggregatorEnv(env: Env = process.env): AggregatorEnv {
  const skip = env[ENV.skipDetection];
  return {
    ...readFunctionEnv(env, SERVICE_NAMES.aggregator),
    sinkBucketName: required(env, SERVICE_NAMES.aggregator, ENV.sinkBucketName),
    errorsPrefix: env[ENV.errorsPrefix] ?? SINK_PREFIXES.errors,
    latePrefix: env[ENV.latePrefix] ?? SINK_PREFIXES.late,
    skipDetection: skip === SKIP_DETECTION_RETRIES || skip === SKIP_DETECTION_AGE,
    unseenSkipsPossible: skip === SKIP_DETECTION_AGE,
  };
}

/** Reads and checks the idle closer's environment; throws {@link MissingEnvError} naming a missing variable. */
export function readCloserEnv(env: Env = process.env): CloserEnv {
  return { ...readFunctionEnv(env, SERVICE_NAMES.closer), laneIdleTimeoutMs: optionalNumber(env, ENV.laneIdleTimeoutMs) };
}

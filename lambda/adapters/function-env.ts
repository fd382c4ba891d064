/**
 * Environment variable names the stack sets on the pipeline's functions and their handlers read: one definition for
 * both sides. It imports only pure domain code, so that the CDK app can use it without loading the SDK.
 */

/**
 * Set on the aggregator when the event source mapping may give up a batch: the aggregator then records each batch in
 * flight on its shard's lane item, detects a range the mapping skipped, and re-reads it from the stream before it
 * moves any fence. {@link SKIP_DETECTION_RETRIES}: only a retry bound is set, so only attempted batches can be
 * skipped; {@link SKIP_DETECTION_AGE}: a record-age bound is set, so records can also be skipped unseen.
 */
export const SKIP_DETECTION_ENV = 'SKIP_DETECTION';
/** @see SKIP_DETECTION_ENV */
export const SKIP_DETECTION_RETRIES = 'retries';
/** @see SKIP_DETECTION_ENV */
export const SKIP_DETECTION_AGE = 'age';

/** Milliseconds without a batch after which the idle closer takes a shard (lane) for idle. */
export const LANE_IDLE_TIMEOUT_MS_ENV = 'LANE_IDLE_TIMEOUT_MS';

export { DEFAULT_LANE_IDLE_TIMEOUT_MS } from '../domain/lane';

/**
 * Environment variable names the stack sets on the pipeline's functions and their handlers read: one definition for
 * both sides. It imports nothing, so that the CDK app can use it without loading the SDK.
 */

/**
 * Set to "1" on the aggregator when the event source mapping may give up a batch (bounded retries or record age):
 * the aggregator then records each batch in flight on its shard's lane item, detects a range the mapping skipped, and
 * re-reads it from the stream before it moves any fence.
 */
export const SKIP_DETECTION_ENV = 'SKIP_DETECTION';

/** Milliseconds without a batch after which the idle closer takes a shard (lane) for idle. */
export const LANE_IDLE_TIMEOUT_MS_ENV = 'LANE_IDLE_TIMEOUT_MS';

export { DEFAULT_LANE_IDLE_TIMEOUT_MS } from '../app/close-idle-windows';

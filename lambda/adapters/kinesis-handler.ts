import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { processBatch, type BatchDeps, type BatchOutcome } from '../app/process-batch';
import { DEADLINE_MARGIN_MS } from '../app/time';
import { splitByShard } from './kinesis-records';

/**
 * The event field a redrive sets (to true) on the events it builds from the failure queue: the aggregator then
 * re-feeds the records only if that is exact, and says why not otherwise.
 */
export const REDRIVE_EVENT_FIELD = 'redrive';

/** A partial batch response, plus why a redrive was refused (per shard), for the redrive tool. */
export interface AggregatorResponse extends KinesisStreamBatchResponse {
  readonly refused?: { shardId: string; reason: string }[];
}

/** A Kinesis-triggered Lambda handler with partial batch responses. */
export type KinesisHandler = (event: KinesisStreamEvent, context?: Context) => Promise<AggregatorResponse>;

/**
 * Observability hooks around the use case (logging context, metrics). Every hook is optional and none can change
 * what is processed or returned.
 */
export interface BatchObserver {
  /** At the start of an invocation, with the Lambda context when the runtime passed one. */
  beforeInvocation?(context: Context | undefined): void;
  /** Before a lane (shard) is processed, with the Kinesis records delivered for it. */
  beforeBatch?(lane: string, records: readonly KinesisStreamRecord[]): void;
  /** After a lane was processed, with its outcome (stats, watermark, failure position). */
  onBatch?(lane: string, outcome: BatchOutcome): void;
  /** At the end of an invocation, also when a lane threw. */
  afterInvocation?(): void;
}

/**
 * Builds the aggregator's Lambda handler around its dependencies, so that tests invoke the same handler the function
 * runs, with their own ports and clock.
 */
export function createKinesisHandler(
  deps: BatchDeps,
  now: () => number = Date.now,
  observer: BatchObserver = {},
): KinesisHandler {
  return async (event, context) => {
    const batchItemFailures: { itemIdentifier: string }[] = [];
    const refused: { shardId: string; reason: string }[] = [];
    observer.beforeInvocation?.(context);
    const redrive = (event as unknown as Record<string, unknown>)[REDRIVE_EVENT_FIELD] === true;
    // Conflicting writes back off until the invocation is nearly out of time, not for a fixed count.
    const remaining = typeof context?.getRemainingTimeInMillis === 'function' ? context.getRemainingTimeInMillis() : undefined;
    const deadlineMs = remaining === undefined ? undefined : now() + Math.max(remaining - DEADLINE_MARGIN_MS, remaining / 2);
    try {
      const delivered = event.Records ?? [];
      for (const [lane, { delivered: ofLane, records }] of splitByShard(delivered)) {
        observer.beforeBatch?.(lane, ofLane);
        const outcome = await processBatch(deps, { lane, records, streamArn: ofLane[0]?.eventSourceARN, deadlineMs, redrive }, now());
        deps.log?.info('batch processed', { shardId: lane, ...outcome.stats, watermark: outcome.watermark });
        observer.onBatch?.(lane, outcome);
        if (outcome.failedSequenceNumber) batchItemFailures.push({ itemIdentifier: outcome.failedSequenceNumber });
        if (outcome.refused) refused.push({ shardId: lane, reason: outcome.refused });
      }
    } finally {
      observer.afterInvocation?.();
    }
    return refused.length > 0 ? { batchItemFailures, refused } : { batchItemFailures };
  };
}

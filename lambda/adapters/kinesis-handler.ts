import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { processBatch, type BatchDeps, type BatchOutcome } from '../app/process-batch';
import { groupByShard, shardIdOf } from './kinesis-records';

/** A Kinesis-triggered Lambda handler with partial batch responses. */
export type KinesisHandler = (event: KinesisStreamEvent, context?: Context) => Promise<KinesisStreamBatchResponse>;

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
    observer.beforeInvocation?.(context);
    try {
      const delivered = event.Records ?? [];
      for (const [lane, records] of groupByShard(delivered)) {
        observer.beforeBatch?.(lane, delivered.filter((r) => shardIdOf(r) === lane));
        const outcome = await processBatch(deps, { lane, records }, now());
        deps.log?.info('batch processed', { shardId: lane, ...outcome.stats, watermark: outcome.watermark });
        observer.onBatch?.(lane, outcome);
        if (outcome.failedSequenceNumber) batchItemFailures.push({ itemIdentifier: outcome.failedSequenceNumber });
      }
    } finally {
      observer.afterInvocation?.();
    }
    return { batchItemFailures };
  };
}

import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { processBatch, type BatchDeps } from '../app/process-batch';
import { groupByShard } from './kinesis-records';

/** A Kinesis-triggered Lambda handler with partial batch responses. */
export type KinesisHandler = (event: KinesisStreamEvent) => Promise<KinesisStreamBatchResponse>;

/**
 * Builds the aggregator's Lambda handler around its dependencies, so that tests invoke the same handler the function
 * runs, with their own ports and clock.
 */
export function createKinesisHandler(deps: BatchDeps, now: () => number = Date.now): KinesisHandler {
  return async (event) => {
    const batchItemFailures: { itemIdentifier: string }[] = [];
    for (const [lane, records] of groupByShard(event.Records ?? [])) {
      const outcome = await processBatch(deps, { lane, records }, now());
      deps.log?.info('batch processed', { shardId: lane, ...outcome.stats, watermark: outcome.watermark });
      if (outcome.failedSequenceNumber) batchItemFailures.push({ itemIdentifier: outcome.failedSequenceNumber });
    }
    return { batchItemFailures };
  };
}

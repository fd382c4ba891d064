/**
 * P5's no-op consumer: the function the event source mapping ceiling is measured with. It does nothing with the
 * records but count them (`countBatch`: one DynamoDB update per batch), so that the bench can tell when it has drained
 * the stream. Bundled with its SDK client by `bench/lib/noop-consumer.ts`; not part of the app.
 */
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { countBatch } from './count-batch';

/** Counts the batch's records. */
export async function handler(event: KinesisStreamEvent): Promise<KinesisStreamBatchResponse> {
  await countBatch(event.Records.length);
  return { batchItemFailures: [] };
}

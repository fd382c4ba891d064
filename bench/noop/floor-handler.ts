/**
 * P5's floor consumer: the no-op consumer plus P1's floor (`bench/lib/demo-floor.ts`), the demo spec's aggregations
 * computed by hand over each batch and then dropped. It reads and writes no window state, so its drain is the most
 * any aggregator of this spec can sustain behind this event source mapping: the highest P5 there is. Bundled by
 * `bench/lib/noop-consumer.ts` with the aggregator's spec in its environment; not part of the app.
 */
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { ENV } from '../../lambda/contract/env';
import { parseAggregationSpecJson } from '../../lambda/domain/spec';
import { demoFloor, demoShape } from '../lib/demo-floor';
import { countBatch } from './count-batch';

// A bench fixture deployed as its own function, outside the app and its environment contract.
const shape = demoShape(parseAggregationSpecJson(process.env[ENV.aggregationSpec] ?? '', ENV.aggregationSpec));

/** Aggregates the batch as P1's floor does, then counts it as the no-op does. */
export async function handler(event: KinesisStreamEvent): Promise<KinesisStreamBatchResponse> {
  const fired = demoFloor(
    shape,
    event.Records.map((r) => r.kinesis.data),
  ).length;
  await countBatch(event.Records.length, fired);
  return { batchItemFailures: [] };
}

/**
 * P5's no-op consumer: the function the event source mapping ceiling is measured with. It does nothing with the
 * records but count them, with one DynamoDB update per batch (ADD), so that the bench can tell when it has drained
 * the stream. Bundled with its SDK client by `bench/lib/noop-consumer.ts`; not part of the app.
 */
import { DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';

const client = new DynamoDBClient({});

/** Counts the batch's records on the item `consumed` of the table named by COUNT_TABLE. */
export async function handler(event: KinesisStreamEvent): Promise<KinesisStreamBatchResponse> {
  await client.send(
    new UpdateItemCommand({
      // A bench fixture deployed as its own function, outside the app and its environment contract.
      TableName: process.env.COUNT_TABLE,
      Key: { pk: { S: 'consumed' } },
      UpdateExpression: 'ADD n :n, batches :one',
      ExpressionAttributeValues: { ':n': { N: String(event.Records.length) }, ':one': { N: '1' } },
    }),
  );
  return { batchItemFailures: [] };
}

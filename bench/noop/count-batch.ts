/**
 * What P5's consumers (`handler.ts`, `floor-handler.ts`) do with every batch: one DynamoDB update (ADD) on their own
 * item of the scratch table, so that the bench can tell when each has drained the stream.
 */
import { DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';

const client = new DynamoDBClient({});

/** Adds a batch's records (and the windows it fired, for the floor) to the item COUNT_KEY of the table COUNT_TABLE. */
export async function countBatch(records: number, fired = 0): Promise<void> {
  await client.send(
    new UpdateItemCommand({
      // A bench fixture deployed as its own function, outside the app and its environment contract.
      TableName: process.env.COUNT_TABLE,
      Key: { pk: { S: process.env.COUNT_KEY ?? 'consumed' } },
      UpdateExpression: 'ADD n :n, batches :one, fired :fired',
      ExpressionAttributeValues: { ':n': { N: String(records) }, ':one': { N: '1' }, ':fired': { N: String(fired) } },
    }),
  );
}

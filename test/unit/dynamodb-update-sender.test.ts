import { ConditionalCheckFailedException, DynamoDBClient, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { DynamoWindowStore } from '../../lambda/adapters/dynamodb-window-store';
import { MAX_TRANSACT_GROUP_BYTES, MAX_TRANSACT_ITEMS, UpdateSender, type ConditionalUpdate } from '../../lambda/adapters/dynamodb-update-sender';
import { readAggregatorEnv, readCloserEnv } from '../../lambda/contract/env';
import { emptyState } from '../../lambda/domain/aggregate-state';
import type { StoredWindow } from '../../lambda/domain/window-lifecycle';
import type { WindowRef } from '../../lambda/domain/window-ref';
import { aggregationFactory, compiledSpecFactory } from '../support/factories';

const agg = compiledSpecFactory(aggregationFactory({ name: 'n_1m', groupBy: ['k'], measures: [{ name: 'n', op: 'count' }] })).aggregations[0];
const ref = (key: string): WindowRef => ({ aggregation: agg, keyJson: JSON.stringify([key]), start: 60_000, end: 120_000 });
const windowState = (n: number, rev: number): StoredWindow => {
  const state = emptyState(agg.layout);
  state[0] = n;
  return { state, fences: { 'shardId-000000000001': `00${n}` }, version: 0, pending: true, rev };
};
const update = (i: number): ConditionalUpdate => ({
  TableName: 't',
  Key: { pk: `k${i}`, sk: 's' },
  UpdateExpression: 'SET #n = :n',
  ConditionExpression: 'attribute_not_exists(#n)',
  ExpressionAttributeNames: { '#n': 'n' },
  ExpressionAttributeValues: { ':n': i },
});
const cancelled = (codes: readonly string[]) =>
  new TransactionCanceledException({ message: 'Transaction cancelled', $metadata: {}, CancellationReasons: codes.map((Code) => ({ Code })) });

const ddb = mockClient(DynamoDBDocumentClient);
const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}));

describe('UpdateSender', () => {
  beforeEach(() => ddb.reset());

  test('transactions: the window writes of one turn go out as one TransactWriteItems, each action the PutItem single mode sends', async () => {
    ddb.on(PutCommand).resolves({});
    ddb.on(TransactWriteCommand).resolves({});
    const refs = Array.from({ length: 40 }, (_, i) => ref(`d${i}`));
    const single = new DynamoWindowStore(doc, { tableName: 'windows', updateBatching: 'single' });
    expect(await Promise.all(refs.map((r, i) => single.writeWindow(r, windowState(i + 1, 1), undefined, 5)))).toStrictEqual(refs.map(() => 'written'));
    // The reference: what single mode sends, one PutItem each.
    const expected = ddb.commandCalls(PutCommand).map((c) => c.args[0].input);
    expect(expected).toHaveLength(40);
    ddb.reset();
    ddb.on(TransactWriteCommand).resolves({});

    const batched = new DynamoWindowStore(doc, { tableName: 'windows', updateBatching: 'transactions' });
    expect(await Promise.all(refs.map((r, i) => batched.writeWindow(r, windowState(i + 1, 1), undefined, 5)))).toStrictEqual(refs.map(() => 'written'));
    expect(ddb).toHaveReceivedCommandTimes(PutCommand, 0);
    const calls = ddb.commandCalls(TransactWriteCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0].args[0].input.TransactItems!.map((a) => a.Put)).toStrictEqual(expected);
  });

  test(`transactions: at most ${MAX_TRANSACT_ITEMS} actions a transaction, and never one item twice in a transaction`, async () => {
    ddb.on(TransactWriteCommand).resolves({});
    ddb.on(UpdateCommand).resolves({});
    const sender = new UpdateSender(doc, 'transactions');
    await Promise.all(Array.from({ length: 250 }, (_, i) => sender.update(update(i))));
    expect(ddb.commandCalls(TransactWriteCommand).map((c) => c.args[0].input.TransactItems!.length)).toStrictEqual([100, 100, 50]);
    ddb.resetHistory();
    // An item updated twice in one turn: its second update goes in a transaction of its own (here alone: an UpdateItem).
    await Promise.all([update(1), update(2), update(1)].map((u) => sender.update(u)));
    expect(ddb.commandCalls(TransactWriteCommand).map((c) => c.args[0].input.TransactItems!.map((a) => a.Update!.Key))).toStrictEqual([[update(1).Key, update(2).Key]]);
    expect(ddb.commandCalls(UpdateCommand).map((c) => c.args[0].input)).toStrictEqual([update(1)]);
    ddb.resetHistory();
    // A put and an update of one item are the same item too.
    ddb.on(PutCommand).resolves({});
    const put = { TableName: 't', Item: { pk: 'k1', sk: 's', n: 9 }, ConditionExpression: 'attribute_exists(#n)', ExpressionAttributeNames: { '#n': 'n' } };
    await Promise.all([sender.update(update(1)), sender.put(put, { pk: 'k1', sk: 's' }), sender.update(update(2))]);
    expect(ddb.commandCalls(TransactWriteCommand).map((c) => c.args[0].input.TransactItems)).toStrictEqual([[{ Put: put }, { Update: update(2) }]]);
    expect(ddb.commandCalls(UpdateCommand).map((c) => c.args[0].input)).toStrictEqual([update(1)]);
  });

  test(`transactions: updates are grouped up to ${MAX_TRANSACT_GROUP_BYTES} bytes of keys and values, far under the 4 MB request limit`, async () => {
    ddb.on(TransactWriteCommand).resolves({});
    ddb.on(UpdateCommand).resolves({});
    const sender = new UpdateSender(doc, 'transactions');
    // Ten updates of a 300 KiB binary value each: three fit under the cap, a fourth would not.
    const big = (i: number): ConditionalUpdate => ({ ...update(i), ExpressionAttributeValues: { ':n': new Uint8Array(300 * 1024) } });
    await Promise.all(Array.from({ length: 10 }, (_, i) => sender.update(big(i))));
    expect(ddb.commandCalls(TransactWriteCommand).map((c) => c.args[0].input.TransactItems!.length)).toStrictEqual([3, 3, 3]);
    expect(ddb).toHaveReceivedCommandTimes(UpdateCommand, 1);
  });

  test('transactions: a cancelled transaction fails the updates whose condition failed as conflicts and sends the others again one by one', async () => {
    ddb.on(TransactWriteCommand).rejects(cancelled(['None', 'ConditionalCheckFailed', 'None', 'TransactionConflict']));
    ddb
      .on(UpdateCommand)
      .resolves({})
      .on(UpdateCommand, { Key: { pk: 'k3', sk: 's' } })
      .rejects(new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} }));
    const sender = new UpdateSender(doc, 'transactions');
    const outcomes = await Promise.allSettled([0, 1, 2, 3].map((i) => sender.update(update(i))));
    expect(outcomes.map((o) => o.status)).toStrictEqual(['fulfilled', 'rejected', 'fulfilled', 'rejected']);
    for (const i of [1, 3]) expect(((outcomes[i] as PromiseRejectedResult).reason as Error).name).toBe('ConditionalCheckFailedException');
    // Only the cancelled updates whose own condition held were sent again.
    expect(ddb.commandCalls(UpdateCommand).map((c) => c.args[0].input.Key)).toStrictEqual([0, 2, 3].map((i) => update(i).Key));
  });

  test('transactions: the store reports a failed condition inside a transaction as a conflict', async () => {
    ddb.on(TransactWriteCommand).rejects(cancelled(['ConditionalCheckFailed', 'None']));
    ddb.on(UpdateCommand).resolves({});
    const store = new DynamoWindowStore(doc, { tableName: 'windows', updateBatching: 'transactions' });
    const outcomes = await Promise.all([store.writeWindow(ref('a'), windowState(1, 2), 1, 5), store.writeWindow(ref('b'), windowState(1, 2), 1, 5)]);
    expect(outcomes).toStrictEqual(['conflict', 'written']);
  });

  test('transactions: any other failure fails every update of the transaction, as a lone UpdateItem would fail', async () => {
    ddb.on(TransactWriteCommand).rejects(new Error('socket hang up'));
    const sender = new UpdateSender(doc, 'transactions');
    const outcomes = await Promise.allSettled([0, 1, 2].map((i) => sender.update(update(i))));
    expect(outcomes.map((o) => o.status)).toStrictEqual(['rejected', 'rejected', 'rejected']);
    expect(ddb).toHaveReceivedCommandTimes(UpdateCommand, 0);
  });

  test('transactions: a lone update is a plain UpdateItem; single mode never uses transactions', async () => {
    ddb.on(UpdateCommand).resolves({});
    await new UpdateSender(doc, 'transactions').update(update(1));
    const single = new UpdateSender(doc, 'single');
    await Promise.all([2, 3, 4].map((i) => single.update(update(i))));
    expect(ddb).toHaveReceivedCommandTimes(UpdateCommand, 4);
    expect(ddb).toHaveReceivedCommandTimes(TransactWriteCommand, 0);
  });

  test('the functions read the mode from DYNAMODB_UPDATE_BATCHING, single unless set, and refuse an unknown one', () => {
    const base = { AGGREGATION_SPEC: '{}', WINDOW_TABLE_NAME: 't', RESULTS_DELIVERY_STREAM: 'r', SINK_BUCKET_NAME: 'b' };
    expect(readAggregatorEnv(base).updateBatching).toBe('single');
    expect(readAggregatorEnv({ ...base, DYNAMODB_UPDATE_BATCHING: 'transactions' }).updateBatching).toBe('transactions');
    expect(() => readAggregatorEnv({ ...base, DYNAMODB_UPDATE_BATCHING: 'batch' })).toThrow(/DYNAMODB_UPDATE_BATCHING/);
  });

  test('the functions read the pending index key spread from PENDING_KEY_SPREAD, the layout default unless set', () => {
    const base = { AGGREGATION_SPEC: '{}', WINDOW_TABLE_NAME: 't', RESULTS_DELIVERY_STREAM: 'r', SINK_BUCKET_NAME: 'b' };
    expect(readAggregatorEnv(base).pendingKeySpread).toBeUndefined();
    expect(readAggregatorEnv({ ...base, PENDING_KEY_SPREAD: '1' }).pendingKeySpread).toBe(1);
    expect(() => readAggregatorEnv({ ...base, PENDING_KEY_SPREAD: '0' })).toThrow(/PENDING_KEY_SPREAD/);
  });

  test('the functions read the lane partitions from LANE_BUCKETS, the layout default unless set', () => {
    const base = { AGGREGATION_SPEC: '{}', WINDOW_TABLE_NAME: 't', RESULTS_DELIVERY_STREAM: 'r', SINK_BUCKET_NAME: 'b' };
    expect(readAggregatorEnv(base).laneBuckets).toBeUndefined();
    expect(readCloserEnv({ ...base, LANE_BUCKETS: '1' }).laneBuckets).toBe(1);
    expect(() => readAggregatorEnv({ ...base, LANE_BUCKETS: '1.5' })).toThrow(/LANE_BUCKETS/);
  });
});

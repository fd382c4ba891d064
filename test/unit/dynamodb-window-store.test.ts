
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, DynamoDBDocumentClient, QueryCommand, UpdateCommand, type BatchGetCommandInput } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { DynamoWindowStore, MAX_BATCH_GET_KEYS } from '../../lambda/adapters/dynamodb-window-store';
import { emptyState } from '../../lambda/domain/aggregate-state';
import type { WindowRef } from '../../lambda/domain/window-ref';
import { aggregationFactory, compiledSpecFactory } from '../support/factories';

const spec = compiledSpecFactory(
  aggregationFactory({
    name: 'temp_1m',
    groupBy: ['deviceId'],
    allowedLatenessSeconds: 30,
    measures: [
      { name: 'n', op: 'count' },
      { name: 'mean', op: 'avg', field: 't' },
      { name: 'hi', op: 'max', field: 't' },
    ],
  }),
);
const agg = spec.aggregations[0];
const ref = (key: string, start = 120_000): WindowRef => ({ aggregation: agg, keyJson: JSON.stringify([key]), start, end: start + 60_000 });
const conditionFailed = () => new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });

const ddb = mockClient(DynamoDBDocumentClient);
const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}));
const store = new DynamoWindowStore(doc, { tableName: 'windows', retentionAfterCloseSeconds: 3600, sleep: async () => {} });

describe('DynamoWindowStore', () => {
  beforeEach(() => ddb.reset());

  test('creates a window with one conditional UpdateItem', async () => {
    ddb.on(UpdateCommand).resolves({});
    const state = emptyState(agg.layout);
    state[0] = 2;
    state[1] = 41;
    state[2] = 2;
    state[3] = 21;
    const outcome = await store.writeWindow(ref('d1'), { state, fences: { 'shardId-1': '001' }, version: 0, pending: true, rev: 1 }, undefined, 99);
    expect(outcome).toBe('written');
    expect(ddb).toHaveReceivedCommandTimes(UpdateCommand, 1);
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: 'windows',
      Key: { pk: 'w#temp_1m#["d1"]', sk: '1970-01-01T00:02:00.000Z' },
      UpdateExpression: 'SET #m = :m, #f = :f, #v = :v, #rev = :rev, #agg = :agg, #key = :key, #ws = :ws, #we = :we, #fireAt = :fireAt, #exp = :exp, #upd = :upd, #p = :agg',
      ConditionExpression: 'attribute_not_exists(#pk)',
      ExpressionAttributeValues: expect.objectContaining({
        ':m': { n: 2, mean: { s: 41, c: 2 }, hi: 21 },
        ':key': { deviceId: 'd1' },
        ':fireAt': 180_000,
        // TTL: end + lateness + retention, in epoch seconds.
        ':exp': (180_000 + 30_000 + 3_600_000) / 1000,
      }),
    });
  });

  test('updates conditionally on the revision read, and clears pending once emitted', async () => {
    ddb.on(UpdateCommand).resolves({});
    await store.writeWindow(ref('d1'), { state: emptyState(agg.layout), fences: {}, version: 1, pending: false, rev: 5 }, 4, 1);
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      ConditionExpression: '#rev = :expectedRev',
      ExpressionAttributeValues: expect.objectContaining({ ':expectedRev': 4 }),
      UpdateExpression: expect.stringMatching(/ REMOVE #p$/),
    });
  });

  test('a failed condition is a conflict, other errors propagate', async () => {
    ddb.on(UpdateCommand).rejectsOnce(conditionFailed()).rejectsOnce(new Error('throttled'));
    const next = { state: emptyState(agg.layout), fences: {}, version: 0, pending: true, rev: 2 };
    expect(await store.writeWindow(ref('d1'), next, 1, 1)).toBe('conflict');
    await expect(store.writeWindow(ref('d1'), next, 1, 1)).rejects.toThrow(/throttled/);
  });

  test('reads windows 100 keys a call and retries unprocessed keys', async () => {
    const refs = Array.from({ length: 150 }, (_, i) => ref(`d${i}`));
    let call = 0;
    ddb.on(BatchGetCommand).callsFake((input: BatchGetCommandInput) => {
      call++;
      const keys = input.RequestItems!.windows.Keys as { pk: string; sk: string }[];
      const unprocessed = call === 1 ? keys.slice(90) : [];
      const served = call === 1 ? keys.slice(0, 90) : keys;
      return {
        Responses: { windows: served.map((k) => ({ ...k, m: { n: 1, mean: { s: 5, c: 1 }, hi: 5 }, f: { s: '1' }, v: 0, rev: 3, pendingAgg: 'temp_1m' })) },
        UnprocessedKeys: unprocessed.length ? { windows: { Keys: unprocessed } } : {},
      };
    });
    const got = await store.getWindows(refs, true);
    expect(got.size).toBe(150);
    const calls = ddb.commandCalls(BatchGetCommand).map((c) => c.args[0].input.RequestItems!.windows.Keys!.length);
    expect(calls.every((n) => n <= MAX_BATCH_GET_KEYS)).toBe(true);
    expect(calls).toStrictEqual([100, 10, 50]);
    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- jest types its asymmetric matchers as any
    expect(ddb).toHaveReceivedCommandWith(BatchGetCommand, { RequestItems: { windows: expect.objectContaining({ ConsistentRead: true }) } });
    const w = [...got.values()][0];
    expect({ version: w.version, pending: w.pending, rev: w.rev, fences: w.fences }).toStrictEqual({ version: 0, pending: true, rev: 3, fences: { s: '1' } });
    expect(w.state).toStrictEqual([1, 5, 1, 5]);
  });

  test('finds pending windows through the sparse index, following pages', async () => {
    ddb
      .on(QueryCommand)
      .resolvesOnce({ Items: [{ pk: 'w#temp_1m#["a"]', sk: '1970-01-01T00:01:00.000Z' }], LastEvaluatedKey: { x: 1 } })
      .resolves({ Items: [{ pk: 'w#temp_1m#["b"]', sk: '1970-01-01T00:02:00.000Z' }] });
    const refs = await store.findPending(agg, 200_000);
    expect(refs.map((r) => [r.keyJson, r.start, r.end])).toStrictEqual([['["a"]', 60_000, 120_000], ['["b"]', 120_000, 180_000]]);
    const input = ddb.commandCalls(QueryCommand)[0].args[0].input;
    expect(input.IndexName).toBe('pending');
    expect(input.KeyConditionExpression).toBe('#p = :agg AND #fireAt <= :w');
    expect(input.ExpressionAttributeValues).toStrictEqual({ ':agg': 'temp_1m', ':w': 200_000 });
    expect(ddb).toHaveReceivedNthSpecificCommandWith(2, QueryCommand, { ExclusiveStartKey: { x: 1 } });
  });

  test('marks a version emitted only if the window is still at that version', async () => {
    ddb.on(UpdateCommand).rejects(conditionFailed());
    await store.markEmitted(ref('d1'), 3);
    const input = ddb.commandCalls(UpdateCommand)[0].args[0].input;
    expect(input.UpdateExpression).toBe('REMOVE #p');
    expect(input.ConditionExpression).toBe('#v = :v AND attribute_exists(#p)');
    expect(input.ExpressionAttributeValues).toStrictEqual({ ':v': 3 });
  });

  test('reads every lane watermark with one consistent query of the lanes partition', async () => {
    ddb.on(QueryCommand).resolves({ Items: [{ pk: 'lanes', sk: 'shard-1', wm: 1234 }, { pk: 'lanes', sk: 'shard-2', wm: 99 }] });
    expect(await store.readWatermarks()).toStrictEqual(new Map([['shard-1', 1234], ['shard-2', 99]]));
    const input = ddb.commandCalls(QueryCommand)[0].args[0].input;
    expect(input.ExpressionAttributeValues).toStrictEqual({ ':pk': 'lanes' });
    expect(input.ConsistentRead).toBe(true);
  });

  test('a lane is written only at the revision it was read at', async () => {
    ddb.on(UpdateCommand).rejects(conditionFailed());
    expect(await store.writeLane('shard-1', { watermark: 1000, lastBatchAt: 5, repaired: [], lost: [], rev: 3 }, 2)).toBe('conflict');
    const input = ddb.commandCalls(UpdateCommand)[0].args[0].input;
    expect(input.Key).toEqual({ pk: 'lanes', sk: 'shard-1' });
    expect(input.ConditionExpression).toBe('#rev = :expected');
    expect(input.ExpressionAttributeValues).toMatchObject({ ':expected': 2, ':rev': 3, ':wm': 1000, ':lb': 5 });
  });
});

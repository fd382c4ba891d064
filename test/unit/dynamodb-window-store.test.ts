import assert from 'node:assert/strict';

import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, DynamoDBDocumentClient, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { DynamoWindowStore, MAX_BATCH_GET_KEYS } from '../../lambda/adapters/dynamodb-window-store';
import { emptyState } from '../../lambda/domain/aggregate-state';
import { compileSpec } from '../../lambda/domain/compiled-spec';
import { parseAggregationSpec } from '../../lambda/domain/spec';
import type { WindowRef } from '../../lambda/domain/pre-aggregate';

const spec = compileSpec(
  parseAggregationSpec({
    eventTime: { field: 'ts' },
    aggregations: [
      {
        name: 'temp_1m',
        groupBy: ['deviceId'],
        window: { type: 'tumbling', sizeSeconds: 60 },
        allowedLatenessSeconds: 30,
        measures: [
          { name: 'n', op: 'count' },
          { name: 'mean', op: 'avg', field: 't' },
          { name: 'hi', op: 'max', field: 't' },
        ],
      },
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
    assert.equal(outcome, 'written');
    const input = ddb.commandCalls(UpdateCommand)[0].args[0].input;
    assert.equal(input.TableName, 'windows');
    assert.deepEqual(input.Key, { pk: 'w#temp_1m#["d1"]', sk: '1970-01-01T00:02:00.000Z' });
    assert.equal(
      input.UpdateExpression,
      'SET #m = :m, #f = :f, #v = :v, #rev = :rev, #agg = :agg, #key = :key, #ws = :ws, #we = :we, #fireAt = :fireAt, #exp = :exp, #upd = :upd, #p = :agg',
    );
    assert.equal(input.ConditionExpression, 'attribute_not_exists(#pk)');
    assert.deepEqual(input.ExpressionAttributeValues![':m'], { n: 2, mean: { s: 41, c: 2 }, hi: 21 });
    assert.deepEqual(input.ExpressionAttributeValues![':key'], { deviceId: 'd1' });
    assert.equal(input.ExpressionAttributeValues![':fireAt'], 180_000);
    // TTL: end + lateness + retention, in epoch seconds.
    assert.equal(input.ExpressionAttributeValues![':exp'], (180_000 + 30_000 + 3_600_000) / 1000);
  });

  test('updates conditionally on the revision read, and clears pending once emitted', async () => {
    ddb.on(UpdateCommand).resolves({});
    await store.writeWindow(ref('d1'), { state: emptyState(agg.layout), fences: {}, version: 1, pending: false, rev: 5 }, 4, 1);
    const input = ddb.commandCalls(UpdateCommand)[0].args[0].input;
    assert.equal(input.ConditionExpression, '#rev = :expectedRev');
    assert.equal(input.ExpressionAttributeValues![':expectedRev'], 4);
    assert.match(input.UpdateExpression!, / REMOVE #p$/);
  });

  test('a failed condition is a conflict, other errors propagate', async () => {
    ddb.on(UpdateCommand).rejectsOnce(conditionFailed()).rejectsOnce(new Error('throttled'));
    const next = { state: emptyState(agg.layout), fences: {}, version: 0, pending: true, rev: 2 };
    assert.equal(await store.writeWindow(ref('d1'), next, 1, 1), 'conflict');
    await assert.rejects(store.writeWindow(ref('d1'), next, 1, 1), /throttled/);
  });

  test('reads windows 100 keys a call and retries unprocessed keys', async () => {
    const refs = Array.from({ length: 150 }, (_, i) => ref(`d${i}`));
    let call = 0;
    ddb.on(BatchGetCommand).callsFake((input) => {
      call++;
      const keys = input.RequestItems.windows.Keys as { pk: string; sk: string }[];
      const unprocessed = call === 1 ? keys.slice(90) : [];
      const served = call === 1 ? keys.slice(0, 90) : keys;
      return {
        Responses: { windows: served.map((k) => ({ ...k, m: { n: 1, mean: { s: 5, c: 1 }, hi: 5 }, f: { s: '1' }, v: 0, rev: 3, pendingAgg: 'temp_1m' })) },
        UnprocessedKeys: unprocessed.length ? { windows: { Keys: unprocessed } } : {},
      };
    });
    const got = await store.getWindows(refs, true);
    assert.equal(got.size, 150);
    const calls = ddb.commandCalls(BatchGetCommand).map((c) => c.args[0].input.RequestItems!.windows.Keys!.length);
    assert.ok(calls.every((n) => n <= MAX_BATCH_GET_KEYS));
    assert.deepEqual(calls, [100, 10, 50]);
    assert.equal(ddb.commandCalls(BatchGetCommand)[0].args[0].input.RequestItems!.windows.ConsistentRead, true);
    const w = [...got.values()][0];
    assert.deepEqual({ version: w.version, pending: w.pending, rev: w.rev, fences: w.fences }, { version: 0, pending: true, rev: 3, fences: { s: '1' } });
    assert.deepEqual(w.state, [1, 5, 1, 5]);
  });

  test('finds pending windows through the sparse index, following pages', async () => {
    ddb
      .on(QueryCommand)
      .resolvesOnce({ Items: [{ pk: 'w#temp_1m#["a"]', sk: '1970-01-01T00:01:00.000Z' }], LastEvaluatedKey: { x: 1 } })
      .resolves({ Items: [{ pk: 'w#temp_1m#["b"]', sk: '1970-01-01T00:02:00.000Z' }] });
    const refs = await store.findPending(agg, 200_000);
    assert.deepEqual(refs.map((r) => [r.keyJson, r.start, r.end]), [['["a"]', 60_000, 120_000], ['["b"]', 120_000, 180_000]]);
    const input = ddb.commandCalls(QueryCommand)[0].args[0].input;
    assert.equal(input.IndexName, 'pending');
    assert.equal(input.KeyConditionExpression, '#p = :agg AND #fireAt <= :w');
    assert.deepEqual(input.ExpressionAttributeValues, { ':agg': 'temp_1m', ':w': 200_000 });
    assert.deepEqual(ddb.commandCalls(QueryCommand)[1].args[0].input.ExclusiveStartKey, { x: 1 });
  });

  test('marks a version emitted only if the window is still at that version', async () => {
    ddb.on(UpdateCommand).rejects(conditionFailed());
    await store.markEmitted(ref('d1'), 3);
    const input = ddb.commandCalls(UpdateCommand)[0].args[0].input;
    assert.equal(input.UpdateExpression, 'REMOVE #p');
    assert.equal(input.ConditionExpression, '#v = :v AND attribute_exists(#p)');
    assert.deepEqual(input.ExpressionAttributeValues, { ':v': 3 });
  });

  test('reads every lane watermark with one consistent query of the lanes partition', async () => {
    ddb.on(QueryCommand).resolves({ Items: [{ pk: 'lanes', sk: 'shard-1', wm: 1234 }, { pk: 'lanes', sk: 'shard-2', wm: 99 }] });
    assert.deepEqual(await store.readWatermarks(), new Map([['shard-1', 1234], ['shard-2', 99]]));
    const input = ddb.commandCalls(QueryCommand)[0].args[0].input;
    assert.deepEqual(input.ExpressionAttributeValues, { ':pk': 'lanes' });
    assert.equal(input.ConsistentRead, true);
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

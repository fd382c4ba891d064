import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, DynamoDBDocumentClient, PutCommand, QueryCommand, type PutCommandInput } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { DynamoKeyWindowStore, KEY_WINDOWS_SK } from '../../lambda/adapters/dynamodb-key-window-store';
import { DynamoWindowStore } from '../../lambda/adapters/dynamodb-window-store';
import { ItemBudgetExceededError } from '../../lambda/app/errors';
import { pendingBucket, pendingKey } from '../../lambda/contract/window-table-layout';
import { emptyState } from '../../lambda/domain/aggregate-state';
import type { KeyWindow, KeyWindowSet } from '../../lambda/domain/key-windows';
import { aggregationFactory, compiledSpecFactory } from '../support/factories';

const spec = compiledSpecFactory(
  aggregationFactory({
    name: 'visits',
    groupBy: ['user'],
    window: { type: 'session', gapSeconds: 30, maxDurationSeconds: 3600 },
    allowedLatenessSeconds: 60,
    measures: [{ name: 'n', op: 'count' }, { name: 'mean', op: 'avg', field: 't' }],
  }),
);
const agg = spec.keyed[0];
const KEY = JSON.stringify(['u1']);
const conditionFailed = () => new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });

const ddb = mockClient(DynamoDBDocumentClient);
const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}));
const tableOpts = { tableName: 'windows', retentionAfterCloseSeconds: 3600, sleep: async () => {} };
const store = new DynamoKeyWindowStore(doc, tableOpts, new DynamoWindowStore(doc, tableOpts));

function window(start: number, end: number, version: number, emitted: number, supersedes: string[] = []): KeyWindow {
  const state = emptyState(agg.layout);
  state[0] = 3;
  state[1] = 60;
  state[2] = 3;
  return { id: `id${start}`, start, last: end - 30_000, end, state, version, emitted, lanes: ['shard-1'], supersedes };
}

const set = (windows: KeyWindow[], rev = 1): KeyWindowSet => ({ windows, fences: { 'shard-1': '0001' }, rev, filedUnder: 'shard-1' });

describe('DynamoKeyWindowStore', () => {
  beforeEach(() => ddb.reset());

  test('a new set is one PutItem conditional on absence, filed in the pending index at its next due end', async () => {
    ddb.on(PutCommand).resolves({});
    expect(await store.writeKeySet(agg, KEY, set([window(0, 40_000, 1, 1), window(100_000, 140_000, 0, 0)]), 0, 5)).toBe('written');
    const input = ddb.commandCalls(PutCommand)[0].args[0].input as PutCommandInput & { Item: Record<string, unknown> };
    expect(input.ConditionExpression).toBe('attribute_not_exists(#pk)');
    expect(input.Item).toMatchObject({ pk: `w#visits#${KEY}`, sk: KEY_WINDOWS_SK, agg: 'visits', key: { user: 'u1' }, rev: 1, updatedAt: 5, fireAt: 140_000, fu: 'shard-1' });
    // Filed under the lane it waits for, in the windows' bucket scheme, so that the lane's due-window query finds it.
    expect(input.Item.pendingAgg).toBe(pendingKey('visits', pendingBucket('shard-1', KEY)));
    expect(input.Item.kw).toStrictEqual([
      { i: 'id0', s: 0, l: 10_000, e: 40_000, m: { n: 3, mean: { s: 60, c: 3 } }, v: 1, x: 1, n: ['shard-1'] },
      { i: 'id100000', s: 100_000, l: 110_000, e: 140_000, m: { n: 3, mean: { s: 60, c: 3 } }, v: 0, x: 0, n: ['shard-1'] },
    ]);
    // TTL: the last end plus lateness plus retention.
    expect(input.Item.expiresAt).toBe(Math.ceil((140_000 + 60_000 + 3_600_000) / 1000));
  });

  test('an update is conditional on the revision; a set with nothing pending leaves the index; a failed condition is a conflict', async () => {
    ddb.on(PutCommand).rejects(conditionFailed());
    expect(await store.writeKeySet(agg, KEY, set([window(0, 40_000, 2, 2, ['idx'])], 4), 3, 5)).toBe('conflict');
    const input = ddb.commandCalls(PutCommand)[0].args[0].input as PutCommandInput & { Item: Record<string, unknown> };
    expect(input.ConditionExpression).toBe('#rev = :rev');
    expect(input.ExpressionAttributeValues).toStrictEqual({ ':rev': 3 });
    expect(input.Item.pendingAgg).toBeUndefined();
    expect(input.Item.fireAt).toBeUndefined();
    expect((input.Item.kw as { u?: string[] }[])[0].u).toStrictEqual(['idx']);
  });

  test('a set over the item budget is not written', async () => {
    ddb.on(PutCommand).resolves({});
    const many = Array.from({ length: 2000 }, (_, i) => ({ ...window(i * 100_000, i * 100_000 + 40_000, 0, 0), supersedes: Array.from({ length: 5 }, (_, j) => `superseded-session-${i}-${j}`) }));
    await expect(store.writeKeySet(agg, KEY, set(many), 1, 5)).rejects.toBeInstanceOf(ItemBudgetExceededError);
    expect(ddb.commandCalls(PutCommand)).toHaveLength(0);
  });

  test('sets read back as written (round trip through the item codec)', async () => {
    ddb.on(PutCommand).resolves({});
    const written = set([window(0, 40_000, 2, 1, ['a', 'b'])], 7);
    await store.writeKeySet(agg, KEY, written, 6, 9);
    const item = (ddb.commandCalls(PutCommand)[0].args[0].input as { Item: Record<string, unknown> }).Item;
    ddb.on(BatchGetCommand).resolves({ Responses: { windows: [item] } });
    const read = (await store.getKeySets(agg, [KEY, KEY], true)).get(KEY)!;
    expect(read).toStrictEqual({ ...written, updatedAt: 9 });
    const get = ddb.commandCalls(BatchGetCommand)[0].args[0].input;
    expect(get.RequestItems!.windows).toMatchObject({ Keys: [{ pk: `w#visits#${KEY}`, sk: KEY_WINDOWS_SK }], ConsistentRead: true });
  });

  test('pending keys come from the windows\u2019 pending index query, one per key', async () => {
    ddb.on(QueryCommand).resolves({ Items: [{ pk: `w#visits#${KEY}`, sk: KEY_WINDOWS_SK }] });
    const page = await store.findPendingKeys(agg, { atOrBefore: 1000, lane: 'shard-1' });
    expect(page.keys).toStrictEqual([KEY]);
  });
});

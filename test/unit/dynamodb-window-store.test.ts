
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, DynamoDBDocumentClient, PutCommand, QueryCommand, UpdateCommand, type BatchGetCommandInput, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { DynamoWindowStore, MAX_BATCH_GET_KEYS } from '../../lambda/adapters/dynamodb-window-store';
import { fnv1a32, LANE_BUCKETS, lanePk, PENDING_BUCKETS, PENDING_KEY_SPREAD, PENDING_LANE_SLOTS, pendingKey } from '../../lambda/contract/window-table-layout';
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

  test('creates a window with one conditional PutItem of the whole item', async () => {
    ddb.on(PutCommand).resolves({});
    const state = emptyState(agg.layout);
    state[0] = 2;
    state[1] = 41;
    state[2] = 2;
    state[3] = 21;
    const outcome = await store.writeWindow(ref('d1'), { state, fences: { 'shardId-1': '001' }, version: 0, pending: true, rev: 1 }, undefined, 99);
    expect(outcome).toBe('written');
    expect(ddb.commandCalls(UpdateCommand)).toHaveLength(0);
    expect(ddb).toHaveReceivedCommandTimes(PutCommand, 1);
    expect(ddb).toHaveReceivedCommandWith(PutCommand, {
      TableName: 'windows',
      ConditionExpression: 'attribute_not_exists(#pk)',
      ExpressionAttributeNames: { '#pk': 'pk' },
      Item: {
        pk: 'w#temp_1m#["d1"]',
        sk: '1970-01-01T00:02:00.000Z',
        m: { n: 2, mean: { s: 41, c: 2 }, hi: 21 },
        f: { 'shardId-1': '001' },
        v: 0,
        rev: 1,
        agg: 'temp_1m',
        key: { deviceId: 'd1' },
        ws: '1970-01-01T00:02:00.000Z',
        we: '1970-01-01T00:03:00.000Z',
        fireAt: 180_000,
        // TTL: end + lateness + retention, in epoch seconds.
        expiresAt: (180_000 + 30_000 + 3_600_000) / 1000,
        updatedAt: 99,
        // The index key: the creating lane's slot, then a hash of the window's key within it.
        pendingAgg: `temp_1m#${(fnv1a32('shardId-1') % PENDING_LANE_SLOTS) * PENDING_KEY_SPREAD + (fnv1a32('["d1"]') % PENDING_KEY_SPREAD)}`,
      },
    });
  });

  test('a pending rewrite keeps the index key the window was read with; one read unfiled is filed under its first lane', async () => {
    ddb.on(PutCommand).resolves({});
    const base = { state: emptyState(agg.layout), fences: { 'shardId-0': '002', 'shardId-1': '001' }, version: 0, pending: true, rev: 3 };
    await store.writeWindow(ref('d1'), { ...base, filedAs: 'temp_1m#77' }, 2, 1);
    await store.writeWindow(ref('d1'), { ...base, filedAs: null }, 2, 1);
    const filed = ddb.commandCalls(PutCommand).map((c) => c.args[0].input.Item!.pendingAgg as string);
    expect(filed).toStrictEqual(['temp_1m#77', `temp_1m#${(fnv1a32('shardId-0') % PENDING_LANE_SLOTS) * PENDING_KEY_SPREAD + (fnv1a32('["d1"]') % PENDING_KEY_SPREAD)}`]);
    expect(ddb.commandCalls(PutCommand).every((c) => c.args[0].input.ConditionExpression === '#rev = :expectedRev')).toBe(true);
  });

  test('a pending rewrite of a state not read from the store keeps the index key the item has, as an update', async () => {
    ddb.on(UpdateCommand).resolves({});
    await store.writeWindow(ref('d1'), { state: emptyState(agg.layout), fences: { 'shardId-1': '001' }, version: 0, pending: true, rev: 3 }, 2, 1);
    expect(ddb.commandCalls(PutCommand)).toHaveLength(0);
    const input = ddb.commandCalls(UpdateCommand)[0].args[0].input;
    expect(input.UpdateExpression).toMatch(/, #p = if_not_exists\(#p, :p\)$/);
    expect(input.ConditionExpression).toBe('#rev = :expectedRev');
  });

  test('writes conditionally on the revision read, and clears pending once emitted', async () => {
    ddb.on(PutCommand).resolves({});
    await store.writeWindow(ref('d1'), { state: emptyState(agg.layout), fences: {}, version: 1, pending: false, rev: 5 }, 4, 1);
    expect(ddb).toHaveReceivedCommandWith(PutCommand, {
      ConditionExpression: '#rev = :expectedRev',
      ExpressionAttributeValues: { ':expectedRev': 4 },
    });
    expect(ddb.commandCalls(PutCommand)[0].args[0].input.Item).not.toHaveProperty('pendingAgg');
  });

  test('a failed condition is a conflict, other errors propagate', async () => {
    ddb.on(UpdateCommand).rejectsOnce(conditionFailed()).rejectsOnce(new Error('throttled'));
    const next = { state: emptyState(agg.layout), fences: {}, version: 0, pending: true, rev: 2 };
    expect(await store.writeWindow(ref('d1'), next, 1, 1)).toBe('conflict');
    await expect(store.writeWindow(ref('d1'), next, 1, 1)).rejects.toThrow(/throttled/);
  });

  test('reads windows 100 keys a call, the calls side by side, and retries unprocessed keys', async () => {
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
    // The two calls of 100 and 50 keys run side by side; the 10 unprocessed keys of the first are retried.
    expect([...calls].sort((a, b) => a - b)).toStrictEqual([10, 50, 100]);
    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- jest types its asymmetric matchers as any
    expect(ddb).toHaveReceivedCommandWith(BatchGetCommand, { RequestItems: { windows: expect.objectContaining({ ConsistentRead: true }) } });
    const w = [...got.values()][0];
    expect({ version: w.version, pending: w.pending, rev: w.rev, fences: w.fences }).toStrictEqual({ version: 0, pending: true, rev: 3, fences: { s: '1' } });
    expect(w.state).toStrictEqual([1, 5, 1, 5]);
  });

  test('finds pending windows in a time range by querying every bucket of the sharded index, following pages', async () => {
    ddb.on(QueryCommand).callsFake((input: QueryCommandInput) => {
      const key = input.ExpressionAttributeValues![':k'] as string;
      if (key === pendingKey('temp_1m', 3) && !input.ExclusiveStartKey) return { Items: [{ pk: 'w#temp_1m#["a"]', sk: '1970-01-01T00:01:00.000Z' }], LastEvaluatedKey: { x: 1 } };
      if (key === pendingKey('temp_1m', 3)) return { Items: [{ pk: 'w#temp_1m#["b"]', sk: '1970-01-01T00:02:00.000Z' }] };
      return { Items: [] };
    });
    const { refs, cursor } = await store.findPending(agg, { after: 100_000, atOrBefore: 200_000 });
    expect(cursor).toBeUndefined();
    expect(refs.map((r) => [r.keyJson, r.start, r.end])).toStrictEqual([['["a"]', 60_000, 120_000], ['["b"]', 120_000, 180_000]]);
    const inputs = ddb.commandCalls(QueryCommand).map((c) => c.args[0].input);
    expect(new Set(inputs.map((i) => String(i.ExpressionAttributeValues![':k']))).size).toBe(PENDING_BUCKETS);
    expect(inputs.every((i) => i.IndexName === 'pending' && i.KeyConditionExpression === '#p = :k AND #fireAt BETWEEN :a AND :w')).toBe(true);
    expect(inputs.find((i) => i.ExclusiveStartKey)?.ExpressionAttributeValues).toStrictEqual({ ':k': pendingKey('temp_1m', 3), ':a': 100_001, ':w': 200_000 });
  });

  test('pages through the buckets with a cursor, a bounded number of windows a page', async () => {
    const item = (bucket: number, i: number) => ({ pk: `w#temp_1m#["k${bucket}-${i}"]`, sk: '1970-01-01T00:01:00.000Z', pendingAgg: pendingKey('temp_1m', bucket), fireAt: 120_000 });
    ddb.on(QueryCommand).callsFake((input: QueryCommandInput) => {
      const bucket = Number(String(input.ExpressionAttributeValues![':k']).split('#')[1]);
      // Every bucket holds three windows; DynamoDB honours Limit, reports where it stopped as the last item's keys, and
      // resumes after the item an ExclusiveStartKey names.
      const all = [0, 1, 2].map((i) => item(bucket, i));
      const after = input.ExclusiveStartKey ? all.findIndex((x) => x.pk === input.ExclusiveStartKey!.pk) : -1;
      const from = after + 1;
      const to = Math.min(3, from + (input.Limit ?? 3));
      const items = all.slice(from, to);
      return { Items: items, LastEvaluatedKey: to < 3 ? { ...items[items.length - 1] } : undefined };
    });
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await store.findPending(agg, { atOrBefore: 200_000, limit: 5, cursor, rotation: 7 });
      expect(page.refs.length).toBeLessThanOrEqual(5);
      seen.push(...page.refs.map((r) => r.keyJson));
      cursor = page.cursor;
      pages++;
    } while (cursor);
    const expected = Array.from({ length: PENDING_BUCKETS }, (_, b) => [0, 1, 2].map((i) => `["k${b}-${i}"]`)).flat();
    expect([...seen].sort()).toStrictEqual([...expected].sort());
    expect(new Set(seen).size).toBe(seen.length);
    expect(pages).toBe(Math.ceil((3 * PENDING_BUCKETS) / 5));
    expect(seen[0]).toBe('["k7-0"]');
  });

  test('with a smaller key spread (the local stage: 1), a lane slot is one bucket: windows are filed there, a batch reads one bucket, the closer 128', async () => {
    const narrow = new DynamoWindowStore(doc, { tableName: 'windows', pendingKeySpread: 1 });
    ddb.on(PutCommand).resolves({});
    ddb.on(QueryCommand).resolves({ Items: [] });
    const slot = fnv1a32('shardId-1') % PENDING_LANE_SLOTS;
    await narrow.writeWindow(ref('d1'), { state: emptyState(agg.layout), fences: { 'shardId-1': '001' }, version: 0, pending: true, rev: 1 }, undefined, 1);
    await narrow.writeWindow(ref('d2'), { state: emptyState(agg.layout), fences: { 'shardId-1': '001' }, version: 0, pending: true, rev: 1 }, 0, 1, 'shardId-1');
    const filed = ddb.commandCalls(PutCommand).map((c) => c.args[0].input.Item!.pendingAgg as string);
    expect(filed).toStrictEqual([`temp_1m#${slot}`, `temp_1m#${slot}`]);
    await narrow.findPending(agg, { after: 100_000, atOrBefore: 200_000, lane: 'shardId-1' });
    expect(ddb.commandCalls(QueryCommand).map((c) => String(c.args[0].input.ExpressionAttributeValues![':k']))).toStrictEqual([`temp_1m#${slot}`]);
    ddb.resetHistory();
    let cursor: string | undefined;
    do cursor = (await narrow.findPending(agg, { atOrBefore: 200_000, limit: 10, cursor })).cursor;
    while (cursor);
    const swept = ddb.commandCalls(QueryCommand).map((c) => String(c.args[0].input.ExpressionAttributeValues![':k']));
    expect(new Set(swept)).toStrictEqual(new Set(Array.from({ length: PENDING_LANE_SLOTS }, (_, b) => `temp_1m#${b}`)));
  });

  test('marks a version emitted only if the window is still at that version', async () => {
    ddb.on(UpdateCommand).rejects(conditionFailed());
    await store.markEmitted(ref('d1'), 3);
    const input = ddb.commandCalls(UpdateCommand)[0].args[0].input;
    expect(input.UpdateExpression).toBe('REMOVE #p');
    expect(input.ConditionExpression).toBe('#v = :v AND attribute_exists(#p)');
    expect(input.ExpressionAttributeValues).toStrictEqual({ ':v': 3 });
  });

  test('reads every lane watermark with one consistent query per lane partition', async () => {
    ddb.on(QueryCommand).callsFake((input: QueryCommandInput) => {
      const pk = String(input.ExpressionAttributeValues![':pk']);
      return { Items: ['shard-1', 'shard-2'].filter((l) => lanePk(l) === pk).map((l) => ({ pk, sk: l, wm: l === 'shard-1' ? 1234 : 99 })) };
    });
    expect(await store.readWatermarks()).toStrictEqual(new Map([['shard-1', 1234], ['shard-2', 99]]));
    const inputs = ddb.commandCalls(QueryCommand).map((c) => c.args[0].input);
    expect(inputs.map((i) => String(i.ExpressionAttributeValues![':pk'])).sort()).toStrictEqual(Array.from({ length: LANE_BUCKETS }, (_, b) => `lanes#${b}`).sort());
    expect(inputs.every((i) => i.ConsistentRead === true)).toBe(true);
  });

  test('a lane is written only at the revision it was read at', async () => {
    ddb.on(PutCommand).rejects(conditionFailed());
    expect(await store.writeLane('shard-1', { watermark: 1000, lastBatchAt: 5, repaired: [], lost: [], rev: 3 }, 2)).toBe('conflict');
    const input = ddb.commandCalls(PutCommand)[0].args[0].input;
    expect(input.Item).toStrictEqual({ pk: lanePk('shard-1'), sk: 'shard-1', rev: 3, updatedAt: 5, wm: 1000, lb: 5 });
    expect(input.ConditionExpression).toBe('#rev = :expected');
    expect(input.ExpressionAttributeValues).toStrictEqual({ ':expected': 2 });
  });
});

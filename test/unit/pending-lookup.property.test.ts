import { expect } from '@jest/globals';
import { fc, test } from '@fast-check/jest';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand, QueryCommand, UpdateCommand, type PutCommandInput, type QueryCommandInput, type UpdateCommandInput } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { DynamoWindowStore, windowPk, windowSk } from '../../lambda/adapters/dynamodb-window-store';
import { laggardOf } from '../../lambda/app/window-settlement';
import { emptyState } from '../../lambda/domain/aggregate-state';
import type { WindowRef } from '../../lambda/domain/window-ref';
import { aggregationFactory, compiledSpecFactory } from '../support/factories';

const spec = compiledSpecFactory(aggregationFactory({ name: 'temp_1m', groupBy: ['deviceId'], measures: [{ name: 'n', op: 'count' }] }));
const agg = spec.aggregations[0];
const MINUTE = 60_000;

/**
 * A table with only what the lookup needs: items by key with their `pending` index key and sort key, PutItem, UpdateItem's
 * SET/REMOVE of the index key (with `if_not_exists`), and a Query of the index by key and `fireAt` range, with Limit
 * and ExclusiveStartKey as DynamoDB pages (the index keeps items in sort-key order).
 */
function fakeTable() {
  const items = new Map<string, { pk: string; sk: string; p?: string; fireAt: number }>();
  const ddb = mockClient(DynamoDBDocumentClient);
  ddb.on(UpdateCommand).callsFake((input: UpdateCommandInput) => {
    const key = input.Key as { pk: string; sk: string };
    const id = `${key.pk}|${key.sk}`;
    const cur = items.get(id);
    const values = input.ExpressionAttributeValues ?? {};
    const expr = input.UpdateExpression ?? '';
    if (expr === 'REMOVE #p') {
      if (cur) delete cur.p;
      return {};
    }
    const names = input.ExpressionAttributeNames ?? {};
    const assigned = new Map([...expr.matchAll(/(#\w+) = (:\w+)/g)].map(([, n, v]) => [names[n], values[v]]));
    const next = { pk: key.pk, sk: key.sk, fireAt: Number(assigned.get('fireAt')), p: cur?.p };
    if (expr.includes('#p = if_not_exists(#p, :p)')) next.p = cur?.p ?? String(values[':p']);
    else if (expr.includes('REMOVE #p')) next.p = undefined;
    else throw new Error(`unexpected update ${expr}`);
    items.set(id, next);
    return {};
  });
  ddb.on(PutCommand).callsFake((input: PutCommandInput) => {
    const item = input.Item as { pk: string; sk: string; fireAt: number; pendingAgg?: string };
    items.set(`${item.pk}|${item.sk}`, { pk: item.pk, sk: item.sk, fireAt: Number(item.fireAt), p: item.pendingAgg });
    return {};
  });
  ddb.on(QueryCommand).callsFake((input: QueryCommandInput) => {
    const v = input.ExpressionAttributeValues ?? {};
    const lo = v[':a'] === undefined ? -Infinity : Number(v[':a']);
    const hi = Number(v[':w']);
    const matching = [...items.values()]
      .filter((i) => i.p === v[':k'] && i.fireAt >= lo && i.fireAt <= hi)
      .sort((a, b) => a.fireAt - b.fireAt || (`${a.pk}|${a.sk}` < `${b.pk}|${b.sk}` ? -1 : 1));
    const from = Number((input.ExclusiveStartKey as { i?: number } | undefined)?.i ?? 0);
    const to = input.Limit === undefined ? matching.length : Math.min(matching.length, from + input.Limit);
    return { Items: matching.slice(from, to).map((i) => ({ pk: i.pk, sk: i.sk })), LastEvaluatedKey: to < matching.length ? { i: to } : undefined };
  });
  /** What a read of the window gives the next write: where the item is filed (null: not filed). */
  const filedAs = (pk: string, sk: string): string | null => items.get(`${pk}|${sk}`)?.p ?? null;
  return { ddb, filedAs, store: new DynamoWindowStore(DynamoDBDocumentClient.from(new DynamoDBClient({})), { tableName: 'windows', sleep: async () => {} }) };
}

const op = fc.record({
  lane: fc.constantFrom('shardId-000000000000', 'shardId-000000000001', 'shardId-000000000007', 'shardId-000000000042'),
  key: fc.integer({ min: 0, max: 40 }),
  minute: fc.integer({ min: 1, max: 8 }),
  /** Another lane writes the window afterwards (it keeps its creator's index key). */
  other: fc.option(fc.constantFrom('shardId-000000000003', 'shardId-000000000001'), { nil: undefined }),
  emitted: fc.boolean(),
  /** The rewrite comes from a read of the window (as a batch writes; a put), or from a state not read (an update). */
  read: fc.boolean(),
});

describe('the pending index lookup (lane slots × key buckets)', () => {
  test.prop([fc.array(op, { maxLength: 60 }), fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 9 }), fc.integer({ min: 1, max: 7 })], { numRuns: 25 })(
    'a due query finds exactly the pending windows its lane created in the range, and the paged sweep every one once',
    async (ops, a, b, pageSize) => {
      const { ddb, filedAs, store } = fakeTable();
      try {
        /** The reference: window id → creator lane, end, pending. */
        const ref = new Map<string, { creator: string; end: number; pending: boolean }>();
        for (const o of ops) {
          const w: WindowRef = { aggregation: agg, keyJson: JSON.stringify([`k${o.key}`]), start: (o.minute - 1) * MINUTE, end: o.minute * MINUTE };
          const id = `${w.keyJson}@${w.start}`;
          const cur = ref.get(id);
          // A window emitted and written again is filed anew, under its (only) fence's lane.
          const creator = cur?.pending ? cur.creator : o.lane;
          const base = { state: emptyState(agg.layout), version: 0, rev: 1 };
          await store.writeWindow(w, { ...base, fences: { [o.lane]: '1' }, pending: true }, cur ? 0 : undefined, 0);
          if (o.other) {
            const read = o.read ? { filedAs: filedAs(windowPk(agg.name, w.keyJson), windowSk(w.start)) } : {};
            await store.writeWindow(w, { ...base, fences: { [o.lane]: '1', [o.other]: '1' }, pending: true, ...read }, 1, 0);
          }
          ref.set(id, { creator, end: w.end, pending: true });
          if (o.emitted) {
            await store.markEmitted(w, 0);
            ref.set(id, { creator, end: w.end, pending: false });
          }
        }
        const before = Math.min(a, b) * MINUTE;
        const watermark = Math.max(a, b) * MINUTE + 1;
        const idOf = (r: WindowRef) => `${r.keyJson}@${r.start}`;
        for (const lane of ['shardId-000000000000', 'shardId-000000000001', 'shardId-000000000007', 'shardId-000000000042']) {
          const { refs } = await store.findPending(agg, { after: before, atOrBefore: watermark, lane });
          const expected = [...ref].filter(([, r]) => r.pending && r.creator === lane && r.end > before && r.end <= watermark).map(([id]) => id);
          expect(refs.map(idOf).sort()).toStrictEqual(expected.sort());
        }
        const swept: string[] = [];
        let cursor: string | undefined;
        do {
          const page = await store.findPending(agg, { atOrBefore: watermark, limit: pageSize, cursor, rotation: a * 7 + b });
          expect(page.refs.length).toBeLessThanOrEqual(pageSize);
          swept.push(...page.refs.map(idOf));
          cursor = page.cursor;
        } while (cursor);
        const all = [...ref].filter(([, r]) => r.pending && r.end <= watermark).map(([id]) => id);
        expect([...swept].sort()).toStrictEqual(all.sort());
      } finally {
        ddb.restore();
      }
    },
  );
});

describe('handing a window to the lane it waits for', () => {
  const w: WindowRef = { aggregation: agg, keyJson: '["k"]', start: 0, end: MINUTE };
  test.prop([fc.dictionary(fc.constantFrom('a', 'b', 'c', 'd'), fc.option(fc.integer({ min: 0, max: 2 * MINUTE }), { nil: undefined })), fc.constantFrom('a', 'b', 'c', 'd')])(
    'a lane that passed the end names a fed lane behind it (unknown first, then the furthest behind), else none',
    (wms, lane) => {
      const watermarks = new Map(Object.entries(wms).filter((e): e is [string, number] => e[1] !== undefined));
      const fences = Object.fromEntries(Object.keys(wms).map((l) => [l, '1']));
      const got = laggardOf(w, fences, lane, watermarks);
      const own = watermarks.get(lane);
      const behind = Object.keys(fences).filter((l) => (watermarks.get(l) ?? -Infinity) < w.end);
      if (own === undefined || own < w.end || behind.length === 0) expect(got).toBeUndefined();
      else {
        const lowest = Math.min(...behind.map((l) => watermarks.get(l) ?? -Infinity));
        expect(got).toBeDefined();
        expect(behind).toContain(got);
        expect(watermarks.get(got!) ?? -Infinity).toBe(lowest);
      }
    },
  );
});

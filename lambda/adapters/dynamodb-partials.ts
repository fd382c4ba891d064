/**
 * Per-shard window state in the window table (README "Exactly-once", `lambda/app/per-shard-settlement.ts`): a lane's
 * partial items (`pk = p#<aggregation>#<lane>#<key JSON>`, `sk = <window start ISO>`) and the registration of a lane
 * on a window's root item (the window item's key, with the lanes in a string set `ln`). Split from the window store so
 * that each stays a readable size.
 */
import { conditionalWrite } from './conditional-write';
import { BatchGetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { revisionCondition, type UpdateSender } from './dynamodb-update-sender';
import { ItemBudgetExceededError, type PartialKey, type WriteOutcome } from '../app/ports';
import { toStoredMeasures } from '../domain/aggregate-state';
import type { CompiledAggregation } from '../domain/compiled-spec';
import { toIsoUtc } from '../domain/event-time';
import { itemBytes, WINDOW_ITEM_BUDGET_BYTES } from '../domain/item-budget';
import type { StoredPartial } from '../domain/window-lifecycle';
import { keyRecord, partialId, type WindowRef } from '../domain/window-ref';
import { backoffDelay, realSleep, type BackoffOptions } from '../support/backoff';
import { ATTR, compactLane, pendingBucket, pendingKey } from '../contract/window-table-layout';
import { partialPk, storedPartialOf, windowItemKey, windowSk } from './window-items';

/** BatchGetItem reads at most 100 keys per call. @see https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html */
const MAX_BATCH_GET_KEYS = 100;

/** What the partial functions need of the store. */
export interface PartialTable extends BackoffOptions {
  readonly doc: DynamoDBDocumentClient;
  readonly tableName: string;
  /** Milliseconds an item is kept after its window's end plus allowed lateness (TTL). */
  readonly retentionMs: number;
  /** Sends the conditional partial writes (one by one, or grouped into transactions on the local stage). */
  readonly updates: UpdateSender;
  /** Buckets per lane slot of the `pending` index (see `PENDING_KEY_SPREAD`). @default 32 */
  readonly pendingKeySpread?: number;
}

/** Reads partials with BatchGetItem (calls of 100 keys side by side), keyed by `partialId`. */
export async function getPartials(t: PartialTable, keys: readonly PartialKey[], consistent: boolean): Promise<Map<string, StoredPartial>> {
  const out = new Map<string, StoredPartial>();
  const byKey = new Map<string, PartialKey>();
  for (const k of keys) byKey.set(`${partialPk(k.ref.aggregation.name, k.ref.keyJson, k.lane)}\u0000${windowSk(k.ref.start)}`, k);
  const all = [...byKey.keys()].map((k) => {
    const [pk, sk] = k.split('\u0000');
    return { pk, sk };
  });
  const readChunk = async (chunk: Record<string, unknown>[]) => {
    let request: Record<string, unknown>[] | undefined = chunk;
    for (let attempt = 0; request && request.length > 0; attempt++) {
      if (attempt > 0) await (t.sleep ?? realSleep)(backoffDelay(attempt, t));
      if (attempt > (t.maxAttempts ?? 8)) throw new Error('BatchGetItem kept returning unprocessed keys');
      const res = await t.doc.send(new BatchGetCommand({ RequestItems: { [t.tableName]: { Keys: request, ConsistentRead: consistent } } }));
      for (const item of res.Responses?.[t.tableName] ?? []) {
        const k = byKey.get(`${String(item[ATTR.pk])}\u0000${String(item[ATTR.sk])}`);
        if (k) out.set(partialId(k.ref.aggregation.name, k.ref.keyJson, k.ref.start, k.lane), storedPartialOf(k.ref, item));
      }
      request = res.UnprocessedKeys?.[t.tableName]?.Keys as Record<string, unknown>[] | undefined;
    }
  };
  const chunks: Record<string, unknown>[][] = [];
  for (let i = 0; i < all.length; i += MAX_BATCH_GET_KEYS) chunks.push(all.slice(i, i + MAX_BATCH_GET_KEYS));
  await Promise.all(chunks.map(readChunk));
  return out;
}

/**
 * Writes a partial conditional on its revision (absent: on its not existing). A dirty partial carries a `pending`
 * index key (its lane's bucket, at the window's end) so that a sweep finds it; a clean one has none.
 */
export async function writePartial(t: PartialTable, key: PartialKey, next: StoredPartial, expectedRev: number | undefined, nowMs: number): Promise<WriteOutcome> {
  const { ref, lane } = key;
  const agg = ref.aggregation;
  const pk = partialPk(agg.name, ref.keyJson, lane);
  const sk = windowSk(ref.start);
  const item: Record<string, unknown> = {
    [ATTR.pk]: pk,
    [ATTR.sk]: sk,
    [ATTR.measures]: toStoredMeasures(agg.layout, next.state),
    [ATTR.rev]: next.rev,
    [ATTR.aggregation]: agg.name,
    [ATTR.fireAt]: ref.end,
    [ATTR.expiresAt]: Math.ceil((ref.end + agg.latenessMs + t.retentionMs) / 1000),
    [ATTR.updatedAt]: nowMs,
    [ATTR.sealed]: next.sealed,
    [ATTR.dirty]: next.dirty,
  };
  if (next.fence !== undefined) item[ATTR.partialFence] = next.fence;
  if (next.dirty) item[ATTR.pending] = pendingKey(agg.name, pendingBucket(lane, ref.keyJson, t.pendingKeySpread));
  const bytes = itemBytes(item);
  if (bytes > WINDOW_ITEM_BUDGET_BYTES) throw new ItemBudgetExceededError(bytes, WINDOW_ITEM_BUDGET_BYTES);
  // The item is the whole partial (only its lane writes it), so a put writes it.
  return conditionalWrite(() => t.updates.put({ TableName: t.tableName, Item: item, ...revisionCondition(expectedRev) }, { pk, sk }));
}

/**
 * Adds a lane to a window's root (one unconditional UpdateItem: `ADD` to the lane set and to the revision), creating
 * the root, pending and filed under the lane's bucket, when it does not exist. A root already emitted is filed again
 * (the registering lane's partial is then a correction, which re-fires and emits it). Returns the root's version.
 */
export async function registerLane(t: PartialTable, ref: WindowRef, lane: string, nowMs: number): Promise<{ version: number }> {
  const agg: CompiledAggregation = ref.aggregation;
  const res = await t.doc.send(
    new UpdateCommand({
      TableName: t.tableName,
      Key: windowItemKey(ref),
      UpdateExpression:
        'ADD #ln :ln, #rev :one SET #agg = :agg, #key = :key, #ws = :ws, #we = :we, #fireAt = :fireAt, #exp = :exp, ' +
        '#upd = :upd, #v = if_not_exists(#v, :zero), #p = if_not_exists(#p, :p)',
      ExpressionAttributeNames: {
        '#ln': ATTR.lanes,
        '#rev': ATTR.rev,
        '#agg': ATTR.aggregation,
        '#key': ATTR.key,
        '#ws': ATTR.windowStart,
        '#we': ATTR.windowEnd,
        '#fireAt': ATTR.fireAt,
        '#exp': ATTR.expiresAt,
        '#upd': ATTR.updatedAt,
        '#v': ATTR.version,
        '#p': ATTR.pending,
      },
      ExpressionAttributeValues: {
        ':ln': new Set([compactLane(lane)]),
        ':one': 1,
        ':agg': agg.name,
        ':key': keyRecord(agg, ref.keyJson),
        ':ws': toIsoUtc(ref.start),
        ':we': toIsoUtc(ref.end),
        ':fireAt': ref.end,
        ':exp': Math.ceil((ref.end + agg.latenessMs + t.retentionMs) / 1000),
        ':upd': nowMs,
        ':zero': 0,
        ':p': pendingKey(agg.name, pendingBucket(lane, ref.keyJson, t.pendingKeySpread)),
      },
      ReturnValues: 'UPDATED_NEW',
    }),
  );
  return { version: Number(res.Attributes?.[ATTR.version] ?? 0) };
}

/** The window a `pending` index item of a partial stands for, from its partition key; undefined if not a partial's. */
export function partialRefOf(aggregation: CompiledAggregation, pk: string, sk: string): WindowRef | undefined {
  const prefix = `p#${aggregation.name}#`;
  if (!pk.startsWith(prefix)) return undefined;
  const rest = pk.slice(prefix.length);
  const cut = rest.indexOf('#');
  if (cut < 0) return undefined;
  const start = Date.parse(sk);
  return { aggregation, keyJson: rest.slice(cut + 1), start, end: start + aggregation.assigner.sizeMs };
}

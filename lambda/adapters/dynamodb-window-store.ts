import { conditionalWrite, isConditionFailure } from './conditional-write';
import { BatchGetCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { UpdateSender, type ConditionalUpdate, type UpdateBatching, type WriteCondition, revisionCondition } from './dynamodb-update-sender';
import { ItemBudgetExceededError, type PartialKey, type PendingPage, type PendingQuery, type WindowStore, type WriteOutcome } from '../app/ports';
import { getPartials, partialRefOf, registerLane, writePartial, type PartialTable } from './dynamodb-partials';
import { itemBytes, WINDOW_ITEM_BUDGET_BYTES } from '../domain/item-budget';
import { toStoredMeasures } from '../domain/aggregate-state';
import type { CompiledAggregation } from '../domain/compiled-spec';
import { toIsoUtc } from '../domain/event-time';
import { keyRecord, windowId, type WindowRef } from '../domain/window-ref';
import type { StoredPartial, StoredWindow } from '../domain/window-lifecycle';
import {
  decodePendingCursor,
  encodePendingCursor,
  laneStateOf,
  rangeItem,
  storedWindowOf,
  watermarkKey,
  windowPendingKey,
  keyJsonOfWindowPk,
  windowItemKey,
} from './window-items';
import type { LaneState } from '../domain/lane';
import { realSleep, backoffDelay, type BackoffOptions } from '../support/backoff';
import { ATTR, compactLane, LANE_BUCKETS, LANES_PK, laneSlotBuckets, PENDING_INDEX, pendingBucket, pendingBucketCount, pendingKey } from '../contract/window-table-layout';

export { ATTR, LANES_PK, PENDING_INDEX };
export { laneStateOf, parseWindowItem, storedWindowOf, watermarkKey, windowPendingKey, windowPk, windowSk } from './window-items';

/**
 * The update that writes `item` (every attribute SET) but keeps the `pending` index key the stored item has, setting
 * the item's own only when it has none.
 */
function keepingIndexKey(tableName: string, item: Record<string, unknown>, condition: WriteCondition): ConditionalUpdate {
  const names: Record<string, string> = { ...condition.ExpressionAttributeNames };
  const values: Record<string, unknown> = { ...condition.ExpressionAttributeValues };
  const set: string[] = [];
  let i = 0;
  for (const [attr, value] of Object.entries(item)) {
    if (attr === ATTR.pk || attr === ATTR.sk || attr === ATTR.pending) continue;
    names[`#a${i}`] = attr;
    values[`:a${i}`] = value;
    set.push(`#a${i} = :a${i}`);
    i++;
  }
  names['#p'] = ATTR.pending;
  values[':p'] = item[ATTR.pending];
  set.push('#p = if_not_exists(#p, :p)');
  return {
    TableName: tableName,
    Key: { [ATTR.pk]: item[ATTR.pk], [ATTR.sk]: item[ATTR.sk] },
    UpdateExpression: `SET ${set.join(', ')}`,
    ...condition,
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  };
}

/** Queries of the `pending` index kept in flight when a batch reads every bucket of a time range. */
export const PENDING_QUERY_CONCURRENCY = 16;

/** BatchGetItem reads at most 100 keys per call. @see https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html */
export const MAX_BATCH_GET_KEYS = 100;
/** Options of the window store. */
export interface DynamoWindowStoreOptions extends BackoffOptions {
  readonly tableName: string;
  /**
   * How long a window's state is kept after its end plus allowed lateness, before TTL removes it. It must exceed the
   * stream's retention, so that no redelivery can reach a window whose fences are gone.
   * @default 7 days
   */
  readonly retentionAfterCloseSeconds?: number;
  /** How the conditional updates (window, partial and lane writes, emitted marks) are sent. @default 'single' */
  readonly updateBatching?: UpdateBatching;
  /** Buckets per lane slot of the `pending` index, fixed for a deployment (see `PENDING_KEY_SPREAD`). @default 32 */
  readonly pendingKeySpread?: number;
  /** Partitions of the lane items, fixed for a deployment (see `LANE_BUCKETS`): reading the lanes is a Query each. @default 8 */
  readonly laneBuckets?: number;
}

/**
 * Window state in one DynamoDB table:
 * - a window item per (aggregation, key, window): `pk = w#<aggregation>#<key JSON>`, `sk = <window start ISO>`;
 * - a watermark item per lane (shard): `pk = lanes#<hash(shardId) mod 8>`, `sk = <shardId>`;
 * - the sparse GSI `pending` (`pendingAgg = <aggregation>#<bucket>`, `fireAt`) over windows that still have something
 *   to emit; the bucket is the creating lane's slot and a hash of the key (see `pendingBucket`). The index key is set when a window is created and removed when it is emitted; updates in
 *   between keep it, so they cost the index nothing.
 */
export class DynamoWindowStore implements WindowStore {
  private readonly retentionMs: number;
  private readonly partialTable: PartialTable;
  private readonly updates: UpdateSender;

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly opts: DynamoWindowStoreOptions,
  ) {
    this.retentionMs = (opts.retentionAfterCloseSeconds ?? 7 * 86_400) * 1000;
    this.updates = new UpdateSender(doc, opts.updateBatching);
    this.partialTable = { ...opts, doc, retentionMs: this.retentionMs, updates: this.updates };
  }

  getPartials(keys: readonly PartialKey[], consistent: boolean): Promise<Map<string, StoredPartial>> {
    return getPartials(this.partialTable, keys, consistent);
  }

  writePartial(key: PartialKey, next: StoredPartial, expectedRev: number | undefined, nowMs: number): Promise<WriteOutcome> {
    return writePartial(this.partialTable, key, next, expectedRev, nowMs);
  }

  registerLane(ref: WindowRef, lane: string, nowMs: number): Promise<{ version: number }> {
    return registerLane(this.partialTable, ref, lane, nowMs);
  }

  async readLanes(): Promise<Map<string, LaneState>> {
    const out = new Map<string, LaneState>();
    await Promise.all(
      Array.from({ length: this.opts.laneBuckets ?? LANE_BUCKETS }, async (_, bucket) => {
        let startKey: Record<string, unknown> | undefined;
        do {
          const res = await this.doc.send(
            new QueryCommand({
              TableName: this.opts.tableName,
              KeyConditionExpression: '#pk = :pk',
              ExpressionAttributeNames: { '#pk': ATTR.pk },
              ExpressionAttributeValues: { ':pk': `${LANES_PK}#${bucket}` },
              ConsistentRead: true,
              ExclusiveStartKey: startKey,
            }),
          );
          for (const item of res.Items ?? []) out.set(String(item[ATTR.sk]), laneStateOf(item));
          startKey = res.LastEvaluatedKey;
        } while (startKey);
      }),
    );
    return out;
  }

  /** Every lane's persisted watermark (epoch ms). */
  async readWatermarks(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const [lane, s] of await this.readLanes()) if (s.watermark !== undefined) out.set(lane, s.watermark);
    return out;
  }

  async writeLane(lane: string, next: LaneState, expectedRev: number): Promise<WriteOutcome> {
    const key = watermarkKey(lane, this.opts.laneBuckets);
    const item: Record<string, unknown> = { [ATTR.pk]: key.pk, [ATTR.sk]: key.sk, [ATTR.rev]: next.rev, [ATTR.updatedAt]: next.lastBatchAt ?? 0 };
    const put = (attr: string, value: unknown) => {
      if (value !== undefined) item[attr] = value;
    };
    put(ATTR.watermark, next.watermark);
    put(ATTR.lastBatchAt, next.lastBatchAt);
    put(ATTR.applied, next.applied);
    put(ATTR.inFlight, next.inFlight && { s: next.inFlight.sequenceNumber, p: next.inFlight.position });
    put(ATTR.repaired, next.repaired.length > 0 ? next.repaired.map(rangeItem) : undefined);
    put(ATTR.lost, next.lost.length > 0 ? next.lost.map(rangeItem) : undefined);
    // Lane items written before revisions existed count as revision 0.
    const condition: WriteCondition =
      expectedRev === 0
        ? { ConditionExpression: 'attribute_not_exists(#rev) OR #rev = :expected', ExpressionAttributeNames: { '#rev': ATTR.rev }, ExpressionAttributeValues: { ':expected': 0 } }
        : { ConditionExpression: '#rev = :expected', ExpressionAttributeNames: { '#rev': ATTR.rev }, ExpressionAttributeValues: { ':expected': expectedRev } };
    // The item is the whole lane (only its lane's batches write it), so a put writes it.
    return conditionalWrite(() => this.updates.put({ TableName: this.opts.tableName, Item: item, ...condition }, key));
  }

  async getWindows(refs: readonly WindowRef[], consistent: boolean): Promise<Map<string, StoredWindow>> {
    const out = new Map<string, StoredWindow>();
    const byKey = new Map<string, WindowRef>();
    for (const ref of refs) {
      const k = windowItemKey(ref);
      byKey.set(`${k.pk}\u0000${k.sk}`, ref);
    }
    const keys = [...byKey.keys()].map((k) => {
      const [pk, sk] = k.split('\u0000');
      return { pk, sk };
    });
    // The calls of 100 keys run side by side: a batch reads its windows in one round trip, not one per 100.
    const chunks: Record<string, unknown>[][] = [];
    for (let i = 0; i < keys.length; i += MAX_BATCH_GET_KEYS) chunks.push(keys.slice(i, i + MAX_BATCH_GET_KEYS));
    const readChunk = async (chunk: Record<string, unknown>[]) => {
      let request: Record<string, unknown>[] | undefined = chunk;
      for (let attempt = 0; request && request.length > 0; attempt++) {
        if (attempt > 0) await (this.opts.sleep ?? realSleep)(backoffDelay(attempt, this.opts));
        if (attempt > (this.opts.maxAttempts ?? 8)) throw new Error('BatchGetItem kept returning unprocessed keys');
        const res = await this.doc.send(
          new BatchGetCommand({
            RequestItems: {
              [this.opts.tableName]: {
                Keys: request,
                ConsistentRead: consistent,
                ProjectionExpression: '#pk, #sk, #m, #f, #v, #rev, #p, #upd, #ln',
                ExpressionAttributeNames: {
                  '#pk': ATTR.pk,
                  '#sk': ATTR.sk,
                  '#m': ATTR.measures,
                  '#f': ATTR.fences,
                  '#v': ATTR.version,
                  '#rev': ATTR.rev,
                  '#p': ATTR.pending,
                  '#upd': ATTR.updatedAt,
                  '#ln': ATTR.lanes,
                },
              },
            },
          }),
        );
        for (const item of res.Responses?.[this.opts.tableName] ?? []) {
          const ref = byKey.get(`${item[ATTR.pk]}\u0000${item[ATTR.sk]}`);
          if (ref) out.set(windowId(ref.aggregation.name, ref.keyJson, ref.start), storedWindowOf(ref, item));
        }
        request = res.UnprocessedKeys?.[this.opts.tableName]?.Keys as Record<string, unknown>[] | undefined;
      }
    };
    await Promise.all(chunks.map(readChunk));
    return out;
  }

  async writeWindow(
    ref: WindowRef,
    next: StoredWindow,
    expectedRev: number | undefined,
    nowMs: number,
    fileUnder?: string,
  ): Promise<WriteOutcome> {
    const agg = ref.aggregation;
    const key = windowItemKey(ref);
    const item: Record<string, unknown> = {
      [ATTR.pk]: key.pk,
      [ATTR.sk]: key.sk,
      [ATTR.measures]: toStoredMeasures(agg.layout, next.state),
      [ATTR.fences]: next.fences,
      [ATTR.version]: next.version,
      [ATTR.rev]: next.rev,
      [ATTR.aggregation]: agg.name,
      [ATTR.key]: keyRecord(agg, ref.keyJson),
      [ATTR.windowStart]: toIsoUtc(ref.start),
      [ATTR.windowEnd]: toIsoUtc(ref.end),
      [ATTR.fireAt]: ref.end,
      [ATTR.expiresAt]: Math.ceil((ref.end + agg.latenessMs + this.retentionMs) / 1000),
      [ATTR.updatedAt]: nowMs,
    };
    // A per-shard root keeps its lanes (the write is conditional on the revision every registration bumps).
    if (next.lanes && next.lanes.length > 0) item[ATTR.lanes] = new Set(next.lanes.map(compactLane));
    // A pending window stays filed where it is (its creator's slot, and an unchanged index key costs the index no
    // write), unless the caller files it anew; a new one, or one read unfiled, is filed under its first lane.
    if (next.pending) {
      item[ATTR.pending] =
        fileUnder !== undefined
          ? pendingKey(agg.name, pendingBucket(fileUnder, ref.keyJson, this.opts.pendingKeySpread))
          : (next.filedAs ?? windowPendingKey(ref, next.fences, next.lanes, this.opts.pendingKeySpread));
    }
    const bytes = itemBytes(item);
    if (bytes > WINDOW_ITEM_BUDGET_BYTES) throw new ItemBudgetExceededError(bytes, WINDOW_ITEM_BUDGET_BYTES);
    const condition = revisionCondition(expectedRev);
    // The item is the whole window, so a put writes it. Except for a pending rewrite of a window whose index key is
    // unknown (a state not read from the store): that one keeps whatever key the item has, as an update.
    if (next.pending && fileUnder === undefined && expectedRev !== undefined && next.filedAs === undefined) {
      return conditionalWrite(() => this.updates.update(keepingIndexKey(this.opts.tableName, item, condition)));
    }
    return conditionalWrite(() => this.updates.put({ TableName: this.opts.tableName, Item: item, ...condition }, key));
  }

  async findPending(aggregation: CompiledAggregation, query: PendingQuery): Promise<PendingPage> {
    const bucketCount = pendingBucketCount(this.opts.pendingKeySpread);
    const toRef = (item: Record<string, unknown>): WindowRef | undefined => {
      const pk = String(item[ATTR.pk]);
      const keyJson = keyJsonOfWindowPk(aggregation, pk);
      // A dirty per-shard partial stands for its window.
      if (keyJson === undefined) return partialRefOf(aggregation, pk, String(item[ATTR.sk]));
      const start = Date.parse(String(item[ATTR.sk]));
      return { aggregation, keyJson, start, end: start + aggregation.assigner.sizeMs };
    };
    const range = query.after === undefined ? '#fireAt <= :w' : '#fireAt BETWEEN :a AND :w';
    const values = (bucket: number): Record<string, unknown> => ({
      ':k': pendingKey(aggregation.name, bucket),
      ':w': query.atOrBefore,
      // fireAt is an integer (epoch ms): after `a` means at or after `a + 1`.
      ...(query.after === undefined ? {} : { ':a': query.after + 1 }),
    });
    const send = (bucket: number, startKey: Record<string, unknown> | undefined, limit: number | undefined) =>
      this.doc.send(
        new QueryCommand({
          TableName: this.opts.tableName,
          IndexName: PENDING_INDEX,
          KeyConditionExpression: `#p = :k AND ${range}`,
          ExpressionAttributeNames: { '#p': ATTR.pending, '#fireAt': ATTR.fireAt },
          ExpressionAttributeValues: values(bucket),
          ExclusiveStartKey: startKey,
          Limit: limit,
        }),
      );
    if (query.limit === undefined) {
      // A batch's time range is narrow: every bucket of its lane's slot at once, each to its end.
      const refs: WindowRef[] = [];
      const buckets = query.lane === undefined ? Array.from({ length: bucketCount }, (_, b) => b) : laneSlotBuckets(query.lane, this.opts.pendingKeySpread);
      let next = 0;
      const worker = async () => {
        while (next < buckets.length) {
          const bucket = buckets[next++];
          let startKey: Record<string, unknown> | undefined;
          do {
            const res = await send(bucket, startKey, undefined);
            for (const item of res.Items ?? []) {
              const ref = toRef(item);
              if (ref) refs.push(ref);
            }
            startKey = res.LastEvaluatedKey;
          } while (startKey);
        }
      };
      await Promise.all(Array.from({ length: Math.min(PENDING_QUERY_CONCURRENCY, buckets.length) }, worker));
      return { refs };
    }
    // Paged: buckets in order from one that rotates from pass to pass, from where the cursor stopped. Most buckets are
    // empty, so they are read PENDING_QUERY_CONCURRENCY at a time: one after another, a pass over 4,096 buckets would
    // take longer than the closer's timeout. A chunk's results are taken in bucket order up to the limit, or up to the
    // first bucket that has more to give; the cursor resumes there (what later buckets of that chunk returned is read
    // again on the next page).
    const first = (query.rotation ?? 0) % bucketCount;
    let { bucket, startKey } = decodePendingCursor(query.cursor);
    const refs: WindowRef[] = [];
    while (bucket < bucketCount && refs.length < query.limit) {
      const remaining = query.limit - refs.length;
      const chunk = Array.from({ length: Math.min(PENDING_QUERY_CONCURRENCY, bucketCount - bucket) }, (_, i) => bucket + i);
      const results = await Promise.all(chunk.map((b, i) => send((first + b) % bucketCount, i === 0 ? startKey : undefined, remaining)));
      startKey = undefined;
      for (const [i, res] of results.entries()) {
        const items = res.Items ?? [];
        let taken = 0;
        while (taken < items.length && refs.length < query.limit) {
          const ref = toRef(items[taken++]);
          if (ref) refs.push(ref);
        }
        bucket = chunk[i];
        if (taken < items.length) {
          // The page is full inside this bucket: resume after the last item taken (an index query's start key is
          // the index key and the table key, all of which a KEYS_ONLY item holds).
          const last: Record<string, unknown> = items[taken - 1];
          startKey = Object.fromEntries([ATTR.pk, ATTR.sk, ATTR.pending, ATTR.fireAt].map((a) => [a, last[a]]));
          break;
        }
        if (res.LastEvaluatedKey) {
          startKey = res.LastEvaluatedKey;
          break;
        }
        bucket++;
        if (refs.length >= query.limit) break;
      }
    }
    return { refs, cursor: bucket < bucketCount ? encodePendingCursor(bucket, startKey) : undefined };
  }

  async markEmitted(ref: WindowRef, version: number): Promise<void> {
    try {
      await this.updates.update({
        TableName: this.opts.tableName,
        Key: windowItemKey(ref),
        UpdateExpression: 'REMOVE #p',
        ConditionExpression: '#v = :v AND attribute_exists(#p)',
        ExpressionAttributeNames: { '#p': ATTR.pending, '#v': ATTR.version },
        ExpressionAttributeValues: { ':v': version },
      });
    } catch (e) {
      // A correction moved the window to a later version, which is pending in its own right.
      if (!isConditionFailure(e)) throw e;
    }
  }
}

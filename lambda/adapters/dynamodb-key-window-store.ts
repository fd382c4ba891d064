import { BatchGetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { conditionalWrite } from './conditional-write';
import { ItemBudgetExceededError, type KeyWindowStore, type PendingKeysPage, type PendingQuery, type WindowStore, type WriteOutcome } from '../app/ports';
import { fromStoredMeasures, toStoredMeasures } from '../domain/aggregate-state';
import type { CompiledAggregation } from '../domain/compiled-spec';
import { itemBytes, WINDOW_ITEM_BUDGET_BYTES } from '../domain/item-budget';
import { nextDue, type KeyWindow, type KeyWindowSet } from '../domain/key-windows';
import { keyRecord } from '../domain/window-ref';
import { ATTR, pendingBucket, pendingKey } from '../contract/window-table-layout';
import { realSleep, backoffDelay, type BackoffOptions } from '../support/backoff';
import { windowPk } from './window-items';

/**
 * The sort key of a key's window set, beside the key's epoch-aligned window items (which sort by their ISO start):
 * not a date, so the tools that read window items skip it.
 */
export const KEY_WINDOWS_SK = 'key-windows';
/** Attribute of a window set: its windows. */
const WINDOWS_ATTR = 'kw';
/** Attribute of a window set: the lane it is filed under in the pending index. */
const FILED_UNDER_ATTR = 'fu';

/** BatchGetItem reads at most 100 keys per call. @see https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html */
const MAX_BATCH_GET_KEYS = 100;

/** Options of the key window store. */
export interface DynamoKeyWindowStoreOptions extends BackoffOptions {
  readonly tableName: string;
  /** As the window store's: how long after its last end plus lateness a set is kept before TTL removes it. @default 7 days */
  readonly retentionAfterCloseSeconds?: number;
  /** As the window store's: buckets per lane slot of the `pending` index (see `PENDING_KEY_SPREAD`). @default 32 */
  readonly pendingKeySpread?: number;
}

/** A window as stored: short attribute names, since a set holds many. */
interface StoredKeyWindow {
  readonly i: string;
  readonly s: number;
  readonly l: number;
  readonly e: number;
  readonly m: Record<string, unknown>;
  readonly v: number;
  readonly x: number;
  readonly n: string[];
  readonly u?: string[];
}

/** Reads a stored window set item. */
export function keyWindowSetOf(agg: CompiledAggregation, item: Record<string, unknown>): KeyWindowSet {
  const windows = ((item[WINDOWS_ATTR] as StoredKeyWindow[] | undefined) ?? []).map(
    (w): KeyWindow => ({
      id: w.i,
      start: Number(w.s),
      last: Number(w.l),
      end: Number(w.e),
      state: fromStoredMeasures(agg.layout, w.m),
      version: Number(w.v),
      emitted: Number(w.x),
      lanes: w.n ?? [],
      supersedes: w.u ?? [],
    }),
  );
  return {
    windows,
    fences: (item[ATTR.fences] as Record<string, string> | undefined) ?? {},
    rev: Number(item[ATTR.rev] ?? 0),
    updatedAt: item[ATTR.updatedAt] === undefined ? undefined : Number(item[ATTR.updatedAt]),
    filedUnder: typeof item[FILED_UNDER_ATTR] === 'string' ? item[FILED_UNDER_ATTR] : undefined,
  };
}

/**
 * Per-key window sets in the window table: `pk = w#<aggregation>#<key JSON>` (the key's partition, shared with
 * epoch-aligned windows of the same name, which cannot exist: a name has one window type), `sk = key-windows`. A set
 * is written whole with a conditional put on its revision, so a merge (survivor, absorbed session and fences) is one
 * atomic write. A set with something pending is in the `pending` index under the aggregation's bucket of the lane it
 * is filed under, at its next due end (`fireAt`), so the batch and closer queries find it as they find windows.
 */
export class DynamoKeyWindowStore implements KeyWindowStore {
  private readonly retentionMs: number;

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly opts: DynamoKeyWindowStoreOptions,
    /** The window store, whose `pending` index queries find window sets as well. */
    private readonly windows: Pick<WindowStore, 'findPending'>,
  ) {
    this.retentionMs = (opts.retentionAfterCloseSeconds ?? 7 * 86_400) * 1000;
  }

  async getKeySets(aggregation: CompiledAggregation, keyJsons: readonly string[], consistent: boolean): Promise<Map<string, KeyWindowSet>> {
    const out = new Map<string, KeyWindowSet>();
    const prefix = windowPk(aggregation.name, '');
    const unique = [...new Set(keyJsons)];
    const chunks: string[][] = [];
    for (let i = 0; i < unique.length; i += MAX_BATCH_GET_KEYS) chunks.push(unique.slice(i, i + MAX_BATCH_GET_KEYS));
    await Promise.all(
      chunks.map(async (chunk) => {
        let request: Record<string, unknown>[] | undefined = chunk.map((k) => ({ pk: windowPk(aggregation.name, k), sk: KEY_WINDOWS_SK }));
        for (let attempt = 0; request && request.length > 0; attempt++) {
          if (attempt > 0) await (this.opts.sleep ?? realSleep)(backoffDelay(attempt, this.opts));
          if (attempt > (this.opts.maxAttempts ?? 8)) throw new Error('BatchGetItem kept returning unprocessed keys');
          const res = await this.doc.send(new BatchGetCommand({ RequestItems: { [this.opts.tableName]: { Keys: request, ConsistentRead: consistent } } }));
          for (const item of res.Responses?.[this.opts.tableName] ?? []) {
            out.set(String(item[ATTR.pk]).slice(prefix.length), keyWindowSetOf(aggregation, item));
          }
          request = res.UnprocessedKeys?.[this.opts.tableName]?.Keys as Record<string, unknown>[] | undefined;
        }
      }),
    );
    return out;
  }

  async writeKeySet(aggregation: CompiledAggregation, keyJson: string, next: KeyWindowSet, expectedRev: number, nowMs: number): Promise<WriteOutcome> {
    const due = nextDue(next);
    const lastEnd = Math.max(0, ...next.windows.map((w) => w.end));
    const item: Record<string, unknown> = {
      [ATTR.pk]: windowPk(aggregation.name, keyJson),
      [ATTR.sk]: KEY_WINDOWS_SK,
      [ATTR.aggregation]: aggregation.name,
      [ATTR.key]: keyRecord(aggregation, keyJson),
      [WINDOWS_ATTR]: next.windows.map(
        (w): StoredKeyWindow => ({
          i: w.id,
          s: w.start,
          l: w.last,
          e: w.end,
          m: toStoredMeasures(aggregation.layout, w.state),
          v: w.version,
          x: w.emitted,
          n: [...w.lanes],
          ...(w.supersedes.length > 0 ? { u: [...w.supersedes] } : {}),
        }),
      ),
      [ATTR.fences]: next.fences,
      [ATTR.rev]: next.rev,
      [ATTR.updatedAt]: nowMs,
      [ATTR.expiresAt]: Math.ceil((lastEnd + aggregation.latenessMs + this.retentionMs) / 1000),
    };
    if (next.filedUnder !== undefined) item[FILED_UNDER_ATTR] = next.filedUnder;
    if (due !== undefined) {
      item[ATTR.fireAt] = due;
      item[ATTR.pending] = pendingKey(aggregation.name, pendingBucket(next.filedUnder ?? Object.keys(next.fences).sort()[0] ?? '', keyJson, this.opts.pendingKeySpread));
    }
    const bytes = itemBytes(item);
    if (bytes > WINDOW_ITEM_BUDGET_BYTES) throw new ItemBudgetExceededError(bytes, WINDOW_ITEM_BUDGET_BYTES);
    return conditionalWrite(() =>
      this.doc.send(
      new PutCommand({
        TableName: this.opts.tableName,
        Item: item,
        ...(expectedRev === 0
          ? { ConditionExpression: 'attribute_not_exists(#pk)', ExpressionAttributeNames: { '#pk': ATTR.pk } }
          : { ConditionExpression: '#rev = :rev', ExpressionAttributeNames: { '#rev': ATTR.rev }, ExpressionAttributeValues: { ':rev': expectedRev } }),
      }),
      ),
    );
  }

  async findPendingKeys(aggregation: CompiledAggregation, query: PendingQuery): Promise<PendingKeysPage> {
    const page = await this.windows.findPending(aggregation, query);
    return { keys: [...new Set(page.refs.map((r) => r.keyJson))], ...(page.cursor !== undefined ? { cursor: page.cursor } : {}) };
  }
}

import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  PutCommand,
  TransactWriteCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
  type PutCommandInput,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import type { UpdateBatching } from '../contract/env';
import { itemBytes } from '../domain/item-budget';
import { ATTR } from '../contract/window-table-layout';

export type { UpdateBatching };

/** TransactWriteItems takes at most 100 actions. @see https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html */
export const MAX_TRANSACT_ITEMS = 100;

/**
 * A transaction is at most 4 MB. Updates are grouped up to this many bytes of their key and values as DynamoDB sizes
 * items ({@link itemBytes}, binary values at their length), which leaves room for the request's own form (binary
 * values in base64, type tags, expressions).
 */
export const MAX_TRANSACT_GROUP_BYTES = 1024 * 1024;

/** A conditional UpdateItem with nothing a transaction's action cannot carry (no ReturnValues). */
export type ConditionalUpdate = Omit<UpdateCommandInput, 'ReturnValues' | 'UpdateExpression' | 'ConditionExpression'> & {
  readonly UpdateExpression: string;
  readonly ConditionExpression: string;
};

/**
 * A conditional PutItem with nothing a transaction's action cannot carry: for an item whose every attribute the writer
 * knows, the same write as an update that SETs them all (the same write units on AWS), and cheaper for the local
 * emulator to apply (ministack applies a transaction's update expression three times, each on a copy of the item).
 */
export type ConditionalPut = Omit<PutCommandInput, 'ReturnValues' | 'ConditionExpression'> & {
  readonly ConditionExpression: string;
};

/** The condition of a conditional write, with the names and values it uses. */
export interface WriteCondition {
  readonly ConditionExpression: string;
  readonly ExpressionAttributeNames: Record<string, string>;
  readonly ExpressionAttributeValues?: Record<string, unknown>;
}

/**
 * The condition of a write that expects the item at revision `expectedRev` (the `rev` attribute every write of it
 * bumps), or, when undefined, expects no item.
 */
export function revisionCondition(expectedRev: number | undefined): WriteCondition {
  return expectedRev === undefined
    ? { ConditionExpression: 'attribute_not_exists(#pk)', ExpressionAttributeNames: { '#pk': ATTR.pk } }
    : { ConditionExpression: '#rev = :expectedRev', ExpressionAttributeNames: { '#rev': ATTR.rev }, ExpressionAttributeValues: { ':expectedRev': expectedRev } };
}

/** One write of a transaction, as TransactWriteItems names it. */
type Action = { readonly Update: ConditionalUpdate } | { readonly Put: ConditionalPut };

interface Queued {
  readonly action: Action;
  readonly itemKey: string;
  readonly bytes: number;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

/** The CancellationReasons a cancelled transaction reports, one per action, in order. */
function cancellationReasons(e: unknown): readonly { Code?: string }[] | undefined {
  const err = e as { name?: string; CancellationReasons?: { Code?: string }[] };
  return err?.name === 'TransactionCanceledException' ? err.CancellationReasons : undefined;
}

/**
 * Sends conditional UpdateItems and PutItems:
 * - `single`: one request each, all in flight at once (AWS: cheapest per write, and DynamoDB serves the
 *   requests side by side);
 * - `transactions`: the updates issued in the same turn of the event loop go out together as TransactWriteItems of up
 *   to {@link MAX_TRANSACT_ITEMS} (the local emulator serves every request in one process, one after another, at about
 *   2 ms a request and under 1 ms an action, so its cost follows the number of requests). Only the local stage uses
 *   it: on AWS a transaction bills twice the write units, and one conflict cancels all of it.
 *
 * In either mode each update keeps its own condition and outcome: a failed condition rejects that update with a
 * `ConditionalCheckFailedException`, any other failure rejects it with the error, as `UpdateCommand` would. A cancelled
 * transaction wrote nothing; its updates whose own condition held are sent again one by one.
 */
export class UpdateSender {
  private queue: Queued[] = [];

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    readonly mode: UpdateBatching = 'single',
  ) {}

  /** Sends one conditional update; resolves once it is written. */
  update(input: ConditionalUpdate): Promise<void> {
    const bytes = itemBytes(input.Key ?? {}) + itemBytes(input.ExpressionAttributeValues ?? {}) + input.UpdateExpression.length + input.ConditionExpression.length;
    return this.send({ Update: input }, input.Key, bytes);
  }

  /** Sends one conditional put of the item whose table key is `key`; resolves once it is written. */
  put(input: ConditionalPut, key: Readonly<Record<string, unknown>>): Promise<void> {
    const bytes = itemBytes(input.Item ?? {}) + itemBytes(input.ExpressionAttributeValues ?? {}) + input.ConditionExpression.length;
    return this.send({ Put: input }, key, bytes);
  }

  private send(action: Action, key: unknown, bytes: number): Promise<void> {
    if (this.mode === 'single') return this.sendOne(action);
    return new Promise<void>((resolve, reject) => {
      if (this.queue.length === 0) setImmediate(() => void this.flush());
      const table = 'Put' in action ? action.Put.TableName : action.Update.TableName;
      this.queue.push({ action, itemKey: JSON.stringify([table, key]), bytes, resolve, reject });
    });
  }

  private async sendOne(action: Action): Promise<void> {
    if ('Put' in action) await this.doc.send(new PutCommand(action.Put));
    else await this.doc.send(new UpdateCommand(action.Update));
  }

  /** Sends what was queued, in groups that fit one transaction (never the same item twice in one). */
  private async flush(): Promise<void> {
    const queued = this.queue;
    this.queue = [];
    const groups: Queued[][] = [];
    let group: Queued[] = [];
    let keys = new Set<string>();
    let bytes = 0;
    for (const q of queued) {
      if (group.length === MAX_TRANSACT_ITEMS || keys.has(q.itemKey) || (group.length > 0 && bytes + q.bytes > MAX_TRANSACT_GROUP_BYTES)) {
        groups.push(group);
        group = [];
        keys = new Set();
        bytes = 0;
      }
      group.push(q);
      keys.add(q.itemKey);
      bytes += q.bytes;
    }
    if (group.length > 0) groups.push(group);
    await Promise.all(groups.map((g) => this.sendGroup(g)));
  }

  private async sendGroup(group: readonly Queued[]): Promise<void> {
    if (group.length === 1) return this.settle(group[0]);
    try {
      await this.doc.send(new TransactWriteCommand({ TransactItems: group.map((q) => q.action) }));
    } catch (e) {
      const reasons = cancellationReasons(e);
      if (!reasons) {
        // The transaction may or may not have been applied: every update fails, as a lone UpdateItem would. A retry
        // of the batch finds its own writes by their fences and revisions.
        for (const q of group) q.reject(e);
        return;
      }
      // Cancelled, so nothing of it was written. An update whose own condition failed has its conflict; the others
      // go again one by one, with their own outcomes (a conflict with another writer, throttling, a bad update).
      const again: Queued[] = [];
      group.forEach((q, i) => {
        if (reasons[i]?.Code === 'ConditionalCheckFailed') q.reject(new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} }));
        else again.push(q);
      });
      await Promise.all(again.map((q) => this.settle(q)));
      return;
    }
    for (const q of group) q.resolve();
  }

  private async settle(q: Queued): Promise<void> {
    try {
      await this.sendOne(q.action);
      q.resolve();
    } catch (e) {
      q.reject(e);
    }
  }
}

import { compileFieldGetter, type FieldGetter } from './fields';

/**
 * The partition key a co-partitioned spec implies for an event: the values of the spec's `partitionKey` fields, as
 * strings, joined by {@link PARTITION_KEY_SEPARATOR}. Producers derive the key with this function and the aggregator
 * checks delivered records against it, so that the two cannot drift apart.
 */
export const PARTITION_KEY_SEPARATOR = '|';

/** A compiled partition-key rule. */
export interface PartitionKeyRule {
  readonly fields: readonly string[];
  readonly getters: readonly FieldGetter[];
}

/** Compiles the spec's `partitionKey` fields; undefined when the spec declares none. */
export function compilePartitionKey(fields: readonly string[] | undefined): PartitionKeyRule | undefined {
  if (!fields || fields.length === 0) return undefined;
  return { fields, getters: fields.map(compileFieldGetter) };
}

/** The outcome of deriving a partition key: the key, or which field made it impossible. */
export type DerivedKey = { ok: true; key: string } | { ok: false; reason: string };

/** The partition key of an event under the rule. */
export function derivePartitionKey(rule: PartitionKeyRule, event: Record<string, unknown>): DerivedKey {
  const parts: string[] = [];
  for (let i = 0; i < rule.getters.length; i++) {
    const v = rule.getters[i](event);
    if (v === undefined || v === null || typeof v === 'object') {
      return { ok: false, reason: `partition-key field "${rule.fields[i]}" is missing or not a scalar` };
    }
    parts.push((v as string | number | boolean).toString());
  }
  return { ok: true, key: parts.join(PARTITION_KEY_SEPARATOR) };
}

/**
 * Why a record's Kinesis partition key contradicts the spec (undefined when it agrees). A contradicting record would
 * break co-partitioning: its window could be fed from two ordering scopes.
 */
export function partitionKeyMismatch(rule: PartitionKeyRule, event: Record<string, unknown>, partitionKey: string): string | undefined {
  const derived = derivePartitionKey(rule, event);
  if (!derived.ok) return derived.reason;
  if (derived.key === partitionKey) return undefined;
  return (
    `partition key ${JSON.stringify(partitionKey)} contradicts the spec's partitionKey [${rule.fields.join(', ')}], ` +
    `which gives ${JSON.stringify(derived.key)} for this event`
  );
}

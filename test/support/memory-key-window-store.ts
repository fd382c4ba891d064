import type { KeyWindowStore, PendingKeysPage, PendingQuery, WriteOutcome } from '../../lambda/app/ports';
import type { CompiledAggregation } from '../../lambda/domain/compiled-spec';
import { nextDue, type KeyWindowSet } from '../../lambda/domain/key-windows';
import type { MemoryWindowStore } from './memory-window-store';

/** A deep copy, as a round trip through a database would give. */
function copy(s: KeyWindowSet): KeyWindowSet {
  return {
    ...s,
    fences: { ...s.fences },
    windows: s.windows.map((w) => ({ ...w, lanes: [...w.lanes], supersedes: [...w.supersedes], state: w.state.map((v) => (typeof v === 'number' ? v : v.clone())) })),
  };
}

/**
 * An in-memory {@link KeyWindowStore} with DynamoDB's conditional semantics; it shares the window store's write count
 * and crash injection, so that a schedule's crash can fall between any two writes of either kind.
 */
export class MemoryKeyWindowStore implements KeyWindowStore {
  /** By aggregation and key JSON joined with NUL. */
  readonly sets = new Map<string, { aggregation: CompiledAggregation; keyJson: string; set: KeyWindowSet }>();

  constructor(private readonly shared: MemoryWindowStore) {}

  async getKeySets(aggregation: CompiledAggregation, keyJsons: readonly string[]): Promise<Map<string, KeyWindowSet>> {
    const out = new Map<string, KeyWindowSet>();
    for (const k of keyJsons) {
      const s = this.sets.get(`${aggregation.name}\u0000${k}`);
      if (s) out.set(k, copy(s.set));
    }
    return out;
  }

  async writeKeySet(aggregation: CompiledAggregation, keyJson: string, next: KeyWindowSet, expectedRev: number, nowMs: number): Promise<WriteOutcome> {
    if (this.shared.failAfterWrites !== undefined && this.shared.writes >= this.shared.failAfterWrites) throw new Error('injected crash');
    const id = `${aggregation.name}\u0000${keyJson}`;
    if ((this.sets.get(id)?.set.rev ?? 0) !== expectedRev) return 'conflict';
    this.shared.writes++;
    this.sets.set(id, { aggregation, keyJson, set: { ...copy(next), updatedAt: nowMs } });
    return 'written';
  }

  async findPendingKeys(aggregation: CompiledAggregation, q: PendingQuery): Promise<PendingKeysPage> {
    const keys = [...this.sets.values()]
      .filter((s) => s.aggregation.name === aggregation.name)
      .filter((s) => {
        const due = nextDue(s.set);
        return due !== undefined && due <= q.atOrBefore && (q.after === undefined || due > q.after);
      })
      .map((s) => s.keyJson)
      .sort();
    return { keys };
  }
}

import type { KeyWindowStore, PartialKey, PendingKeysPage, PendingPage, PendingQuery, RecordSink, ResultSink, WindowStore, WriteOutcome } from '../../lambda/app/ports';
import { nextDue, type KeyWindowSet } from '../../lambda/domain/key-windows';
import { emptyState } from '../../lambda/domain/aggregate-state';
import type { CompiledAggregation } from '../../lambda/domain/compiled-spec';
import type { LaneState } from '../../lambda/domain/lane';
import { partialId, refId, type WindowRef } from '../../lambda/domain/window-ref';
import type { StoredPartial, StoredWindow } from '../../lambda/domain/window-lifecycle';

/** Calls a {@link LeanWindowStore} received, by DynamoDB request they stand for in `DynamoWindowStore`. */
export interface StoreCalls {
  /** `writeWindow`: one conditional PutItem of a window item (its data, or its firing). */
  windowWrites: number;
  /** `writePartial` (a conditional PutItem) and `registerLane` (an UpdateItem): per-shard state. */
  partialWrites: number;
  /** `markEmitted`: one small UpdateItem clearing the pending flag. */
  markEmitted: number;
  /** `writeLane`: one conditional PutItem of the lane's item (watermark, applied mark, last batch time). */
  watermarkWrites: number;
  /** `getWindows` calls (BatchGetItem, 100 keys a call in DynamoDB) and keys asked for. */
  reads: number;
  keysRead: number;
  /** `findPending` calls (one Query each). */
  queries: number;
}

/**
 * An in-memory {@link WindowStore} with DynamoDB's conditional semantics, lean enough that it does not dominate a CPU
 * measurement: it keeps the objects the use case hands it instead of cloning them. That is safe because the use case
 * never mutates a {@link StoredWindow} it wrote or read (`nextWindowState` copies the state it merges into). The test
 * suite's `MemoryWindowStore` clones on every call, which is right for tests and wrong for a throughput figure.
 */
export class LeanWindowStore implements WindowStore {
  readonly windows = new Map<string, { ref: WindowRef; stored: StoredWindow }>();
  /** Pending windows per aggregation name, so `findPending` does not scan the whole table (a GSI does not either). */
  private readonly pending = new Map<string, Set<string>>();
  readonly lanes = new Map<string, LaneState>();
  readonly partials = new Map<string, { key: PartialKey; stored: StoredPartial }>();
  readonly calls: StoreCalls = { windowWrites: 0, partialWrites: 0, markEmitted: 0, watermarkWrites: 0, reads: 0, keysRead: 0, queries: 0 };

  async readLanes(): Promise<Map<string, LaneState>> {
    return new Map(this.lanes);
  }

  async writeLane(lane: string, next: LaneState, expectedRev: number): Promise<WriteOutcome> {
    if ((this.lanes.get(lane)?.rev ?? 0) !== expectedRev) return 'conflict';
    this.calls.watermarkWrites++;
    this.lanes.set(lane, next);
    return 'written';
  }

  async getWindows(refs: readonly WindowRef[]): Promise<Map<string, StoredWindow>> {
    this.calls.reads++;
    this.calls.keysRead += refs.length;
    const out = new Map<string, StoredWindow>();
    for (const r of refs) {
      const id = refId(r);
      const w = this.windows.get(id);
      if (w) out.set(id, w.stored);
    }
    return out;
  }

  async writeWindow(ref: WindowRef, next: StoredWindow, expectedRev: number | undefined, nowMs = 0): Promise<WriteOutcome> {
    const id = refId(ref);
    const cur = this.windows.get(id);
    if (expectedRev === undefined ? cur !== undefined : cur?.stored.rev !== expectedRev) return 'conflict';
    this.calls.windowWrites++;
    this.windows.set(id, { ref, stored: { ...next, updatedAt: nowMs } });
    this.setPending(ref.aggregation.name, id, next.pending);
    return 'written';
  }

  async findPending(aggregation: CompiledAggregation, q: PendingQuery): Promise<PendingPage> {
    this.calls.queries++;
    const out: WindowRef[] = [];
    for (const id of this.pending.get(aggregation.name) ?? []) {
      const w = this.windows.get(id) ?? { ref: this.partials.get(id)!.key.ref };
      if (w.ref.end <= q.atOrBefore && (q.after === undefined || w.ref.end > q.after)) out.push(w.ref);
    }
    // Unpaged: the bench figures ask for every window at once.
    return { refs: out };
  }

  async markEmitted(ref: WindowRef, version: number): Promise<void> {
    this.calls.markEmitted++;
    const id = refId(ref);
    const w = this.windows.get(id);
    if (w && w.stored.version === version && w.stored.pending) {
      w.stored = { ...w.stored, pending: false };
      this.setPending(ref.aggregation.name, id, false);
    }
  }

  async getPartials(keys: readonly PartialKey[]): Promise<Map<string, StoredPartial>> {
    this.calls.reads++;
    this.calls.keysRead += keys.length;
    const out = new Map<string, StoredPartial>();
    for (const { ref, lane } of keys) {
      const id = partialId(ref.aggregation.name, ref.keyJson, ref.start, lane);
      const p = this.partials.get(id);
      if (p) out.set(id, p.stored);
    }
    return out;
  }

  async writePartial(key: PartialKey, next: StoredPartial, expectedRev: number | undefined): Promise<WriteOutcome> {
    const id = partialId(key.ref.aggregation.name, key.ref.keyJson, key.ref.start, key.lane);
    const cur = this.partials.get(id);
    if (expectedRev === undefined ? cur !== undefined : cur?.stored.rev !== expectedRev) return 'conflict';
    this.calls.partialWrites++;
    this.partials.set(id, { key, stored: next });
    this.setPending(key.ref.aggregation.name, id, next.dirty);
    return 'written';
  }

  async registerLane(ref: WindowRef, lane: string, nowMs: number): Promise<{ version: number }> {
    this.calls.partialWrites++;
    const id = refId(ref);
    const cur = this.windows.get(id)?.stored;
    const lanes = cur?.lanes?.includes(lane) ? cur.lanes : [...(cur?.lanes ?? []), lane];
    const stored: StoredWindow = cur
      ? { ...cur, lanes, pending: true, rev: cur.rev + 1, updatedAt: nowMs }
      : { state: emptyState(ref.aggregation.layout), fences: {}, lanes, version: 0, pending: true, rev: 1, updatedAt: nowMs };
    this.windows.set(id, { ref, stored });
    this.setPending(ref.aggregation.name, id, true);
    return { version: stored.version };
  }

  private setPending(aggregation: string, id: string, pending: boolean): void {
    let set = this.pending.get(aggregation);
    if (!set) this.pending.set(aggregation, (set = new Set()));
    if (pending) set.add(id);
    else set.delete(id);
  }
}

/** A results sink that only counts, so that emission costs no more than building the results. */
export class CountingResultSink implements ResultSink {
  emitted = 0;
  calls = 0;
  async emit(results: readonly unknown[]): Promise<void> {
    this.calls++;
    this.emitted += results.length;
  }
}

/** A result sink that keeps every result it is given, for checks that are not timed. */
export class CapturingResultSink implements ResultSink {
  readonly results: unknown[] = [];
  async emit(results: readonly unknown[]): Promise<void> {
    this.results.push(...results);
  }
}

/** A record sink (errors, late data) that only counts entries. */
export class CountingRecordSink implements RecordSink {
  entries = 0;
  async write(_name: string, entries: readonly object[]): Promise<void> {
    this.entries += entries.length;
  }
}

/**
 * An in-memory {@link KeyWindowStore} (session and stagger windows), lean like {@link LeanWindowStore}: the use case
 * never mutates a set it wrote or read (`applyEvents` clones the states it changes).
 */
export class LeanKeyWindowStore implements KeyWindowStore {
  readonly sets = new Map<string, { aggregation: CompiledAggregation; keyJson: string; set: KeyWindowSet }>();
  writes = 0;

  async getKeySets(aggregation: CompiledAggregation, keyJsons: readonly string[]): Promise<Map<string, KeyWindowSet>> {
    const out = new Map<string, KeyWindowSet>();
    for (const k of keyJsons) {
      const s = this.sets.get(`${aggregation.name}\u0000${k}`);
      if (s) out.set(k, s.set);
    }
    return out;
  }

  async writeKeySet(aggregation: CompiledAggregation, keyJson: string, next: KeyWindowSet, expectedRev: number, nowMs: number): Promise<WriteOutcome> {
    const id = `${aggregation.name}\u0000${keyJson}`;
    if ((this.sets.get(id)?.set.rev ?? 0) !== expectedRev) return 'conflict';
    this.writes++;
    this.sets.set(id, { aggregation, keyJson, set: { ...next, updatedAt: nowMs } });
    return 'written';
  }

  async findPendingKeys(aggregation: CompiledAggregation, q: PendingQuery): Promise<PendingKeysPage> {
    const keys: string[] = [];
    for (const s of this.sets.values()) {
      const due = s.aggregation.name === aggregation.name ? nextDue(s.set) : undefined;
      if (due !== undefined && due <= q.atOrBefore && (q.after === undefined || due > q.after)) keys.push(s.keyJson);
    }
    return { keys };
  }
}

import type { PartialKey, PendingPage, PendingQuery, WindowStore, WriteOutcome } from '../../lambda/app/ports';
import { emptyState } from '../../lambda/domain/aggregate-state';
import type { CompiledAggregation } from '../../lambda/domain/compiled-spec';
import type { LaneState } from '../../lambda/domain/lane';
import { partialId, windowId, type WindowRef } from '../../lambda/domain/window-ref';
import type { StoredPartial, StoredWindow } from '../../lambda/domain/window-lifecycle';

/** A deep copy, as a round trip through a database would give (sketches are class instances structuredClone loses). */
function copy(w: StoredWindow): StoredWindow {
  return { ...w, fences: { ...w.fences }, lanes: w.lanes && [...w.lanes], state: w.state.map((v) => (typeof v === 'number' ? v : v.clone())) };
}

function copyPartial(p: StoredPartial): StoredPartial {
  return { ...p, state: p.state.map((v) => (typeof v === 'number' ? v : v.clone())) };
}

/** An in-memory {@link WindowStore} with the same conditional semantics as DynamoDB, and fault injection. */
export class MemoryWindowStore implements WindowStore {
  readonly windows = new Map<string, { ref: WindowRef; stored: StoredWindow }>();
  readonly lanes = new Map<string, LaneState>();
  /** Per-shard partials, by `partialId`. */
  readonly partials = new Map<string, { key: PartialKey; stored: StoredPartial }>();
  writes = 0;
  laneWrites = 0;
  /** When set, the write that would make `writes` exceed it throws (a crash midway through a batch). */
  failAfterWrites: number | undefined;

  /** Every lane's watermark, as the lane items hold them. */
  get watermarks(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [lane, s] of this.lanes) if (s.watermark !== undefined) out.set(lane, s.watermark);
    return out;
  }

  async readLanes() {
    return new Map([...this.lanes].map(([k, v]) => [k, structuredClone(v)]));
  }

  async writeLane(lane: string, next: LaneState, expectedRev: number): Promise<WriteOutcome> {
    if ((this.lanes.get(lane)?.rev ?? 0) !== expectedRev) return 'conflict';
    this.laneWrites++;
    this.lanes.set(lane, structuredClone(next));
    return 'written';
  }

  async getWindows(refs: readonly WindowRef[]) {
    const out = new Map<string, StoredWindow>();
    for (const r of refs) {
      const id = windowId(r.aggregation.name, r.keyJson, r.start);
      const w = this.windows.get(id);
      if (w) out.set(id, copy(w.stored));
    }
    return out;
  }

  async writeWindow(ref: WindowRef, next: StoredWindow, expectedRev: number | undefined, nowMs: number): Promise<WriteOutcome> {
    if (this.failAfterWrites !== undefined && this.writes >= this.failAfterWrites) throw new Error('injected crash');
    const id = windowId(ref.aggregation.name, ref.keyJson, ref.start);
    const cur = this.windows.get(id);
    if (expectedRev === undefined ? cur !== undefined : cur?.stored.rev !== expectedRev) return 'conflict';
    this.writes++;
    this.windows.set(id, { ref, stored: { ...copy(next), updatedAt: nowMs } });
    return 'written';
  }

  async findPending(aggregation: CompiledAggregation, q: PendingQuery): Promise<PendingPage> {
    // Dirty partials are in the index too, and stand for their window.
    const dirty = [...this.partials.entries()].filter(([, p]) => p.stored.dirty).map(([id, p]) => [id, { ref: p.key.ref, stored: { pending: true } }] as const);
    const all = [...this.windows.entries(), ...dirty]
      .filter(([, w]) => w.ref.aggregation.name === aggregation.name && w.stored.pending && w.ref.end <= q.atOrBefore)
      .filter(([id, w]) => (q.after === undefined || w.ref.end > q.after) && (q.cursor === undefined || id > q.cursor))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const page = q.limit === undefined ? all : all.slice(0, q.limit);
    return { refs: page.map(([, w]) => w.ref), cursor: page.length < all.length ? page[page.length - 1][0] : undefined };
  }

  async markEmitted(ref: WindowRef, version: number) {
    const w = this.windows.get(windowId(ref.aggregation.name, ref.keyJson, ref.start));
    if (w && w.stored.version === version && w.stored.pending) w.stored = { ...w.stored, pending: false };
  }

  async getPartials(keys: readonly PartialKey[]) {
    const out = new Map<string, StoredPartial>();
    for (const { ref, lane } of keys) {
      const id = partialId(ref.aggregation.name, ref.keyJson, ref.start, lane);
      const p = this.partials.get(id);
      if (p) out.set(id, copyPartial(p.stored));
    }
    return out;
  }

  async writePartial(key: PartialKey, next: StoredPartial, expectedRev: number | undefined): Promise<WriteOutcome> {
    if (this.failAfterWrites !== undefined && this.writes >= this.failAfterWrites) throw new Error('injected crash');
    const id = partialId(key.ref.aggregation.name, key.ref.keyJson, key.ref.start, key.lane);
    const cur = this.partials.get(id);
    if (expectedRev === undefined ? cur !== undefined : cur?.stored.rev !== expectedRev) return 'conflict';
    this.writes++;
    this.partials.set(id, { key, stored: copyPartial(next) });
    return 'written';
  }

  async registerLane(ref: WindowRef, lane: string, nowMs: number): Promise<{ version: number }> {
    if (this.failAfterWrites !== undefined && this.writes >= this.failAfterWrites) throw new Error('injected crash');
    this.writes++;
    const id = windowId(ref.aggregation.name, ref.keyJson, ref.start);
    const cur = this.windows.get(id)?.stored;
    const lanes = [...new Set([...(cur?.lanes ?? []), lane])].sort();
    const stored: StoredWindow = cur
      ? { ...copy(cur), lanes, pending: true, rev: cur.rev + 1, updatedAt: nowMs }
      : { state: emptyState(ref.aggregation.layout), fences: {}, lanes, version: 0, pending: true, rev: 1, updatedAt: nowMs };
    this.windows.set(id, { ref, stored });
    return { version: stored.version };
  }
}

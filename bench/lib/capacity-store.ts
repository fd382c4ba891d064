import { compactLane, LANE_BUCKETS, LANES_PK, lanePk, laneSlotBuckets, PENDING_BUCKETS, pendingBucket, pendingKey } from '../../lambda/contract/window-table-layout';
import { partialPk } from '../../lambda/adapters/window-items';
import { watermarkKey, windowPendingKey, windowSk } from '../../lambda/adapters/dynamodb-window-store';
import { windowItemKey } from '../../lambda/adapters/window-items';
import type { PartialKey, PendingPage, PendingQuery, WindowStore, WriteOutcome } from '../../lambda/app/ports';
import { emptyState, toStoredMeasures } from '../../lambda/domain/aggregate-state';
import type { CompiledAggregation } from '../../lambda/domain/compiled-spec';
import { itemBytes } from '../../lambda/domain/item-budget';
import { Meter, READ_UNIT_BYTES, WRITE_UNIT_BYTES, type SideFigures } from './capacity-meter';

export { PARTITION_RCU_PER_SECOND, PARTITION_WCU_PER_SECOND, READ_UNIT_BYTES, TABLE_DEFAULT_QUOTA_PER_SECOND, WRITE_UNIT_BYTES, type SideFigures } from './capacity-meter';
import type { LaneState } from '../../lambda/domain/lane';
import { partialId, windowId, type WindowRef } from '../../lambda/domain/window-ref';
import type { StoredPartial, StoredWindow } from '../../lambda/domain/window-lifecycle';

/** Bytes DynamoDB adds to every index item for its own bookkeeping. */
const INDEX_ITEM_OVERHEAD_BYTES = 100;

interface WindowItem {
  ref: WindowRef;
  stored: StoredWindow;
  bytes: number;
  /** The item's `pending` index key while it has one. */
  indexKey?: string;
}

interface PartialItem {
  key: PartialKey;
  stored: StoredPartial;
  bytes: number;
  indexKey?: string;
}

/** Counts of the store's requests. */
export interface CapacityCalls {
  windowWrites: number;
  /** Per-shard state: partial writes and root registrations. */
  partialWrites: number;
  registrations: number;
  conflicts: number;
  markEmitted: number;
  laneWrites: number;
  itemsRead: number;
  indexItemsRead: number;
  queries: number;
}

/**
 * A partition-aware in-memory {@link WindowStore} with DynamoDB's semantics and billing: conditional writes (a failed
 * one still costs its units), the sparse KEYS_ONLY `pending` index with write-sharded keys (an index write only when
 * the index key appears or goes; an update that keeps it costs the index nothing), Query by key and range, BatchGet,
 * item sizes rounded to 1 KB per write unit and 4 KB per read unit (half for an eventually consistent read). It uses the
 * real store's key functions (`windowPk`, `watermarkKey`, `pendingKey`), so that the partition keys it counts are the
 * layout's. Items are sized as `DynamoWindowStore` writes them.
 */
export class CapacityWindowStore implements WindowStore {
  private readonly windows = new Map<string, WindowItem>();
  private readonly partials = new Map<string, PartialItem>();
  /** Windows each lane has fed, by window end: what a batch of the lane makes due when its watermark passes an end. */
  private readonly fed = new Map<string, Map<number, number>>();
  /** The index: key → window end (its sort key) → window ids. */
  private readonly index = new Map<string, Map<number, Set<string>>>();
  private readonly lanes = new Map<string, { state: LaneState; bytes: number }>();
  readonly table = new Meter();
  readonly gsi = new Meter();
  readonly calls: CapacityCalls = { windowWrites: 0, partialWrites: 0, registrations: 0, conflicts: 0, markEmitted: 0, laneWrites: 0, itemsRead: 0, indexItemsRead: 0, queries: 0 };
  /** Round trips to DynamoDB, for the latency model of a closing pass. */
  roundTrips = 0;

  /** Sets the simulated clock (epoch ms) that units are counted against. */
  setNow(ms: number): void {
    const s = Math.floor(ms / 1000);
    this.table.at(s);
    this.gsi.at(s);
  }

  /** Ends the run: counts the last second. */
  finish(): { table: SideFigures; gsi: SideFigures } {
    this.table.flush();
    this.gsi.flush();
    return { table: this.table.figures, gsi: this.gsi.figures };
  }

  /** Windows currently pending, for the reads-per-batch comparison. */
  get pendingWindows(): number {
    let n = 0;
    for (const byEnd of this.index.values()) for (const ids of byEnd.values()) n += ids.size;
    return n;
  }

  async readLanes(): Promise<Map<string, LaneState>> {
    const out = new Map<string, LaneState>();
    const bytesPer = new Map<string, number>();
    for (const [lane, l] of this.lanes) {
      out.set(lane, l.state);
      const pk = lanePk(lane);
      bytesPer.set(pk, (bytesPer.get(pk) ?? 0) + l.bytes);
    }
    // One consistent Query per lane partition; a Query costs at least one unit.
    this.roundTrips++;
    for (let b = 0; b < LANE_BUCKETS; b++) {
      const pk = `${LANES_PK}#${b}`;
      this.table.read(pk, Math.max(1, Math.ceil((bytesPer.get(pk) ?? 0) / READ_UNIT_BYTES)));
    }
    return out;
  }

  async writeLane(lane: string, next: LaneState, expectedRev: number): Promise<WriteOutcome> {
    const cur = this.lanes.get(lane);
    const key = watermarkKey(lane);
    const bytes = itemBytes({ ...key, wm: next.watermark, lb: next.lastBatchAt, ap: next.applied, rev: next.rev, updatedAt: next.lastBatchAt, inf: next.inFlight, rp: next.repaired, lost: next.lost });
    this.roundTrips++;
    this.table.write(key.pk, Math.ceil(Math.max(bytes, cur?.bytes ?? 0) / WRITE_UNIT_BYTES));
    if ((cur?.state.rev ?? 0) !== expectedRev) return 'conflict';
    this.calls.laneWrites++;
    this.lanes.set(lane, { state: next, bytes });
    return 'written';
  }

  async getWindows(refs: readonly WindowRef[], consistent: boolean): Promise<Map<string, StoredWindow>> {
    const out = new Map<string, StoredWindow>();
    this.roundTrips += Math.ceil(refs.length / 100);
    for (const r of refs) {
      const id = windowId(r.aggregation.name, r.keyJson, r.start);
      const w = this.windows.get(id);
      this.calls.itemsRead++;
      const units = Math.ceil(Math.max(1, w?.bytes ?? 0) / READ_UNIT_BYTES) * (consistent ? 1 : 0.5);
      this.table.read(windowItemKey(r).pk, units);
      if (w) out.set(id, w.stored);
    }
    return out;
  }

  async writeWindow(ref: WindowRef, next: StoredWindow, expectedRev: number | undefined, nowMs: number, fileUnder?: string): Promise<WriteOutcome> {
    const id = windowId(ref.aggregation.name, ref.keyJson, ref.start);
    const cur = this.windows.get(id);
    const pk = windowItemKey(ref).pk;
    // As `if_not_exists`: a window keeps the index key it has.
    const indexKey = !next.pending ? undefined : fileUnder !== undefined ? windowPendingKey(ref, { [fileUnder]: '' }) : (cur?.indexKey ?? windowPendingKey(ref, next.fences, next.lanes));
    const bytes = this.windowBytes(ref, next, nowMs, indexKey);
    this.roundTrips++;
    // An update is billed on the larger of the item before and after, and a failed condition is billed too.
    this.table.write(pk, Math.ceil(Math.max(bytes, cur?.bytes ?? 0) / WRITE_UNIT_BYTES));
    if (expectedRev === undefined ? cur !== undefined : cur?.stored.rev !== expectedRev) {
      this.calls.conflicts++;
      return 'conflict';
    }
    this.calls.windowWrites++;
    for (const lane in next.fences) if (!cur || !(lane in cur.stored.fences)) this.feeds(lane, ref.end);
    this.setIndexKey(id, pk, ref, cur?.indexKey, indexKey);
    this.windows.set(id, { ref, stored: { ...next, updatedAt: nowMs }, bytes, indexKey });
    return 'written';
  }

  async findPending(aggregation: CompiledAggregation, q: PendingQuery): Promise<PendingPage> {
    const buckets = q.lane === undefined ? Array.from({ length: PENDING_BUCKETS }, (_, i) => i) : laneSlotBuckets(q.lane);
    const BUCKETS = buckets.length;
    const first = (q.rotation ?? 0) % BUCKETS;
    const cursor = q.cursor === undefined ? { b: 0, skip: 0 } : (JSON.parse(q.cursor) as { b: number; skip: number });
    const refs: WindowRef[] = [];
    let b = cursor.b;
    let skip = cursor.skip;
    while (b < BUCKETS && (q.limit === undefined || refs.length < q.limit)) {
      const key = `${aggregation.name}#${buckets[(first + b) % BUCKETS]}`;
      const matching: WindowItem[] = [];
      const byEnd = this.index.get(key);
      const ends = [...(byEnd?.keys() ?? [])].filter((e) => e <= q.atOrBefore && (q.after === undefined || e > q.after)).sort((x, y) => x - y);
      for (const e of ends) for (const id of byEnd!.get(e)!) matching.push(this.windows.get(id) ?? { ref: this.partials.get(id)!.key.ref, stored: undefined as never, bytes: 0 });
      const take = q.limit === undefined ? matching.length - skip : Math.min(matching.length - skip, q.limit - refs.length);
      const page = matching.slice(skip, skip + take);
      let bytes = 0;
      for (const w of page) {
        refs.push(w.ref);
        bytes += w.ref.aggregation.name.length + 60 + INDEX_ITEM_OVERHEAD_BYTES;
      }
      this.calls.queries++;
      this.calls.indexItemsRead += page.length;
      this.roundTrips++;
      // Index reads are eventually consistent: half a unit per 4 KB, at least half a unit per Query.
      this.gsi.read(key, Math.max(0.5, Math.ceil(bytes / READ_UNIT_BYTES) * 0.5));
      if (skip + take < matching.length) skip += take;
      else {
        b++;
        skip = 0;
      }
    }
    return { refs, cursor: q.limit !== undefined && b < BUCKETS ? JSON.stringify({ b, skip }) : undefined };
  }

  async markEmitted(ref: WindowRef, version: number): Promise<void> {
    const id = windowId(ref.aggregation.name, ref.keyJson, ref.start);
    const w = this.windows.get(id);
    const pk = windowItemKey(ref).pk;
    this.roundTrips++;
    this.table.write(pk, Math.ceil((w?.bytes ?? 1) / WRITE_UNIT_BYTES));
    this.calls.markEmitted++;
    if (w && w.stored.version === version && w.stored.pending) {
      this.setIndexKey(id, pk, ref, w.indexKey, undefined);
      w.stored = { ...w.stored, pending: false };
      w.indexKey = undefined;
    }
  }

  async getPartials(keys: readonly PartialKey[], consistent: boolean): Promise<Map<string, StoredPartial>> {
    const out = new Map<string, StoredPartial>();
    this.roundTrips += Math.ceil(keys.length / 100);
    for (const { ref, lane } of keys) {
      const id = partialId(ref.aggregation.name, ref.keyJson, ref.start, lane);
      const p = this.partials.get(id);
      this.calls.itemsRead++;
      this.table.read(partialPk(ref.aggregation.name, ref.keyJson, lane), Math.ceil(Math.max(1, p?.bytes ?? 0) / READ_UNIT_BYTES) * (consistent ? 1 : 0.5));
      if (p) out.set(id, p.stored);
    }
    return out;
  }

  async writePartial(key: PartialKey, next: StoredPartial, expectedRev: number | undefined, nowMs: number): Promise<WriteOutcome> {
    const { ref, lane } = key;
    const id = partialId(ref.aggregation.name, ref.keyJson, ref.start, lane);
    const cur = this.partials.get(id);
    const pk = partialPk(ref.aggregation.name, ref.keyJson, lane);
    const indexKey = next.dirty ? pendingKey(ref.aggregation.name, pendingBucket(lane, ref.keyJson)) : undefined;
    const bytes = itemBytes({
      pk,
      sk: windowSk(ref.start),
      m: toStoredMeasures(ref.aggregation.layout, next.state),
      pf: next.fence,
      rev: next.rev,
      sl: next.sealed || undefined,
      d: next.dirty || undefined,
      fireAt: ref.end,
      expiresAt: 0,
      updatedAt: nowMs,
      pendingAgg: indexKey,
    });
    this.roundTrips++;
    this.table.write(pk, Math.ceil(Math.max(bytes, cur?.bytes ?? 0) / WRITE_UNIT_BYTES));
    if (expectedRev === undefined ? cur !== undefined : cur?.stored.rev !== expectedRev) {
      this.calls.conflicts++;
      return 'conflict';
    }
    this.calls.partialWrites++;
    this.setIndexKey(id, pk, ref, cur?.indexKey, indexKey);
    this.partials.set(id, { key, stored: next, bytes, indexKey });
    return 'written';
  }

  async registerLane(ref: WindowRef, lane: string, nowMs: number): Promise<{ version: number }> {
    const id = windowId(ref.aggregation.name, ref.keyJson, ref.start);
    const cur = this.windows.get(id);
    const pk = windowItemKey(ref).pk;
    const lanes = cur?.stored.lanes?.includes(lane) ? cur.stored.lanes : [...(cur?.stored.lanes ?? []), lane];
    const stored: StoredWindow = cur
      ? { ...cur.stored, lanes, pending: true, rev: cur.stored.rev + 1, updatedAt: nowMs }
      : { state: emptyState(ref.aggregation.layout), fences: {}, lanes, version: 0, pending: true, rev: 1, updatedAt: nowMs };
    // As `if_not_exists`: a root keeps the index key it has.
    const indexKey = cur?.indexKey ?? windowPendingKey(ref, {}, [lane]);
    const bytes = this.windowBytes(ref, stored, nowMs, indexKey);
    this.roundTrips++;
    this.table.write(pk, Math.ceil(Math.max(bytes, cur?.bytes ?? 0) / WRITE_UNIT_BYTES));
    this.calls.registrations++;
    if (!cur?.stored.lanes?.includes(lane)) this.feeds(lane, ref.end);
    this.setIndexKey(id, pk, ref, cur?.indexKey, indexKey);
    this.windows.set(id, { ref, stored, bytes, indexKey });
    return { version: stored.version };
  }

  /** How many windows `lane` has fed whose end is in `(after, atOrBefore]`: the windows its batch makes due. */
  fedEnding(lane: string, after: number | undefined, atOrBefore: number): number {
    let n = 0;
    for (const [end, count] of this.fed.get(lane) ?? []) if (end <= atOrBefore && (after === undefined || end > after)) n += count;
    return n;
  }

  private feeds(lane: string, end: number): void {
    let byEnd = this.fed.get(lane);
    if (!byEnd) this.fed.set(lane, (byEnd = new Map<number, number>()));
    byEnd.set(end, (byEnd.get(end) ?? 0) + 1);
  }

  /** A window (or per-shard root) item's size, as `DynamoWindowStore` writes it. */
  private windowBytes(ref: WindowRef, next: StoredWindow, nowMs: number, indexKey: string | undefined): number {
    return itemBytes({
      pk: windowItemKey(ref).pk,
      sk: windowSk(ref.start),
      m: toStoredMeasures(ref.aggregation.layout, next.state),
      f: next.lanes ? undefined : next.fences,
      ln: next.lanes?.map(compactLane),
      v: next.version,
      rev: next.rev,
      agg: ref.aggregation.name,
      key: ref.keyJson,
      ws: windowSk(ref.start),
      we: windowSk(ref.end),
      fireAt: ref.end,
      expiresAt: 0,
      updatedAt: nowMs,
      pendingAgg: indexKey,
    });
  }

  private setIndexKey(id: string, _pk: string, ref: WindowRef, before: string | undefined, after: string | undefined): void {
    if (before === after) return;
    const indexItemUnits = Math.ceil((ref.aggregation.name.length + 60 + INDEX_ITEM_OVERHEAD_BYTES) / WRITE_UNIT_BYTES);
    if (before !== undefined) {
      this.index.get(before)?.get(ref.end)?.delete(id);
      this.gsi.write(before, indexItemUnits);
    }
    if (after !== undefined) {
      let byEnd = this.index.get(after);
      if (!byEnd) this.index.set(after, (byEnd = new Map<number, Set<string>>()));
      let set = byEnd.get(ref.end);
      if (!set) byEnd.set(ref.end, (set = new Set()));
      set.add(id);
      this.gsi.write(after, indexItemUnits);
    }
  }
}

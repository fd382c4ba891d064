/** A batch's events grouped by (per-key aggregation, key), for session and stagger windows (see key-windows.ts). */
import type { CompiledAggregation, CompiledSpec } from './compiled-spec';
import type { Position } from './sequence';
import { keyJsonOf, keyMapKeyOf } from './window-ref';

/** One event of a key, in batch order. */
export interface KeyMember {
  /** Index among the batch's valid events. */
  readonly idx: number;
  readonly ts: number;
  readonly position: Position;
  readonly event: Record<string, unknown>;
}

/** A batch's events of one key of one per-key aggregation. */
export interface KeySlice {
  readonly aggregation: CompiledAggregation;
  readonly keyJson: string;
  readonly members: KeyMember[];
}

/**
 * Groups a batch's events by key for the per-key aggregations. Per-key windows cannot be pre-aggregated per window
 * before the stored windows are read (an event may open, extend or merge sessions), so the events themselves are
 * kept, for these aggregations only.
 */
export class KeyCollector {
  /** By aggregation name and key JSON, in the order first touched. */
  readonly slices = new Map<string, KeySlice>();

  /** Per keyed aggregation, its slices by {@link keyMapKeyOf}, so that no key JSON or id is built per event. */
  private readonly byKey: Map<unknown, KeySlice>[];

  constructor(private readonly spec: CompiledSpec) {
    this.byKey = spec.keyed.map(() => new Map<unknown, KeySlice>());
  }

  /** Adds the valid event at batch index `idx` (indexes in increasing order). */
  add(idx: number, event: Record<string, unknown>, ts: number, position: Position): void {
    const keyed = this.spec.keyed;
    for (let a = 0; a < keyed.length; a++) {
      const agg = keyed[a];
      const mapKey = keyMapKeyOf(agg, event);
      let slice = this.byKey[a].get(mapKey);
      if (!slice) {
        const keyJson = keyJsonOf(agg, event);
        slice = { aggregation: agg, keyJson, members: [] };
        this.slices.set(`${agg.name}\u0000${keyJson}`, slice);
        this.byKey[a].set(mapKey, slice);
      }
      slice.members.push({ idx, ts, position, event });
    }
  }
}

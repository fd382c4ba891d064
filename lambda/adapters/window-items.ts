/**
 * How window and lane items of the window table read and write: their keys, the `pending` index key and page cursor,
 * and the item <-> state codecs. Pure functions over the table layout, shared by the store and the tools that scan the
 * table.
 */
import { fromStoredMeasures } from '../domain/aggregate-state';
import type { CompiledAggregation, CompiledSpec } from '../domain/compiled-spec';
import { toIsoUtc } from '../domain/event-time';
import type { LaneRange, LaneState } from '../domain/lane';
import type { StoredWindow } from '../domain/window-lifecycle';
import type { WindowRef } from '../domain/window-ref';
import { ATTR, compactLane, expandLane, lanePk, pendingBucket, pendingKey } from '../contract/window-table-layout';
import type { StoredPartial } from '../domain/window-lifecycle';

/** The partition key of a window's items: aggregation and canonical key. */
export function windowPk(aggregation: string, keyJson: string): string {
  return `w#${aggregation}#${keyJson}`;
}

/**
 * The key of a window's item. A per-shard root has a partition of its own per window (the window's start appended):
 * every lane registers on it at the window's start, and the roots of one key's overlapping hopping windows would
 * otherwise add up on one partition.
 */
export function windowItemKey(ref: WindowRef): { pk: string; sk: string } {
  const sk = windowSk(ref.start);
  const pk = windowPk(ref.aggregation.name, ref.keyJson);
  return { pk: ref.aggregation.perShard ? `${pk}#${sk}` : pk, sk };
}

/** The key JSON of a window item's partition key (see {@link windowItemKey}); undefined if not a window's of `agg`. */
export function keyJsonOfWindowPk(agg: CompiledAggregation, pk: string): string | undefined {
  const prefix = windowPk(agg.name, '');
  if (!pk.startsWith(prefix)) return undefined;
  const rest = pk.slice(prefix.length);
  // A key JSON is an array, so it ends at the last `]`; a per-shard root's start follows it.
  return agg.perShard ? rest.slice(0, rest.lastIndexOf(']') + 1) : rest;
}

/**
 * The partition key of a lane's partials of a key's windows (per-shard state): its own partition per lane, so that
 * the lanes feeding one window never write the same key.
 */
export function partialPk(aggregation: string, keyJson: string, lane: string): string {
  return `${partialPkPrefix(aggregation)}${compactLane(lane)}#${keyJson}`;
}

/** What every partial partition key of an aggregation starts with (see {@link partialPk}). */
function partialPkPrefix(aggregation: string): string {
  return `p#${aggregation}#`;
}

/** The sort key of a window: its start, ISO-8601 UTC, which sorts in time order. */
export function windowSk(start: number): string {
  return toIsoUtc(start);
}

/** The item key of a lane's watermark, among `laneBuckets` partitions (`LANE_BUCKETS` by default). */
export function watermarkKey(lane: string, laneBuckets?: number): { pk: string; sk: string } {
  return { pk: lanePk(lane, laneBuckets), sk: lane };
}

/**
 * The `pending` index key a window is filed under when it becomes pending: the slot of the lane that created it (the
 * only fence of a new window; the first in order otherwise, where the item's existing key is kept anyway).
 */
export function windowPendingKey(ref: WindowRef, fences: Readonly<Record<string, string>>, rootLanes?: readonly string[], spread?: number): string {
  const lanes = rootLanes && rootLanes.length > 0 ? [...rootLanes] : Object.keys(fences).sort();
  return pendingKey(ref.aggregation.name, pendingBucket(lanes[0] ?? '', ref.keyJson, spread));
}

/** A `findPending` page cursor: how many buckets of the pass it finished and, within it, DynamoDB's LastEvaluatedKey. */
export function encodePendingCursor(bucket: number, startKey: Record<string, unknown> | undefined): string {
  return JSON.stringify({ b: bucket, k: startKey });
}

export function decodePendingCursor(cursor: string | undefined): { bucket: number; startKey: Record<string, unknown> | undefined } {
  if (cursor === undefined) return { bucket: 0, startKey: undefined };
  const parsed = JSON.parse(cursor) as { b?: unknown; k?: Record<string, unknown> };
  if (typeof parsed.b !== 'number' || !Number.isInteger(parsed.b) || parsed.b < 0) throw new Error(`invalid pending-window cursor: ${cursor}`);
  return { bucket: parsed.b, startKey: parsed.k };
}

/** A per-shard root's lanes as stored (a string set of compact names), sorted. */
export function rootLanesOf(item: Record<string, unknown>): string[] | undefined {
  const v = item[ATTR.lanes];
  if (v === undefined) return undefined;
  const names = v instanceof Set ? [...(v as Set<string>)] : Array.isArray(v) ? (v as string[]) : [];
  return names.map(expandLane).sort();
}

/** The stored state of a partial item. */
export function storedPartialOf(ref: WindowRef, item: Record<string, unknown>): StoredPartial {
  return {
    state: fromStoredMeasures(ref.aggregation.layout, item[ATTR.measures] as Record<string, unknown> | undefined),
    fence: item[ATTR.partialFence] === undefined ? undefined : String(item[ATTR.partialFence]),
    rev: Number(item[ATTR.rev] ?? 0),
    sealed: item[ATTR.sealed] === true,
    dirty: item[ATTR.dirty] === true,
  };
}

/** The stored state of a window item. */
export function storedWindowOf(ref: WindowRef, item: Record<string, unknown>): StoredWindow {
  const lanes = rootLanesOf(item);
  return {
    ...(lanes ? { lanes } : {}),
    state: fromStoredMeasures(ref.aggregation.layout, item[ATTR.measures] as Record<string, unknown> | undefined),
    fences: (item[ATTR.fences] as Record<string, string> | undefined) ?? {},
    version: Number(item[ATTR.version] ?? 0),
    pending: item[ATTR.pending] !== undefined,
    rev: Number(item[ATTR.rev] ?? 0),
    updatedAt: item[ATTR.updatedAt] === undefined ? undefined : Number(item[ATTR.updatedAt]),
    filedAs: typeof item[ATTR.pending] === 'string' ? (item[ATTR.pending] as string) : null,
  };
}

export function rangeItem(r: LaneRange): { f: string; b: string } {
  return { f: r.from, b: r.before };
}

export function rangesOf(v: unknown): LaneRange[] {
  return Array.isArray(v) ? v.map((r: { f: string; b: string }) => ({ from: String(r.f), before: String(r.b) })) : [];
}

/** The state of a lane item. */
export function laneStateOf(item: Record<string, unknown>): LaneState {
  const inFlight = item[ATTR.inFlight] as { s?: string; p?: string } | undefined;
  return {
    watermark: item[ATTR.watermark] === undefined ? undefined : Number(item[ATTR.watermark]),
    lastBatchAt: item[ATTR.lastBatchAt] === undefined ? undefined : Number(item[ATTR.lastBatchAt]),
    applied: item[ATTR.applied] === undefined ? undefined : String(item[ATTR.applied]),
    inFlight: inFlight?.s && inFlight.p ? { sequenceNumber: inFlight.s, position: inFlight.p } : undefined,
    repaired: rangesOf(item[ATTR.repaired]),
    lost: rangesOf(item[ATTR.lost]),
    rev: Number(item[ATTR.rev] ?? 0),
  };
}

/**
 * Reads a window item back into its reference and state; undefined for items that are not windows of an aggregation
 * of this spec (lane watermarks, or aggregations since removed from the spec).
 */
export function parseWindowItem(
  spec: CompiledSpec,
  item: Record<string, unknown>,
): { ref: WindowRef; stored: StoredWindow } | undefined {
  const pkAttr = item[ATTR.pk];
  const aggAttr = item[ATTR.aggregation];
  const pk = typeof pkAttr === 'string' ? pkAttr : '';
  const agg = spec.byName.get(typeof aggAttr === 'string' ? aggAttr : '');
  const keyJson = agg && keyJsonOfWindowPk(agg, pk);
  const start = Date.parse(String(item[ATTR.sk]));
  if (!agg || keyJson === undefined || Number.isNaN(start)) return undefined;
  const ref: WindowRef = { aggregation: agg, keyJson, start, end: start + agg.assigner.sizeMs };
  return { ref, stored: storedWindowOf(ref, item) };
}

/**
 * Reads a per-shard partial item back into its window, lane and state; undefined for items that are not partials of a
 * per-shard aggregation of this spec.
 */
export function parsePartialItem(
  spec: CompiledSpec,
  item: Record<string, unknown>,
): { ref: WindowRef; lane: string; stored: StoredPartial } | undefined {
  const pkAttr = item[ATTR.pk];
  const aggAttr = item[ATTR.aggregation];
  const agg = spec.byName.get(typeof aggAttr === 'string' ? aggAttr : '');
  const prefix = agg?.perShard ? partialPkPrefix(agg.name) : undefined;
  if (!agg || prefix === undefined || typeof pkAttr !== 'string' || !pkAttr.startsWith(prefix)) return undefined;
  // A compact lane name never holds `#` (see compactLane), so the key JSON starts after the first one.
  const rest = pkAttr.slice(prefix.length);
  const cut = rest.indexOf('#');
  const start = Date.parse(String(item[ATTR.sk]));
  if (cut < 0 || Number.isNaN(start)) return undefined;
  const ref: WindowRef = { aggregation: agg, keyJson: rest.slice(cut + 1), start, end: start + agg.assigner.sizeMs };
  return { ref, lane: expandLane(rest.slice(0, cut)), stored: storedPartialOf(ref, item) };
}

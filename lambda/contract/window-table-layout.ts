/**
 * The window-state table's layout, shared by the store that reads and writes it and the construct that creates it.
 * It imports nothing, so that the CDK app can use it without loading the SDK.
 */

/**
 * The sparse index of pending windows (open, or fired and not yet emitted). Its partition key is write-sharded,
 * `<aggregation>#<bucket>` (see {@link pendingKey}), its sort key the window's end (`fireAt`).
 */
export const PENDING_INDEX = 'pending';

/**
 * Slots of the `pending` index per aggregation, one per group of lanes: a window's index key names the slot of the
 * lane that created it, so that a batch whose watermark passes a window end queries only its own slot's buckets and
 * reads the windows its lane fed, not every lane's. (A window several lanes feed and its creator could not fire is
 * fired by whichever later batch touches it, or by the closer's sweep.)
 */
export const PENDING_LANE_SLOTS = 128;

/**
 * Buckets per slot, from a hash of the window's key: they spread one lane's window creations and emissions (thousands
 * at a window boundary) over partitions, each ≤ 1,000 writes/s; the P8 capacity simulation sizes them. The default of
 * every AWS stage; a deployment may set fewer (`pendingKeySpread`, passed to the functions as PENDING_KEY_SPREAD): the
 * local stage sets 1, since the emulator has no partitions and serves every Query in one process, where 32 buckets
 * made a batch's due-window lookup 64 Queries and the idle closer's sweep 8,192.
 */
export const PENDING_KEY_SPREAD = 32;

/**
 * Buckets of the `pending` index per aggregation: {@link PENDING_LANE_SLOTS} × the key spread. One value per
 * aggregation put every window creation and emission of the aggregation in one index partition (and a throttled
 * index throttles the table's writes). Changing these (the spread included) strands pending windows in the old
 * buckets: they are part of the table layout, fixed when a deployment is created.
 */
export function pendingBucketCount(spread: number = PENDING_KEY_SPREAD): number {
  return PENDING_LANE_SLOTS * spread;
}

/** {@link pendingBucketCount} with the default spread. */
export const PENDING_BUCKETS = pendingBucketCount();

/**
 * Prefix of the lane-watermark items' partition keys: `lanes#<bucket>`, {@link LANE_BUCKETS} of them, so that neither
 * the lanes' writes (one or two per batch per shard) nor their reads (every batch reads every lane) load one
 * partition; reading every lane is one Query per bucket. The bucket count is part of the table layout, fixed for a
 * deployment and the same for both functions (the local stage uses 1: the emulator has no partitions to spread over,
 * and serves the Queries one after another).
 */
export const LANES_PK = 'lanes';

/** Partitions the lane items are spread over (see {@link LANES_PK}). */
export const LANE_BUCKETS = 8;

/** FNV-1a, 32 bits: a cheap, stable hash, the same in every runtime and release (bucket numbers are stored). */
export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** The `pending` bucket of a window created by `lane`: the lane's slot, and a hash of the window's key within it. */
export function pendingBucket(lane: string, keyJson: string, spread: number = PENDING_KEY_SPREAD): number {
  return (fnv1a32(lane) % PENDING_LANE_SLOTS) * spread + (spread === 1 ? 0 : fnv1a32(keyJson) % spread);
}

/** The `pending` buckets of a lane's slot. */
export function laneSlotBuckets(lane: string, spread: number = PENDING_KEY_SPREAD): number[] {
  const first = (fnv1a32(lane) % PENDING_LANE_SLOTS) * spread;
  return Array.from({ length: spread }, (_, i) => first + i);
}

/** The `pending` index partition key of a bucket of an aggregation. */
export function pendingKey(aggregation: string, bucket: number): string {
  return `${aggregation}#${bucket}`;
}

/**
 * A lane's short name in items that list lanes (a per-shard root's `ln`) and in partial keys: a Kinesis shard id
 * (`shardId-` and 12 digits) is its number, anything else `~` and the name URI-encoded. The mapping is one-to-one, so
 * that {@link expandLane} gives the lane back.
 */
export function compactLane(lane: string): string {
  const m = /^shardId-(\d{12})$/.exec(lane);
  return m ? String(Number(m[1])) : `~${encodeURIComponent(lane)}`;
}

/** The lane a {@link compactLane} name stands for. */
export function expandLane(compact: string): string {
  return compact.startsWith('~') ? decodeURIComponent(compact.slice(1)) : `shardId-${compact.padStart(12, '0')}`;
}

/** The partition key of a lane's item, among `buckets` partitions. */
export function lanePk(lane: string, buckets: number = LANE_BUCKETS): string {
  return `${LANES_PK}#${fnv1a32(lane) % buckets}`;
}

/** Item attribute names. Short names keep items small: an UpdateItem is billed on the item's size per 1 KB. */
export const ATTR = {
  pk: 'pk',
  sk: 'sk',
  aggregation: 'agg',
  key: 'key',
  windowStart: 'ws',
  windowEnd: 'we',
  measures: 'm',
  fences: 'f',
  version: 'v',
  rev: 'rev',
  pending: 'pendingAgg',
  fireAt: 'fireAt',
  expiresAt: 'expiresAt',
  updatedAt: 'updatedAt',
  watermark: 'wm',
  /** Lane items: processing time of the lane's last batch. */
  lastBatchAt: 'lb',
  /** Lane items: position of the last record of the last batch applied in full. */
  applied: 'ap',
  /** Lane items (skip detection): first record, not yet known applied, of an attempted batch ({s, p}). */
  inFlight: 'inf',
  /** Lane items: skipped ranges re-read and applied ([{f, b}]). */
  repaired: 'rp',
  /** Lane items: skipped ranges no longer in the stream ([{f, b}]). */
  lost: 'lost',
  /** Per-shard roots: the lanes that registered a partial (a string set of {@link compactLane} names). */
  lanes: 'ln',
  /** Per-shard partials: the lane's fence. */
  partialFence: 'pf',
  /** Per-shard partials: read by a firing by idleness (`StoredPartial.sealed`). */
  sealed: 'sl',
  /** Per-shard partials: changed since a firing may have read it. */
  dirty: 'd',
} as const;

/**
 * The window-state table's layout, shared by the store that reads and writes it and the construct that creates it.
 * It imports nothing, so that the CDK app can use it without loading the SDK.
 */

/** The sparse index of pending windows (open, or fired and not yet emitted). */
export const PENDING_INDEX = 'pending';

/**
 * Partition key of the lane-watermark items: all lanes in one partition, so that one Query reads every shard's
 * watermark. It takes one write per batch per shard, far below a partition's 1,000 writes/s.
 */
export const LANES_PK = 'lanes';

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
} as const;

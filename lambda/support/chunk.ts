/**
 * Cuts items into consecutive groups of at most `maxCount` items and `maxBytes` bytes (by `sizeOf`), the shape of
 * every AWS batch API limit (PutRecords, PutRecordBatch, an invocation payload). An item larger than `maxBytes` on
 * its own gets a group of its own, for the API to reject with its own message.
 */
export function chunkByLimits<T>(items: readonly T[], maxCount: number, maxBytes: number, sizeOf: (item: T) => number): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = sizeOf(item);
    if (current.length > 0 && (current.length >= maxCount || bytes + size > maxBytes)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

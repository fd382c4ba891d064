import type { RecordSink, SourceRecord, StreamReader } from '../app/ports';

/**
 * Memoises an asynchronous factory: the first call starts it, later calls share its promise. A rejected attempt is
 * forgotten, so that the next call tries again instead of failing for the rest of the container's life.
 *
 * Why: adapters the common path never uses (the S3 sinks, the Kinesis reader for skipped ranges) are built on first
 * use, with their SDK client loaded by `import()`, which keeps their module evaluation out of the cold start.
 */
export function lazily<T>(factory: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    pending ??= factory().catch((err: unknown) => {
      pending = undefined;
      throw err;
    });
    return pending;
  };
}

/** A {@link RecordSink} whose real sink is built by `load` on the first write. */
export function lazyRecordSink(load: () => Promise<RecordSink>): RecordSink {
  const sink = lazily(load);
  return { write: async (name, entries) => (await sink()).write(name, entries) };
}

/** A {@link StreamReader} whose real reader is built by `load` on the first read. */
export function lazyStreamReader(load: () => Promise<StreamReader>): StreamReader {
  const reader = lazily(load);
  return {
    readRange: async (streamArn, shardId, from, before): Promise<{ records: SourceRecord[]; trimmed: boolean }> =>
      (await reader()).readRange(streamArn, shardId, from, before),
  };
}

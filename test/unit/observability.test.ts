
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { BATCH_METRICS, BatchMetrics } from '../../lambda/adapters/batch-metrics';
import { createKinesisHandler, type BatchObserver } from '../../lambda/adapters/kinesis-handler';
import { PowertoolsLog } from '../../lambda/adapters/powertools-log';
import type { BatchOutcome } from '../../lambda/app/process-batch';
import { kinesisEvent, MemoryRecordSink, MemoryResultSink, sequenceNumber } from '../support/harness';
import { MemoryWindowStore } from '../support/memory-window-store';
import { aggregationFactory, compiledSpecFactory } from '../support/factories';

/** Runs `fn` with stdout and stderr captured (Powertools writes its JSON lines there) and returns the parsed lines. */
async function captureJsonLines(fn: () => unknown): Promise<Record<string, unknown>[]> {
  const chunks: string[] = [];
  const capture = (chunk: string | Uint8Array) => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  };
  const spies = [jest.spyOn(process.stdout, 'write').mockImplementation(capture), jest.spyOn(process.stderr, 'write').mockImplementation(capture)];
  try {
    await fn();
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
  return chunks
    .join('')
    .split('\n')
    .filter((l) => l.trim().startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** The part of an EMF document these tests read. */
interface EmfDirective {
  readonly Namespace: string;
  readonly Dimensions: string[][];
  readonly Metrics: { readonly Name: string; readonly Unit: string }[];
}

const spec = compiledSpecFactory(aggregationFactory());

const stats = (over: Partial<BatchOutcome['stats']>): BatchOutcome => ({
  stats: { records: 0, valid: 0, invalid: 0, lateRecords: 0, windowsTouched: 0, windowWrites: 0, conflicts: 0, emitted: 0, ...over },
});

describe('PowertoolsLog', () => {
  test('structured lines with level, service, fields and, inside a lane, the shard and sequence range', async () => {
    const log = new PowertoolsLog(new Logger({ serviceName: 'aggregator' }));
    const records = kinesisEvent('shardId-1', [
      { data: '{}', partitionKey: 'p', sequenceNumber: sequenceNumber(1) },
      { data: '{}', partitionKey: 'p', sequenceNumber: sequenceNumber(2) },
    ]).Records;
    const lines = await captureJsonLines(() => {
      log.beginLane('shardId-1', records);
      log.warn('conflict', { windows: 2 });
      log.endLane();
      log.info('after');
    });
    expect(lines.length).toBe(2);
    expect(lines[0]).toMatchObject({
      level: 'WARN',
      message: 'conflict',
      service: 'aggregator',
      windows: 2,
      shardId: 'shardId-1',
      firstSequenceNumber: sequenceNumber(1),
      lastSequenceNumber: sequenceNumber(2),
    });
    expect(lines[1]).toMatchObject({ level: 'INFO', message: 'after' });
    expect(lines[1]).not.toHaveProperty('shardId');
  });
});

describe('BatchMetrics', () => {
  test('sums the lanes of an invocation into one EMF document with every counter', async () => {
    const metrics = new BatchMetrics(new Metrics({ namespace: 'Test/Pipeline', serviceName: 'aggregator' }));
    const lines = await captureJsonLines(() => {
      metrics.record(stats({ records: 10, invalid: 2, lateRecords: 1, windowWrites: 4, conflicts: 1, emitted: 3 }));
      metrics.record(stats({ records: 5, invalid: 1, windowWrites: 2 }));
      metrics.flush();
      metrics.flush(); // nothing recorded since: no second document
    });
    expect(lines.length).toBe(1);
    const emf = lines[0];
    const directive = (emf as { _aws: { CloudWatchMetrics: EmfDirective[] } })._aws.CloudWatchMetrics[0];
    expect(directive.Namespace).toBe('Test/Pipeline');
    expect(directive.Dimensions).toStrictEqual([['service']]);
    expect(emf.service).toBe('aggregator');
    expect(directive.Metrics.map((m) => [m.Name, m.Unit]).sort()).toStrictEqual(Object.values(BATCH_METRICS).map((n) => [n, 'Count']).sort());
    expect(emf[BATCH_METRICS.recordsIn]).toBe(15);
    expect(emf[BATCH_METRICS.badRecords]).toBe(3);
    expect(emf[BATCH_METRICS.lateRecords]).toBe(1);
    expect(emf[BATCH_METRICS.windowWrites]).toBe(6);
    expect(emf[BATCH_METRICS.writeConflicts]).toBe(1);
    expect(emf[BATCH_METRICS.windowsEmitted]).toBe(3);
  });
});

describe('createKinesisHandler observer hooks', () => {
  test('are called per lane with its records and outcome, and once at the end even when a lane throws', async () => {
    const calls: string[] = [];
    const observer: BatchObserver = {
      beforeInvocation: (ctx) => calls.push(`start:${ctx?.awsRequestId ?? '-'}`),
      beforeBatch: (lane, records) => calls.push(`before:${lane}:${records.length}`),
      onBatch: (lane, outcome) => calls.push(`after:${lane}:${outcome.stats.records}:${outcome.stats.invalid}`),
      afterInvocation: () => calls.push('end'),
    };
    const deps = { spec, store: new MemoryWindowStore(), results: new MemoryResultSink(), errors: new MemoryRecordSink(), late: new MemoryRecordSink() };
    const handler = createKinesisHandler(deps, () => 1_000, observer);
    const a = kinesisEvent('shardId-a', [
      { data: JSON.stringify({ d: 'x', ts: 1 }), partitionKey: 'p', sequenceNumber: sequenceNumber(1) },
      { data: 'not json', partitionKey: 'p', sequenceNumber: sequenceNumber(2) },
    ]);
    const b = kinesisEvent('shardId-b', [{ data: JSON.stringify({ d: 'y', ts: 2 }), partitionKey: 'p', sequenceNumber: sequenceNumber(3) }]);
    const res = await handler({ Records: [...a.Records, ...b.Records] }, { awsRequestId: 'req-1' } as never);
    expect(res).toStrictEqual({ batchItemFailures: [] });
    expect(calls).toStrictEqual(['start:req-1', 'before:shardId-a:2', 'after:shardId-a:2:1', 'before:shardId-b:1', 'after:shardId-b:1:0', 'end']);

    calls.length = 0;
    const failing = createKinesisHandler(
      { ...deps, store: { ...deps.store, readLanes: () => Promise.reject(new Error('boom')) } as never },
      () => 1_000,
      observer,
    );
    await expect(failing(b)).rejects.toThrow(/boom/);
    expect(calls).toStrictEqual(['start:-', 'before:shardId-b:1', 'end']);
  });

  test('without an observer the handler does the same work as with one', async () => {
    // The same event, with one record that fails to parse, through a handler with a no-op observer and one without.
    const event = kinesisEvent('s', [
      { data: JSON.stringify({ d: 'x', ts: 1 }), partitionKey: 'p', sequenceNumber: sequenceNumber(1) },
      { data: JSON.stringify({ d: 'x', ts: 2 }), partitionKey: 'p', sequenceNumber: sequenceNumber(2) },
      { data: 'not json', partitionKey: 'p', sequenceNumber: sequenceNumber(3) },
    ]);
    const run = async (observer: BatchObserver | undefined) => {
      const deps = { spec, store: new MemoryWindowStore(), results: new MemoryResultSink(), errors: new MemoryRecordSink(), late: new MemoryRecordSink() };
      const res = await createKinesisHandler(deps, () => 1_000, observer)(event);
      const windows = [...deps.store.windows.values()].map((w) => [w.ref.keyJson, w.ref.start, [...w.stored.state]]);
      return { res, windows, watermarks: [...deps.store.watermarks], errors: deps.errors.all().map((e) => e.sequenceNumber) };
    };
    const without = await run(undefined);
    // The independent expectation: one window for key "x" at [0, 60 s) that counted the two good records.
    expect(without.res).toStrictEqual({ batchItemFailures: [] });
    expect(without.windows).toStrictEqual([[JSON.stringify(['x']), 0, [2]]]);
    expect(without.errors).toStrictEqual([sequenceNumber(3)]);
    expect(await run({})).toStrictEqual(without);
  });
});

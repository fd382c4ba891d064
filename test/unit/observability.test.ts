import assert from 'node:assert/strict';

import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { BATCH_METRICS, BatchMetrics } from '../../lambda/adapters/batch-metrics';
import { createKinesisHandler, type BatchObserver } from '../../lambda/adapters/kinesis-handler';
import { PowertoolsLog } from '../../lambda/adapters/powertools-log';
import type { BatchOutcome } from '../../lambda/app/process-batch';
import { compileSpec } from '../../lambda/domain/compiled-spec';
import { parseAggregationSpec } from '../../lambda/domain/spec';
import { kinesisEvent, MemoryRecordSink, MemoryResultSink, sequenceNumber } from '../support/harness';
import { MemoryWindowStore } from '../support/memory-window-store';

/** Runs `fn` with stdout and stderr captured (Powertools writes its JSON lines there) and returns the parsed lines. */
async function captureJsonLines(fn: () => unknown): Promise<Record<string, any>[]> {
  const chunks: string[] = [];
  const streams = [process.stdout, process.stderr];
  const writes = streams.map((s) => s.write);
  for (const s of streams) {
    s.write = ((chunk: string | Uint8Array) => {
      chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      return true;
    }) as typeof s.write;
  }
  try {
    await fn();
  } finally {
    streams.forEach((s, i) => (s.write = writes[i]!));
  }
  return chunks
    .join('')
    .split('\n')
    .filter((l) => l.trim().startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, any>);
}

const spec = compileSpec(
  parseAggregationSpec({
    eventTime: { field: 'ts' },
    aggregations: [
      {
        name: 'per_device',
        groupBy: ['d'],
        window: { type: 'tumbling', sizeSeconds: 60 },
        allowedLatenessSeconds: 0,
        measures: [{ name: 'n', op: 'count' }],
      },
    ],
  }),
);

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
    assert.equal(lines.length, 2);
    assert.equal(lines[0]!.level, 'WARN');
    assert.equal(lines[0]!.message, 'conflict');
    assert.equal(lines[0]!.service, 'aggregator');
    assert.equal(lines[0]!.windows, 2);
    assert.equal(lines[0]!.shardId, 'shardId-1');
    assert.equal(lines[0]!.firstSequenceNumber, sequenceNumber(1));
    assert.equal(lines[0]!.lastSequenceNumber, sequenceNumber(2));
    assert.equal(lines[1]!.shardId, undefined, 'lane keys are removed after the lane');
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
    assert.equal(lines.length, 1);
    const emf = lines[0]!;
    const directive = emf._aws.CloudWatchMetrics[0];
    assert.equal(directive.Namespace, 'Test/Pipeline');
    assert.deepEqual(directive.Dimensions, [['service']]);
    assert.equal(emf.service, 'aggregator');
    assert.deepEqual(
      directive.Metrics.map((m: { Name: string; Unit: string }) => [m.Name, m.Unit]).sort(),
      Object.values(BATCH_METRICS).map((n) => [n, 'Count']).sort(),
    );
    assert.equal(emf[BATCH_METRICS.recordsIn], 15);
    assert.equal(emf[BATCH_METRICS.badRecords], 3);
    assert.equal(emf[BATCH_METRICS.lateRecords], 1);
    assert.equal(emf[BATCH_METRICS.windowWrites], 6);
    assert.equal(emf[BATCH_METRICS.writeConflicts], 1);
    assert.equal(emf[BATCH_METRICS.windowsEmitted], 3);
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
    assert.deepEqual(res, { batchItemFailures: [] });
    assert.deepEqual(calls, ['start:req-1', 'before:shardId-a:2', 'after:shardId-a:2:1', 'before:shardId-b:1', 'after:shardId-b:1:0', 'end']);

    calls.length = 0;
    const failing = createKinesisHandler(
      { ...deps, store: { ...deps.store, readLanes: () => Promise.reject(new Error('boom')) } as never },
      () => 1_000,
      observer,
    );
    await assert.rejects(() => failing(b), /boom/);
    assert.deepEqual(calls, ['start:-', 'before:shardId-b:1', 'end']);
  });

  test('without an observer the handler behaves as before', async () => {
    const deps = { spec, store: new MemoryWindowStore(), results: new MemoryResultSink(), errors: new MemoryRecordSink(), late: new MemoryRecordSink() };
    const res = await createKinesisHandler(deps, () => 1_000)(
      kinesisEvent('s', [{ data: JSON.stringify({ d: 'x', ts: 1 }), partitionKey: 'p', sequenceNumber: sequenceNumber(1) }]),
    );
    assert.deepEqual(res, { batchItemFailures: [] });
  });
});

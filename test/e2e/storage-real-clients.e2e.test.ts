/**
 * The window store and the sinks with the real SDK clients (DynamoDBDocumentClient, Firehose, S3) against the
 * emulator: every measure type and the numeric edge cases round-trip through DynamoDB unchanged, emitted results are
 * readable from S3, and a window that would pass its item budget is refused before anything is written.
 */
import { randomBytes } from 'node:crypto';

import { FirehoseClient } from '@aws-sdk/client-firehose';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { ItemBudgetExceededError } from '../../lambda/app/ports';
import { ATTR, DynamoWindowStore, windowPendingKey, windowPk, windowSk } from '../../lambda/adapters/dynamodb-window-store';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { FirehoseResultSink } from '../../lambda/adapters/firehose-result-sink';
import { S3RecordSink } from '../../lambda/adapters/s3-record-sink';
import { addEvent, emptyState, toMeasureValues, type AggregateState } from '../../lambda/domain/aggregate-state';
import { compileSpec, type CompiledAggregation } from '../../lambda/domain/compiled-spec';
import { HyperLogLog } from '../../lambda/domain/hyperloglog';
import { windowId, type WindowRef } from '../../lambda/domain/window-ref';
import { QuantileSketch } from '../../lambda/domain/quantile-sketch';
import { positionOf } from '../../lambda/domain/sequence';
import { parseAggregationSpec, type AggregationSpec } from '../../lambda/domain/spec';
import { nextWindowState, type StoredWindow } from '../../lambda/domain/window-lifecycle';
import { toWindowResult } from '../../lambda/domain/window-result';
import { awsClients, clientConfig } from '../../scripts/lib/aws-target';
import { NdjsonPrefixReader, readObject } from '../../scripts/lib/s3-sinks';
import { readStackOutputs } from '../../scripts/lib/stack-outputs';
import { sequenceNumber } from '../support/harness';
import { pollUntil } from '../support/poll';

const outputsFile = process.env.E2E_OUTPUTS_FILE;
if (!outputsFile) throw new Error('E2E_OUTPUTS_FILE is not set: run the e2e suite through "npm test"');
const outputs = readStackOutputs(outputsFile);
const target = { endpoint: process.env.E2E_ENDPOINT };
const clients = awsClients(target);
const store = new DynamoWindowStore(clients.doc, { tableName: outputs.WindowTableName });

const SPEC: AggregationSpec = parseAggregationSpec({
  eventTime: { field: 'ts' },
  aggregations: [
    {
      name: 'storage_1m',
      groupBy: ['k'],
      window: { type: 'tumbling', sizeSeconds: 60 },
      measures: [
        { name: 'n', op: 'count' },
        { name: 'total', op: 'sum', field: 'v' },
        { name: 'mean', op: 'avg', field: 'v' },
        { name: 'lo', op: 'min', field: 'v' },
        { name: 'hi', op: 'max', field: 'v' },
        { name: 'users', op: 'distinct', field: 'u', precision: 14 },
        { name: 'p50', op: 'percentile', field: 'v', quantile: 0.5 },
        { name: 'p999', op: 'percentile', field: 'v', quantile: 0.999, relativeAccuracy: 0.001 },
      ],
    },
  ],
});
const agg = compileSpec(SPEC).aggregations[0];

/** A state folded from values, one event per value. */
function stateOf(a: CompiledAggregation, values: readonly number[], users: (i: number) => unknown = (i) => `u${i % 5}`): AggregateState {
  const s = emptyState(a.layout);
  values.forEach((v, i) => addEvent(a.layout, s, { v, u: users(i) }));
  return s;
}

function expectClose(actual: number | null, expected: number | null): void {
  if (expected === null || actual === null) expect(actual).toBe(expected);
  else expect(Math.abs(actual - expected)).toBeLessThanOrEqual(1e-9 * Math.abs(expected));
}

/** Slot by slot: numbers equal (-0 is stored as 0), sketches by what they report. */
function expectSameState(a: CompiledAggregation, actual: AggregateState, expected: AggregateState): void {
  for (const m of a.layout.measures) {
    const x = actual[m.slot];
    const y = expected[m.slot];
    if (y instanceof HyperLogLog) expect([...(x as HyperLogLog).registers]).toEqual([...y.registers]);
    else if (y instanceof QuantileSketch) {
      const q = x as QuantileSketch;
      expect(q.count).toBe(y.count);
      // Same bins give the same quantiles up to the mapping's gamma, which the protobuf form carries as a rounded
      // double; a bin apart would be off by 2 × relativeAccuracy.
      for (const at of [0, 0.01, 0.5, 0.99, 0.999, 1]) expectClose(q.quantile(at), y.quantile(at));
    } else {
      expect(x).toBe(y === 0 ? 0 : y);
      if (m.op === 'avg') expect(actual[m.slot + 1]).toBe(expected[m.slot + 1]);
    }
  }
}

const T0 = Math.floor(Date.now() / 60_000) * 60_000 - 3_600_000;

jest.setTimeout(5 * 60_000);

describe('DynamoWindowStore and the sinks with the real SDK clients', () => {
  const runId = `st${randomBytes(3).toString('hex')}-`;
  const cases: [string, AggregateState][] = [
    ['empty', emptyState(agg.layout)],
    ['edges', stateOf(agg, [-0, 1e100, -1e100, 1e-300, 5e-324, 2 ** 53 + 2, 0.1, -7.25])],
    ['sum past 2^53', stateOf(agg, Array.from({ length: 6000 }, (_, i) => 1_700_000_000_000 + i))],
    ['tiny only', stateOf(agg, [1e-300, 2e-300])],
    ['huge only', stateOf(agg, [1e100, 9.99e99])],
    ['dense HyperLogLog', stateOf(agg, Array.from({ length: 20_000 }, (_, i) => i), (i) => `user-${i}`)],
    ['widest sketch', stateOf(agg, Array.from({ length: 2000 }, (_, i) => (i % 2 ? -1 : 1) * 10 ** (-9 + (i / 2000) * 109)))],
  ];

  test.each(cases)('%s: store then load gives the in-memory state back', async (name, state) => {
    const ref: WindowRef = { aggregation: agg, keyJson: JSON.stringify([`${runId}${name}`]), start: T0, end: T0 + 60_000 };
    const next: StoredWindow = { state, fences: { 'shardId-1': positionOf(sequenceNumber(7), 3) }, version: 1, pending: true, rev: 1 };
    expect(await store.writeWindow(ref, next, undefined, Date.now())).toBe('written');
    const back = (await store.getWindows([ref], true)).get(windowId(agg.name, ref.keyJson, ref.start))!;
    expectSameState(agg, back.state, state);
    expect([back.fences, back.version, back.pending, back.rev]).toEqual([next.fences, 1, true, 1]);
    const want = toMeasureValues(agg.layout, state);
    const got = toMeasureValues(agg.layout, back.state);
    for (const m of agg.layout.measures) {
      if (m.op === 'percentile') expectClose(got[m.name], want[m.name]);
      else expect(got[m.name]).toBe(want[m.name]);
    }
    // A second write that expects a stale revision is a conflict, not an overwrite.
    expect(await store.writeWindow(ref, { ...next, rev: 2 }, 0, Date.now())).toBe('conflict');
  });

  test('a window whose next version passes the item budget is refused before the write', async () => {
    // Five dense precision-16 sketches: the spec check refuses this at synth time, so the aggregation is built unchecked.
    const def = {
      ...SPEC.aggregations[0],
      name: 'over_budget',
      measures: Array.from({ length: 5 }, (_, i) => ({ name: `d${i}`, op: 'distinct' as const, field: 'u', precision: 16 })),
    };
    const big = compileSpec({ ...SPEC, aggregations: [def] }).aggregations[0];
    const state = stateOf(big, Array.from({ length: 200_000 }, () => 1), (i) => `user-${i}`);
    const ref: WindowRef = { aggregation: big, keyJson: JSON.stringify([`${runId}big`]), start: T0, end: T0 + 60_000 };
    const next: StoredWindow = { state, fences: {}, version: 0, pending: true, rev: 1 };
    await expect(store.writeWindow(ref, next, undefined, Date.now())).rejects.toBeInstanceOf(ItemBudgetExceededError);
    expect((await store.getWindows([ref], true)).size).toBe(0);
  });

  test('emitted results of every case are readable from S3 with their measures', async () => {
    const sink = new FirehoseResultSink(new FirehoseClient(clientConfig(target)), { deliveryStreamName: outputs.ResultsDeliveryStreamName });
    const results = cases.map(([name, state]) =>
      toWindowResult({ aggregation: agg, keyJson: JSON.stringify([`${runId}emit-${name}`]), start: T0, end: T0 + 60_000 }, { state, fences: {}, version: 1, pending: true, rev: 1 }),
    );
    await sink.emit(results);
    const reader = new NdjsonPrefixReader(clients.s3, outputs.BucketName, outputs.ResultsPrefix);
    const ids = new Set(results.map((r) => r.id));
    const lines = await pollUntil(
      async () => ((await reader.readAll()) as { id: string }[]).filter((l) => ids.has(l.id)),
      (found) => new Set(found.map((l) => l.id)).size === ids.size,
      { timeoutMs: 180_000, intervalMs: 2000, describe: (found) => `${found?.length ?? 0} of ${ids.size} results in S3` },
    );
    for (const r of results) {
      // JSON has no -0 and no Infinity: what a consumer reads is the result's JSON form.
      expect(lines.find((l) => l.id === r.id)).toEqual(JSON.parse(JSON.stringify(r)));
    }
  });

  test('lane items in one partition (the local stage) or eight: written at their revision, read back whole, one Query a partition', async () => {
    for (const laneBuckets of [1, 8]) {
      // Lanes of their own per layout: a lane that hashes to partition 0 has the same key in both.
      const lanes = ['a', 'b', 'c'].map((l) => `${runId}lane${laneBuckets}-${l}`);
      const s = new DynamoWindowStore(clients.doc, { tableName: outputs.WindowTableName, laneBuckets });
      for (const [i, lane] of lanes.entries()) {
        const first = { watermark: T0 + i, lastBatchAt: 5, applied: positionOf(sequenceNumber(i)), repaired: [], lost: [], rev: 1 };
        expect(await s.writeLane(lane, first, 0)).toBe('written');
        expect(await s.writeLane(lane, { ...first, rev: 2 }, 0)).toBe('conflict');
      }
      const read = await s.readLanes();
      lanes.forEach((lane, i) => expect(read.get(lane)).toMatchObject({ watermark: T0 + i, applied: positionOf(sequenceNumber(i)), rev: 1 }));
      await s.writeLane(lanes[0], { watermark: T0 + 100, lastBatchAt: 6, repaired: [], lost: [], rev: 2 }, 1);
      expect((await s.readLanes()).get(lanes[0])).toMatchObject({ watermark: T0 + 100, rev: 2 });
    }
  });

  test('transactions mode: writes issued together land as one transaction each with its own outcome, and so do the emitted marks', async () => {
    const batched = new DynamoWindowStore(clients.doc, { tableName: outputs.WindowTableName, updateBatching: 'transactions' });
    const refs: WindowRef[] = Array.from({ length: 130 }, (_, i) => ({ aggregation: agg, keyJson: JSON.stringify([`${runId}tx-${i}`]), start: T0, end: T0 + 60_000 }));
    const version = (i: number, rev: number): StoredWindow => ({ state: stateOf(agg, [i, rev]), fences: { 'shardId-1': positionOf(sequenceNumber(rev)) }, version: 1, pending: true, rev });
    // 130 creations: two transactions (100 and 30).
    expect(await Promise.all(refs.map((r, i) => batched.writeWindow(r, version(i, 1), undefined, Date.now())))).toEqual(refs.map(() => 'written'));
    // Again, every third expecting a stale revision: those are conflicts, the others are written, in the same turn.
    const stale = (i: number) => i % 3 === 0;
    const outcomes = await Promise.all(refs.map((r, i) => batched.writeWindow(r, version(i, 2), stale(i) ? 0 : 1, Date.now())));
    expect(outcomes).toEqual(refs.map((_, i) => (stale(i) ? 'conflict' : 'written')));
    const back = await batched.getWindows(refs, true);
    refs.forEach((r, i) => {
      const w = back.get(windowId(agg.name, r.keyJson, r.start))!;
      expect(w.rev).toBe(stale(i) ? 1 : 2);
      expectSameState(agg, w.state, stateOf(agg, [i, stale(i) ? 1 : 2]));
    });
    // The emitted marks of one turn, one of them for a version the window has moved past (left pending).
    await Promise.all(refs.map((r, i) => batched.markEmitted(r, i === 5 ? 0 : 1)));
    const marked = await batched.getWindows(refs, true);
    expect(refs.map((r, i) => [i, marked.get(windowId(agg.name, r.keyJson, r.start))!.pending])).toEqual(refs.map((_, i) => [i, i === 5]));
  });

  test.each(['single', 'transactions'] as const)(
    '%s mode: a window rewritten from what was read keeps the index key its creator filed it under; the write replaces the item whole',
    async (mode) => {
      const s = new DynamoWindowStore(clients.doc, { tableName: outputs.WindowTableName, updateBatching: mode });
      const ref: WindowRef = { aggregation: agg, keyJson: JSON.stringify([`${runId}filed-${mode}`]), start: T0, end: T0 + 60_000 };
      const key = { pk: windowPk(agg.name, ref.keyJson), sk: windowSk(ref.start) };
      const raw = async () => (await clients.doc.send(new GetCommand({ TableName: outputs.WindowTableName, Key: key, ConsistentRead: true }))).Item!;
      // Created by a lane that sorts after the one that writes next: filed under the creator's slot.
      const created = nextWindowState(ref, undefined, { lane: 'shardId-000000000009', state: stateOf(agg, [1]), maxPosition: positionOf(sequenceNumber(1)) }, () => false)!;
      expect(await s.writeWindow(ref, created, undefined, 1)).toBe('written');
      const filed = (await raw())[ATTR.pending] as string;
      expect(filed).toBe(windowPendingKey(ref, created.fences, undefined, undefined));
      const read = (await s.getWindows([ref], true)).get(windowId(agg.name, ref.keyJson, ref.start))!;
      expect(read.filedAs).toBe(filed);
      const next = nextWindowState(ref, read, { lane: 'shardId-000000000000', state: stateOf(agg, [2]), maxPosition: positionOf(sequenceNumber(2)) }, () => false)!;
      // The first lane is now another one, whose slot differs: the window must stay where it was filed.
      expect(windowPendingKey(ref, next.fences, undefined, undefined)).not.toBe(filed);
      expect(await s.writeWindow(ref, next, read.rev, 2)).toBe('written');
      const after = await raw();
      expect(after[ATTR.pending]).toBe(filed);
      expect(after[ATTR.rev]).toBe(2);
      // Emitted, then corrected from the read: filed anew under its first lane; a window written unfiled has no key.
      await s.markEmitted(ref, 0);
      const unfiled = (await s.getWindows([ref], true)).get(windowId(agg.name, ref.keyJson, ref.start))!;
      expect(unfiled.filedAs).toBeNull();
      expect(await s.writeWindow(ref, { ...unfiled, rev: unfiled.rev + 1, pending: false }, unfiled.rev, 3)).toBe('written');
      expect(Object.keys(await raw()).sort()).toEqual(
        [ATTR.pk, ATTR.sk, ATTR.measures, ATTR.fences, ATTR.version, ATTR.rev, ATTR.aggregation, ATTR.key, ATTR.windowStart, ATTR.windowEnd, ATTR.fireAt, ATTR.expiresAt, ATTR.updatedAt].sort(),
      );
      const again = (await s.getWindows([ref], true)).get(windowId(agg.name, ref.keyJson, ref.start))!;
      expect(await s.writeWindow(ref, { ...again, rev: again.rev + 1, pending: true }, again.rev, 4)).toBe('written');
      expect((await raw())[ATTR.pending]).toBe(windowPendingKey(ref, next.fences, undefined, undefined));
    },
  );

  test('the errors sink writes rejected records readable as written', async () => {
    const sink = new S3RecordSink(clients.s3, outputs.BucketName, outputs.ErrorsPrefix, { PutObjectCommand });
    const entries = [
      { reason: 'invalid numeric field "v": 1e+308 is beyond the ±1e+100 limit', payload: '{"v":1e308}', sequenceNumber: sequenceNumber(1) },
      { reason: 'odd unicode', payload: '{"k":"𝓤ñí©ødé \\ud800"}', sequenceNumber: sequenceNumber(2) },
    ];
    await sink.write(`${runId}sink-check`, entries);
    const text = (await readObject(clients.s3, outputs.BucketName, `${outputs.ErrorsPrefix}${runId}sink-check.ndjson`)).toString('utf8');
    expect(text.trimEnd().split('\n').map((l) => JSON.parse(l) as unknown)).toEqual(entries);
  });
});

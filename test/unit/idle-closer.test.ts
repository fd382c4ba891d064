/**
 * The idle closer fires a window only when every lane that fed it has had no batch for the idle timeout, however far
 * behind wall-clock time the lane's event time is: a lagging aggregator must not see its windows declared final
 * before their records are in.
 */
import { closeIdleWindows, idleFiring } from '../../lambda/app/close-idle-windows';
import { processBatch, type BatchDeps } from '../../lambda/app/process-batch';
import { compileSpec } from '../../lambda/domain/compiled-spec';
import { EMPTY_LANE } from '../../lambda/domain/lane';
import type { WindowResult } from '../../lambda/domain/window-result';
import { MemoryRecordSink, MemoryResultSink, sourceRecords } from '../support/harness';
import { specFactory } from '../support/factories';
import { MemoryWindowStore } from '../support/memory-window-store';
import { referenceAggregate, windowIdentity } from '../support/reference';

const spec = specFactory({
  name: 'per_device',
  groupBy: ['d'],
  window: { type: 'tumbling', sizeSeconds: 60 },
  allowedLatenessSeconds: 30,
  measures: [{ name: 'n', op: 'count' }],
});
const compiled = compileSpec(spec);
const IDLE_MS = 60_000;
const LAG_MS = 5 * 60_000;
const T0 = 1_700_000_000_000;

describe('idle closer', () => {
  test('a lagging aggregator with the closer running: every window is final once, with all of its records', async () => {
    const store = new MemoryWindowStore();
    const results = new MemoryResultSink();
    const deps: BatchDeps = { spec: compiled, store, results, errors: new MemoryRecordSink(), late: new MemoryRecordSink(), pendingStaleAfterMs: 120_000 };
    const events: Record<string, unknown>[] = [];
    let seq = 0;
    // Ten minutes of wall-clock time: a batch every 10 s with event times five minutes behind, the closer every minute.
    for (let now = T0; now < T0 + 10 * 60_000; now += 10_000) {
      const batch = Array.from({ length: 5 }, (_, i) => ({ d: 'dev-1', ts: now - LAG_MS + i * 2_000 }));
      events.push(...batch);
      const out = await processBatch(deps, { lane: 'shardId-lagging', records: sourceRecords(batch.map((e) => JSON.stringify(e)), batch.map(() => 'dev-1'), seq) }, now);
      seq += batch.length;
      expect(out.failedSequenceNumber).toBeUndefined();
      if ((now - T0) % 60_000 === 0) await closeIdleWindows({ spec: compiled, store, results, laneIdleTimeoutMs: IDLE_MS }, now + 5_000);
    }
    // Traffic stops; once the lane has been idle for the timeout, the closer fires what is left.
    const end = T0 + 10 * 60_000;
    await closeIdleWindows({ spec: compiled, store, results, laneIdleTimeoutMs: IDLE_MS }, end + 30_000);
    expect(results.emitted.filter((r) => !r.final).length).toBe(0);
    await closeIdleWindows({ spec: compiled, store, results, laneIdleTimeoutMs: IDLE_MS }, end + IDLE_MS + 1);

    const expected = referenceAggregate(spec, events);
    const byWindow = new Map<string, WindowResult[]>();
    for (const r of results.emitted) byWindow.set(windowIdentity(r), [...(byWindow.get(windowIdentity(r)) ?? []), r]);
    expect([...byWindow.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [id, rs] of byWindow) {
      // No lateness in this workload: a correction after `final` would mean it was declared final too early.
      expect(rs.map((r) => [r.version, r.final])).toEqual([[1, true]]);
      expect(rs[0].measures.n).toBe(expected.get(id)!.measures.n);
    }
  });

  test('a window fed by two lanes waits for both to be idle', () => {
    const ref = { aggregation: compiled.aggregations[0], keyJson: '["a"]', start: 0, end: 60_000 };
    const now = 1_000_000;
    const lanes = new Map([
      ['a', { ...EMPTY_LANE, lastBatchAt: now - IDLE_MS - 1 }],
      ['b', { ...EMPTY_LANE, lastBatchAt: now - 1_000 }],
    ]);
    expect(idleFiring(lanes, now, IDLE_MS)(ref, { a: '1', b: '2' })).toBe(false);
    expect(idleFiring(lanes, now, IDLE_MS)(ref, { a: '1' })).toBe(true);
    expect(idleFiring(lanes, now, IDLE_MS)(ref, { c: '1' })).toBe(false);
  });

  test('a lane stuck on a failing batch is not idle: the failed attempt is recorded', async () => {
    const store = new MemoryWindowStore();
    const results = new MemoryResultSink();
    const deps: BatchDeps = { spec: compiled, store, results, errors: new MemoryRecordSink(), late: new MemoryRecordSink() };
    const rec = (i: number, ts: number) => sourceRecords([JSON.stringify({ d: 'x', ts })], ['x'], i);
    await processBatch(deps, { lane: 's', records: rec(0, T0) }, T0);
    store.failAfterWrites = store.writes;
    // Retried for minutes: each attempt fails after the window write failed.
    for (let now = T0 + 10_000; now < T0 + 5 * 60_000; now += 10_000) {
      expect((await processBatch(deps, { lane: 's', records: rec(1, T0 + 1_000) }, now)).failedSequenceNumber).toBeDefined();
    }
    await closeIdleWindows({ spec: compiled, store, results, laneIdleTimeoutMs: IDLE_MS }, T0 + 5 * 60_000);
    expect(results.emitted).toEqual([]);
  });
});

/**
 * Session and stagger windows end to end through the batch use case (in-memory stores): for any delivery order of a
 * key's events and any adversarial redelivery schedule (crashes between writes, failed emissions, redelivered
 * ranges), the final emitted results equal an independent reference computed from the whole event set (sessions:
 * sort and split; stagger: the arrival order), each result id always carries the same content, and a superseded
 * session gets no version after the one that superseded it.
 */
import { fc, test } from '@fast-check/jest';
import { closeIdleWindows } from '../../lambda/app/close-idle-windows';
import { processBatch, type BatchDeps } from '../../lambda/app/process-batch';
import type { SourceRecord } from '../../lambda/app/ports';
import { compileSpec } from '../../lambda/domain/compiled-spec';
import type { WindowResult } from '../../lambda/domain/window-result';
import { specFactory } from '../support/factories';
import { MemoryRecordSink, MemoryResultSink, sourceRecords } from '../support/harness';
import { keyWindowIdentity, referenceKeyWindows } from '../support/key-window-reference';
import { MemoryKeyWindowStore } from '../support/memory-key-window-store';
import { MemoryWindowStore } from '../support/memory-window-store';
import { stepArb, type Step } from '../support/redelivery';
import { playInMemory } from '../support/memory-delivery';
import { measuresClose } from '../support/reference';

const BASE = 1_700_000_000_000;
const measures = [
  { name: 'n', op: 'count' as const },
  { name: 's', op: 'sum' as const, field: 'v' },
  { name: 'hi', op: 'max' as const, field: 'v' },
];
// Lateness longer than the workload's span: no event is too late, so the reference is the plain definition.
const spec = specFactory(
  { name: 'sessions', groupBy: ['d'], window: { type: 'session', gapSeconds: 10, maxDurationSeconds: 120 }, allowedLatenessSeconds: 600, measures },
  { name: 'staggered', groupBy: ['d'], window: { type: 'stagger', sizeSeconds: 15 }, allowedLatenessSeconds: 600, measures },
);
const compiled = compileSpec(spec);
const LANE = 'shardId-000000000001';

// Dense enough (about a gap apart per key) that out-of-order events often bridge sessions, and across a cut (BASE is not
// a multiple of maxDuration).
const eventArb = fc.record({ d: fc.constantFrom('a', 'b'), t: fc.integer({ min: 0, max: 200_000 }), v: fc.integer({ min: -50, max: 50 }) });

function setup() {
  const store = new MemoryWindowStore();
  const keyStore = new MemoryKeyWindowStore(store);
  const results = new MemoryResultSink();
  const deps: BatchDeps = { spec: compiled, store, keyStore, results, errors: new MemoryRecordSink(), late: new MemoryRecordSink() };
  return { store, keyStore, results, deps };
}

function play(records: SourceRecord[], steps: Step[], deps: BatchDeps, store: MemoryWindowStore, results: MemoryResultSink) {
  return playInMemory(records, steps, deps, store, results, LANE);
}

/** The live results: the last version of each window id that no emitted result supersedes. */
function liveResults(emitted: readonly WindowResult[]): WindowResult[] {
  const superseded = new Set(emitted.flatMap((r) => r.supersedes ?? []));
  const last = new Map<string, WindowResult>();
  for (const r of emitted) {
    const k = `${r.aggregation}|${r.sessionId}`;
    if (!superseded.has(r.sessionId!) && (last.get(k)?.version ?? -1) < r.version) last.set(k, r);
  }
  return [...last.values()];
}

describe('session and stagger windows under redelivery (in-memory stores)', () => {
  test.prop([fc.array(eventArb, { minLength: 1, maxLength: 50 }), fc.array(stepArb(15), { maxLength: 20 })], { numRuns: 80 })(
    'the final results equal the reference in any delivery order, exactly once',
    async (events, steps) => {
      const payloads = events.map((e) => JSON.stringify({ ts: BASE + e.t, d: e.d, v: e.v }));
      const records = sourceRecords(payloads, events.map((e) => e.d));
      const { store, keyStore, results, deps } = setup();
      await play(records, steps, deps, store, results);
      // A clean redelivery emits what a failed attempt left pending; then the idle closer, long after, fires the rest.
      await processBatch(deps, { lane: LANE, records: records.slice(-1) }, 9_000_000);
      const later = BASE + 10_000_000;
      await closeIdleWindows({ ...deps, keyStore, pendingStaleAfterMs: 0 }, later);

      const expected = referenceKeyWindows(spec, payloads.map((p) => JSON.parse(p) as Record<string, unknown>));
      const live = liveResults(results.emitted);
      const actual = new Map(live.map((r) => [keyWindowIdentity(r), r]));
      expect([...actual.keys()].sort()).toStrictEqual([...expected.keys()].sort());
      for (const [id, r] of actual) {
        expect(r.final).toBe(true);
        expect(measuresClose(r.measures, expected.get(id)!.measures)).toBe(true);
      }
      // Every set is settled: nothing open, nothing unemitted.
      for (const { set } of keyStore.sets.values()) for (const w of set.windows) expect(w.version > 0 && w.emitted === w.version).toBe(true);
      // A result id always carries the same content; a superseded id gets no version after its supersession.
      const byId = new Map<string, string>();
      results.emitted.forEach((r, i) => {
        const body = JSON.stringify(r);
        expect(byId.get(r.id) ?? body).toBe(body);
        byId.set(r.id, body);
        for (const gone of r.supersedes ?? []) expect(results.emitted.slice(i + 1).some((x) => x.sessionId === gone)).toBe(false);
      });
    },
  );

  test('events delivered in event-time order give KDA stagger windows (each opens at the first event at or after the last end)', async () => {
    const { deps, results, keyStore } = setup();
    const times = [0, 4, 14, 15, 16, 31, 45, 46, 60];
    const records = sourceRecords(times.map((t) => JSON.stringify({ ts: BASE + t * 1000, d: 'a', v: 1 })), times.map(() => 'a'));
    await processBatch(deps, { lane: LANE, records }, 1);
    await closeIdleWindows({ ...deps, keyStore }, BASE + 10_000_000);
    const stagger = liveResults(results.emitted).filter((r) => r.aggregation === 'staggered');
    const bounds = stagger.map((r) => [(Date.parse(r.windowStart) - BASE) / 1000, (Date.parse(r.windowEnd) - BASE) / 1000, r.measures.n]).sort((a, b) => Number(a[0]) - Number(b[0]));
    expect(bounds).toStrictEqual([[0, 15, 3], [15, 30, 2], [31, 46, 2], [46, 61, 2]]);
  });
});

/**
 * Session and stagger windows through the batch and closer use cases (in-memory stores): late records, a late event
 * that bridges two fired sessions, windows dropped once behind the watermark, two shards feeding one key, and the
 * idle closer. Expected values come from the definitions (README "Session and stagger windows") or the independent
 * reference (test/support/key-window-reference.ts).
 */
import { closeIdleWindows } from '../../lambda/app/close-idle-windows';
import { processBatch, type BatchDeps } from '../../lambda/app/process-batch';
import type { SourceRecord } from '../../lambda/app/ports';
import { compileSpec } from '../../lambda/domain/compiled-spec';
import type { WindowResult } from '../../lambda/domain/window-result';
import { specFactory, type AggregationInput } from '../support/factories';
import { MemoryRecordSink, MemoryResultSink, sourceRecords } from '../support/harness';
import { keyWindowIdentity, referenceKeyWindows } from '../support/key-window-reference';
import { MemoryKeyWindowStore } from '../support/memory-key-window-store';
import { MemoryWindowStore } from '../support/memory-window-store';
import { measuresClose } from '../support/reference';

const BASE = 1_700_000_040_000;
const S = 1000;

function setup(window: AggregationInput['window'], allowedLatenessSeconds: number) {
  const spec = specFactory({ name: 'k', groupBy: ['d'], window, allowedLatenessSeconds, measures: [{ name: 'n', op: 'count' }, { name: 's', op: 'sum', field: 'v' }] });
  const store = new MemoryWindowStore();
  const keyStore = new MemoryKeyWindowStore(store);
  const results = new MemoryResultSink();
  const late = new MemoryRecordSink();
  const deps: BatchDeps = { spec: compileSpec(spec), store, keyStore, results, errors: new MemoryRecordSink(), late };
  return { spec, store, keyStore, results, late, deps };
}

/** Records of events at `times` (seconds after BASE) for key `d`, numbered from `first`. */
function recs(times: readonly number[], d = 'a', first = 0): SourceRecord[] {
  return sourceRecords(times.map((t) => JSON.stringify({ ts: BASE + t * S, d, v: 1 })), times.map(() => d), first);
}

function live(emitted: readonly WindowResult[]): Map<string, WindowResult> {
  const superseded = new Set(emitted.flatMap((r) => r.supersedes ?? []));
  const last = new Map<string, WindowResult>();
  for (const r of emitted) if (!superseded.has(r.sessionId!) && (last.get(r.sessionId!)?.version ?? -1) < r.version) last.set(r.sessionId!, r);
  return new Map([...last.values()].map((r) => [keyWindowIdentity(r), r]));
}

const SESSION = { type: 'session', gapSeconds: 10, maxDurationSeconds: 3600 } as const;

test('a record whose own session plus lateness is behind the watermark goes to the late sink, uncounted', async () => {
  const { deps, late, keyStore } = setup(SESSION, 5);
  await processBatch(deps, { lane: 'l', records: recs([0, 100]) }, 1);
  // Watermark 100: an event at 84 reaches 84 + 10 + 5 = 99 <= 100, too late; one at 86 reaches 101, admissible.
  await processBatch(deps, { lane: 'l', records: recs([84, 86], 'a', 2) }, 2);
  expect(late.all().map((e) => e.eventTime)).toStrictEqual([new Date(BASE + 84 * S).toISOString()]);
  expect(String(late.all()[0].reason)).toContain('too late');
  const windows = [...keyStore.sets.values()][0].set.windows.map((w) => [(w.start - BASE) / S, (w.end - BASE) / S]);
  // [0, 10) was emitted and is a gap plus the lateness behind the watermark (10 + 10 + 5 <= 100): dropped.
  expect(windows).toStrictEqual([[86, 96], [100, 110]]);
});

test('a late event bridging two fired sessions corrects the earlier one (version + 1) and supersedes the other', async () => {
  const { deps, results } = setup(SESSION, 60);
  await processBatch(deps, { lane: 'l', records: recs([0, 18]) }, 1);
  await processBatch(deps, { lane: 'l', records: recs([50], 'a', 2) }, 2);
  const fired = results.emitted.filter((r) => r.final);
  expect(fired.map((r) => [r.windowStart, r.version])).toStrictEqual([
    [new Date(BASE).toISOString(), 1],
    [new Date(BASE + 18 * S).toISOString(), 1],
  ]);
  await processBatch(deps, { lane: 'l', records: recs([9], 'a', 3) }, 3);
  const merged = results.emitted[results.emitted.length - 1];
  expect(merged).toMatchObject({ sessionId: fired[0].sessionId, version: 2, supersedes: [fired[1].sessionId], windowStart: fired[0].windowStart, windowEnd: new Date(BASE + 28 * S).toISOString(), measures: { n: 3 } });
  await processBatch(deps, { lane: 'l', records: recs([60], 'a', 4) }, 4);
  expect(results.emitted.slice(results.emitted.indexOf(merged)).some((r) => r.sessionId === fired[1].sessionId)).toBe(false);
});

test('windows leave the item once emitted and a gap plus the lateness behind the watermark; results stay exact', async () => {
  const { spec, deps, results, keyStore } = setup(SESSION, 0);
  // Two hours of a key active in bursts: a session every 30 s.
  const times = Array.from({ length: 720 }, (_, i) => Math.floor(i / 3) * 30 + (i % 3) * 2);
  const records = recs(times);
  for (let i = 0; i < records.length; i += 20) await processBatch(deps, { lane: 'l', records: records.slice(i, i + 20) }, i);
  // 240 sessions went through; the item keeps about a batch's worth (emitted after the write that fired them, they
  // leave at the next write).
  expect([...keyStore.sets.values()][0].set.windows.length).toBeLessThanOrEqual(10);
  const expected = referenceKeyWindows(spec, times.map((t) => ({ ts: BASE + t * S, d: 'a', v: 1 })));
  const actual = live(results.emitted);
  // Every session but the last (still open) has been emitted, exactly as the reference.
  expect(actual.size).toBe(expected.size - 1);
  for (const [id, r] of actual) expect(measuresClose(r.measures, expected.get(id)!.measures)).toBe(true);
});

test('two shards feeding one key, interleaved and redelivered, end in the reference sessions', async () => {
  const { spec, deps, results, keyStore } = setup({ type: 'session', gapSeconds: 10, maxDurationSeconds: 60 }, 600);
  const a = [0, 5, 31, 33, 70, 71, 140];
  const b = [12, 20, 40, 55, 62, 90, 141];
  const ra = recs(a);
  const rb = recs(b, 'a', 100);
  await processBatch(deps, { lane: 'A', records: ra.slice(0, 3) }, 1);
  await processBatch(deps, { lane: 'B', records: rb.slice(0, 4) }, 2);
  await processBatch(deps, { lane: 'A', records: ra.slice(0, 5) }, 3);
  await processBatch(deps, { lane: 'B', records: rb.slice(2) }, 4);
  await processBatch(deps, { lane: 'A', records: ra.slice(3) }, 5);
  await closeIdleWindows({ ...deps, keyStore, pendingStaleAfterMs: 0 }, BASE + 10_000_000);
  const expected = referenceKeyWindows(spec, [...a, ...b].map((t) => ({ ts: BASE + t * S, d: 'a', v: 1 })));
  const actual = live(results.emitted);
  expect([...actual.keys()].sort()).toStrictEqual([...expected.keys()].sort());
  for (const [id, r] of actual) expect(measuresClose(r.measures, expected.get(id)!.measures)).toBe(true);
  expect([...keyStore.sets.values()][0].set.windows.every((w) => w.lanes.length > 0)).toBe(true);
});

test("the idle closer fires a set's windows whose end plus lateness has passed, not a later one of the same key", async () => {
  const { deps, keyStore, results } = setup({ type: 'stagger', sizeSeconds: 60 }, 30);
  await processBatch(deps, { lane: 'l', records: recs([0, 70]) }, 1);
  // Windows [0, 60) and [70, 130): at BASE + 100 s both lanes are idle, and only the first ended 30 s before.
  await closeIdleWindows({ ...deps, keyStore }, BASE + 100 * S);
  expect(results.emitted.map((r) => [(Date.parse(r.windowStart) - BASE) / S, r.version])).toStrictEqual([[0, 1]]);
  await closeIdleWindows({ ...deps, keyStore }, BASE + 160 * S);
  expect(results.emitted.map((r) => [(Date.parse(r.windowStart) - BASE) / S, r.version])).toStrictEqual([[0, 1], [70, 1]]);
});

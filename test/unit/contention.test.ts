/**
 * Conditional-write contention: many lanes writing one window must all get through (jittered exponential backoff,
 * bounded by the invocation's remaining time, not by a count), and a window that cannot be written before the
 * deadline fails its batch for a retry instead of losing anything.
 */
import { processBatch, type BatchDeps } from '../../lambda/app/process-batch';
import type { TimePort, WriteOutcome } from '../../lambda/app/ports';
import { conflictBackoffMs } from '../../lambda/app/window-settlement';
import { compileSpec } from '../../lambda/domain/compiled-spec';
import type { WindowRef } from '../../lambda/domain/window-ref';
import type { StoredWindow } from '../../lambda/domain/window-lifecycle';
import { MemoryRecordSink, MemoryResultSink, sourceRecords } from '../support/harness';
import { specFactory } from '../support/factories';
import { MemoryWindowStore } from '../support/memory-window-store';
import { referenceAggregate } from '../support/reference';

const spec = specFactory({
  name: 'per_site',
  groupBy: ['site'],
  window: { type: 'tumbling', sizeSeconds: 60 },
  allowedLatenessSeconds: 3600,
  measures: [
    { name: 'n', op: 'count' },
    { name: 'total', op: 'sum', field: 'v' },
  ],
});
const compiled = compileSpec(spec);

const realTime: TimePort = { now: () => Date.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)), random: Math.random };

/** A memory store with a round trip of 0–2 ms per call, so that concurrent writers interleave as over a network. */
class SlowStore extends MemoryWindowStore {
  private async trip() {
    await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 3)));
  }
  override async getWindows(refs: readonly WindowRef[]) {
    await this.trip();
    return super.getWindows(refs);
  }
  override async writeWindow(ref: WindowRef, next: StoredWindow, rev: number | undefined, nowMs: number): Promise<WriteOutcome> {
    await this.trip();
    return super.writeWindow(ref, next, rev, nowMs);
  }
}

function deps(store: MemoryWindowStore, time: TimePort = realTime): BatchDeps {
  return { spec: compiled, store, results: new MemoryResultSink(), errors: new MemoryRecordSink(), late: new MemoryRecordSink(), time };
}

describe('write contention', () => {
  test('32 lanes writing one window at once all succeed, and the window counts every record once', async () => {
    const store = new SlowStore();
    const d = deps(store);
    const lanes = Array.from({ length: 32 }, (_, i) => `shardId-${String(i).padStart(12, '0')}`);
    const events = lanes.map((_, i) => Array.from({ length: 5 }, (__, j) => ({ site: 'hq', ts: 1_000 + i * 10 + j, v: i * 5 + j })));
    const nowMs = Date.now();
    const outcomes = await Promise.all(
      lanes.map((lane, i) =>
        processBatch(d, { lane, records: sourceRecords(events[i].map((e) => JSON.stringify(e)), events[i].map(() => 'hq')), deadlineMs: nowMs + 30_000 }, nowMs),
      ),
    );
    expect(outcomes.map((o) => o.failedSequenceNumber)).toEqual(lanes.map(() => undefined));
    expect(outcomes.reduce((n, o) => n + o.stats.conflicts, 0)).toBeGreaterThan(0);

    const expected = referenceAggregate(spec, events.flat());
    expect(expected.size).toBe(1);
    const [w] = [...store.windows.values()];
    const [ref] = [...expected.values()];
    expect(w.stored.state[0]).toBe(ref.measures.n);
    expect(w.stored.state[1]).toBe(ref.measures.total);
    expect(Object.keys(w.stored.fences).sort()).toEqual([...lanes].sort());
  });

  test('the backoff is exponential with full jitter, capped', () => {
    expect(conflictBackoffMs(0, () => 0.999)).toBeLessThan(10);
    expect(conflictBackoffMs(3, () => 0.999)).toBe(79);
    expect(conflictBackoffMs(3, () => 0)).toBe(0);
    expect(conflictBackoffMs(30, () => 0.999)).toBe(999);
  });

  test('a window still conflicting at the deadline fails the batch for a retry, after backing off, never skipping it', async () => {
    class AlwaysConflicting extends MemoryWindowStore {
      attempts = 0;
      override writeWindow(): Promise<WriteOutcome> {
        this.attempts++;
        return Promise.resolve('conflict');
      }
    }
    const store = new AlwaysConflicting();
    // A simulated clock: sleeping moves it, so the deadline is reached without waiting.
    let now = 50_000;
    const slept: number[] = [];
    const time: TimePort = { now: () => now, sleep: (ms) => { slept.push(ms); now += ms; return Promise.resolve(); }, random: () => 0.5 };
    const records = sourceRecords([JSON.stringify({ site: 'hq', ts: 1_000, v: 1 })], ['hq']);
    const outcome = await processBatch(deps(store, time), { lane: 'shardId-1', records, deadlineMs: 60_000 }, 50_000);
    expect(outcome.failedSequenceNumber).toBe(records[0].sequenceNumber);
    // Far more than the old fixed 6 attempts, each after a growing delay, and stopped by the deadline.
    expect(store.attempts).toBeGreaterThan(6);
    expect(slept.slice(0, 4)).toEqual([5, 10, 20, 40]);
    expect(now).toBeLessThanOrEqual(60_000);
    expect(store.windows.size).toBe(0);
    expect(store.watermarks.get('shardId-1')).toBeUndefined();
  });
});

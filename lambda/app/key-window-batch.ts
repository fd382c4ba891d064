/**
 * A batch's records applied to the per-key aggregations (session and stagger windows): the counterpart, for window
 * sets, of the window steps of process-batch.ts. Called by it after the epoch-aligned windows.
 */
import type { KeySlice } from '../domain/key-collect';
import { isTooLate, type KeyWindowRule } from '../domain/key-windows';
import { toIsoUtc } from '../domain/event-time';
import type { LaneState } from '../domain/lane';
import { isAfter, type Position } from '../domain/sequence';
import { eventTimeFiring } from '../domain/window-lifecycle';
import { mapSettled } from './concurrency';
import type { BatchDeps } from './batch-types';
import { ItemBudgetExceededError, type SourceRecord, type TimePort } from './ports';
import { emitAndMarkKeys, settleKeySet, settlePendingKeys, type KeyEmissions, type KeySettlementContext } from './key-window-settlement';
import { DEFAULT_PENDING_STALE_AFTER_MS, type SettlementStats } from './window-settlement';
import { DEFAULT_LANE_IDLE_TIMEOUT_MS } from '../domain/lane';

/** What the batch knows when it comes to the window sets. */
export interface KeyBatchInput {
  readonly lane: string;
  readonly records: readonly SourceRecord[];
  readonly keySlices: ReadonlyMap<string, KeySlice>;
  /** For each valid event, the index of its source record. */
  readonly sourceIndex: readonly number[];
  readonly laneStates: ReadonlyMap<string, LaneState>;
  /** The lane's watermark before and after the batch. */
  readonly before?: number;
  readonly watermark?: number;
  /** Every lane's watermark, this lane's as of the batch. */
  readonly watermarks: ReadonlyMap<string, number>;
  /** The batch's sink object name. */
  readonly objectName: string;
  readonly nowMs: number;
  readonly time: TimePort;
  readonly deadlineMs: number;
}

/** What applying the batch to the window sets came to. */
export interface KeyBatchOutcome {
  /** Index (into the records) of the first record whose set write failed. */
  readonly failedAt?: number;
  readonly emitFailed: boolean;
  readonly lateRecords: number;
  readonly overBudget: number;
}

/**
 * The watermark below which a set may drop old windows: the lowest watermark of the lanes that fed it, leaving out
 * lanes idle for the idle timeout (a closed parent shard would otherwise hold every set it fed for ever); `live`, the
 * lane of the batch at hand, is never taken for idle.
 */
export function pruneMarkOf(
  laneStates: ReadonlyMap<string, LaneState>,
  watermarks: ReadonlyMap<string, number>,
  nowMs: number,
  idleTimeoutMs = DEFAULT_LANE_IDLE_TIMEOUT_MS,
  live?: string,
) {
  return (fences: Readonly<Record<string, Position>>): number | undefined => {
    let mark: number | undefined;
    let any = false;
    for (const lane in fences) {
      const at = laneStates.get(lane)?.lastBatchAt;
      const wm = watermarks.get(lane);
      if (lane !== live && at !== undefined && at <= nowMs - idleTimeoutMs && wm !== undefined) continue;
      if (wm === undefined) return undefined;
      any = true;
      if (mark === undefined || wm < mark) mark = wm;
    }
    return any ? mark : undefined;
  };
}

function lateEntry(slice: KeySlice, rule: KeyWindowRule, before: number, ts: number, lane: string, r: SourceRecord): object {
  return {
    reason:
      `too late: the event's own ${rule.kind === 'session' ? 'session (event time + gap)' : 'stagger window (event time + size)'} ` +
      `plus allowed lateness (${slice.aggregation.def.allowedLatenessSeconds}s) is at or before the watermark`,
    aggregation: slice.aggregation.name,
    watermark: toIsoUtc(before),
    eventTime: toIsoUtc(ts),
    shardId: lane,
    sequenceNumber: r.sequenceNumber,
    subSequenceNumber: r.subSequenceNumber,
    partitionKey: r.partitionKey,
    payload: r.payload,
  };
}

/**
 * Applies the batch to the window sets of the keys it touches, exactly once in effect (each set's lane fence skips
 * records already applied), fires the sets whose due end the lane's watermark passes, and emits what it wrote.
 * Records too late (see {@link isTooLate}) go to the late-data sink before any set is written, like the windows'.
 */
export async function applyKeyBatch(deps: BatchDeps, input: KeyBatchInput, stats: SettlementStats): Promise<KeyBatchOutcome> {
  const { spec, log } = deps;
  const { lane, records, sourceIndex, before, watermark } = input;
  if (spec.keyed.length === 0 || !deps.keyStore) return { emitFailed: false, lateRecords: 0, overBudget: 0 };
  const store = deps.keyStore;
  const slices = [...input.keySlices.values()];
  const byAgg = new Map<string, KeySlice[]>();
  for (const s of slices) byAgg.set(s.aggregation.name, [...(byAgg.get(s.aggregation.name) ?? []), s]);
  const stored = new Map<string, Awaited<ReturnType<typeof store.getKeySets>>>();
  await Promise.all([...byAgg].map(async ([name, list]) => stored.set(name, await store.getKeySets(list[0].aggregation, list.map((s) => s.keyJson), false))));
  const storedOf = (s: KeySlice) => stored.get(s.aggregation.name)?.get(s.keyJson);

  // Late records above the fences read, to the late sink first: a crash after a set's write must not lose them.
  const lateEntries: object[] = [];
  const lateRecords = new Set<number>();
  for (const s of slices) {
    const fence = storedOf(s)?.fences[lane];
    for (const m of s.members) {
      if (!isAfter(m.position, fence) || !isTooLate(s.aggregation.keyRule!, s.aggregation.latenessMs, m.ts, before)) continue;
      lateRecords.add(sourceIndex[m.idx]);
      lateEntries.push(lateEntry(s, s.aggregation.keyRule!, before!, m.ts, lane, records[sourceIndex[m.idx]]));
    }
  }
  if (lateEntries.length > 0) await deps.late.write(`${input.objectName}-keyed`, lateEntries);

  const ctx: KeySettlementContext = {
    store,
    fires: eventTimeFiring(input.watermarks),
    pruneMark: pruneMarkOf(input.laneStates, input.watermarks, input.nowMs, DEFAULT_LANE_IDLE_TIMEOUT_MS, lane),
    nowMs: input.nowMs,
    pendingStaleAfterMs: deps.pendingStaleAfterMs ?? DEFAULT_PENDING_STALE_AFTER_MS,
    stats,
    time: input.time,
    deadlineMs: input.deadlineMs,
    passing: { lane, watermarks: input.watermarks },
  };
  const emissions: KeyEmissions = new Map();
  const written = await mapSettled(slices, 128, (s) =>
    settleKeySet(ctx, s.aggregation, s.keyJson, storedOf(s), (set) => {
      const fence = set.fences[lane];
      const unseen = s.members.filter((m) => isAfter(m.position, fence));
      const events = unseen.filter((m) => !isTooLate(s.aggregation.keyRule!, s.aggregation.latenessMs, m.ts, before));
      if (events.length === 0) return undefined;
      return { lane, events, maxPosition: unseen.reduce((p, m) => (m.position > p ? m.position : p), unseen[0].position) };
    }, emissions),
  );
  let failedAt: number | undefined;
  const overBudget: object[] = [];
  written.forEach((r, i) => {
    if (r.status === 'fulfilled') return;
    const s = slices[i];
    if (r.reason instanceof ItemBudgetExceededError) {
      const fence = storedOf(s)?.fences[lane];
      for (const m of s.members) {
        if (!isAfter(m.position, fence)) continue;
        const rec = records[sourceIndex[m.idx]];
        overBudget.push({
          reason: `window item over budget: aggregation "${s.aggregation.name}" key ${s.keyJson}: ${r.reason.message}`,
          aggregation: s.aggregation.name,
          shardId: lane,
          sequenceNumber: rec.sequenceNumber,
          subSequenceNumber: rec.subSequenceNumber,
          partitionKey: rec.partitionKey,
          payload: rec.payload,
          payloadBase64: rec.payloadBase64,
        });
      }
      log?.warn('key window set over budget', { aggregation: s.aggregation.name, key: s.keyJson, error: r.reason.message });
      return;
    }
    // A loop, not Math.min(...): a key of a batch of KPL aggregates can have more members than a call takes arguments.
    let firstMember = Infinity;
    for (const m of s.members) if (sourceIndex[m.idx] < firstMember) firstMember = sourceIndex[m.idx];
    if (failedAt === undefined || firstMember < failedAt) failedAt = firstMember;
    log?.error('key window set write failed', { aggregation: s.aggregation.name, key: s.keyJson, error: String(r.reason) });
  });
  if (overBudget.length > 0) await deps.errors.write(`${input.objectName}-keyed-over-budget`, overBudget);

  // Sets this batch did not touch whose next due end its watermark passed (filed under this lane).
  if (watermark !== undefined && watermark !== before) {
    await settlePendingKeys(
      ctx,
      spec.keyed,
      () => ({ after: before, atOrBefore: watermark, lane }),
      new Set(slices.map((s) => `${s.aggregation.name}\u0000${s.keyJson}`)),
      emissions,
      log,
    );
  }
  const emitted = await emitAndMarkKeys(ctx, deps.results, emissions, log);
  return { failedAt, emitFailed: !emitted, lateRecords: lateRecords.size, overBudget: overBudget.length };
}

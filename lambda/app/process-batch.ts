import type { CompiledAggregation } from '../domain/compiled-spec';
import { toIsoUtc } from '../domain/event-time';
import { parseEvent } from '../domain/event-parser';
import type { PositionedEvent, WindowSlice } from '../domain/pre-aggregate';
import { EMPTY_LANE, justAfter, redriveVerdict, skippedBefore, withRange, type InFlight, type LaneRange, type LaneState } from '../domain/lane';
import { isAfter } from '../domain/sequence';
import { eventTimeFiring, timeliness, unseenPart, type StoredPartial, type StoredWindow } from '../domain/window-lifecycle';
import { partialId } from '../domain/window-ref';
import { mapSettled } from './concurrency';
import type { BatchDeps, BatchInput, BatchOutcome, BatchStats } from './batch-types';
import { prepare, sinkFolder, sinkObjectName, type Prepared } from './prepare-batch';
import { applyKeyBatch } from './key-window-batch';
import { settlePartial } from './per-shard-settlement';
import { findPendingRefs, settleFound, settlePendingWindows } from './settle-pending';

export type { BatchDeps, BatchInput, BatchOutcome, BatchStats } from './batch-types';
import { ItemBudgetExceededError, type PendingQuery, type SourceRecord, type TimePort } from './ports';
import { inFlightOf, touchLane, updateLane } from './lane-writes';
import { DEFAULT_BATCH_BUDGET_MS, virtualTime } from './time';
import {
  DEFAULT_PENDING_STALE_AFTER_MS,
  emitAndMark,
  settleWindow,
  WRITE_CONCURRENCY,
  type Emissions,
  type SettlementContext,
} from './window-settlement';

/** What applying records to the windows came to. */
interface Applied {
  /** Index (into the applied records) of the first record whose window write failed. */
  readonly failedAt?: number;
  /** The emission failed: every record is to be delivered again. */
  readonly emitFailed: boolean;
  /** The lane's watermark before and after the records. */
  readonly before?: number;
  readonly watermark?: number;
}

/**
 * Applies one batch to the window state, exactly once in effect:
 *
 * 1. With skip detection on, a batch that starts past the lane's in-flight mark follows a range the event source
 *    mapping gave up on: that range is re-read from the stream and applied first, in order, before any fence moves
 *    (or, if the stream no longer holds it, recorded as lost, reported to the errors sink and counted in a metric).
 * 2. Invalid records go to the errors sink, records too late for a window go to the late-data sink.
 * 3. The batch is pre-aggregated in memory; each touched window is read, merged above its lane's fence, and written
 *    back with one conditional write (a conflict backs off, re-reads and merges again, until the deadline).
 * 4. Windows every contributing lane's watermark has passed fire; fired versions are emitted by their writer, then
 *    marked emitted. The pending flag is the outbox: a crash between the write and the emission leaves the window
 *    pending, and once stale a later batch (or the idle closer) emits it under the same id.
 * 5. The lane's item is written last: watermark, applied mark, time of this batch (for the idle closer).
 */
export async function processBatch(deps: BatchDeps, input: BatchInput, nowMs: number): Promise<BatchOutcome> {
  const { store, log } = deps;
  const { lane, records } = input;
  const stats: BatchStats = {
    records: records.length,
    valid: 0,
    invalid: 0,
    lateRecords: 0,
    windowsTouched: 0,
    windowWrites: 0,
    conflicts: 0,
    emitted: 0,
    repairedRecords: 0,
    lostRanges: 0,
  };
  if (records.length === 0) return { stats };
  const time = deps.time ?? virtualTime(nowMs);
  const deadlineMs = input.deadlineMs ?? nowMs + DEFAULT_BATCH_BUDGET_MS;
  const first = records[0];
  const last = records[records.length - 1];

  // The batch is prepared while the lanes' read is in flight (its CPU beside a round trip). It does not depend on the
  // lanes; a batch that re-reads a skipped range is prepared again with it, and a preparation that throws runs again
  // where it fails the batch as before.
  const lanesRead = store.readLanes();
  // Awaited just below; marked as handled so that a failed read is not reported as unhandled while the batch is prepared.
  lanesRead.catch(() => undefined);
  // The SDK builds, signs and writes a request over several promise turns: they run before the preparation takes the
  // thread, so that the read is on the wire while it does.
  await new Promise<void>((resolve) => setImmediate(resolve));
  let prepared: Prepared | undefined;
  try {
    prepared = prepare(deps.spec, lane, records);
  } catch {
    prepared = undefined;
  }
  const lanes = await lanesRead;
  let state = lanes.get(lane) ?? EMPTY_LANE;

  if (input.redrive) {
    const verdict = redriveVerdict(state, first.position, last.position, deps.unseenSkipsPossible ?? false);
    if (!verdict.ok) {
      log?.error('redrive refused', { shardId: lane, from: first.sequenceNumber, to: last.sequenceNumber, reason: verdict.reason });
      return { failedSequenceNumber: first.sequenceNumber, refused: verdict.reason, stats };
    }
  }

  let all: readonly SourceRecord[] = records;
  let repaired: LaneRange | undefined;
  let lost: LaneRange | undefined;
  const skipped = deps.skipDetection ? skippedBefore(state, first.position) : undefined;
  // The in-flight mark follows the event source mapping's position; a redrive runs beside it and leaves it alone.
  const marks = deps.skipDetection === true && !input.redrive;
  try {
    if (skipped) {
      const gap = await readSkipped(deps, input, skipped);
      stats.repairedRecords = gap.records.length;
      // Everything after the applied mark up to this batch is applied once the batch succeeds: the records before the
      // in-flight mark by the attempt that got that far, the rest by this re-read.
      if (gap.records.length > 0) repaired = { from: gap.trimmed ? gap.records[0].position : justAfter(state.applied), before: first.position };
      if (gap.trimmed || !deps.streamReader) {
        lost = { from: skipped.position, before: gap.records[0]?.position ?? first.position };
        stats.lostRanges = 1;
        // In the day's folder, as every errors object: a name outside the `dt=` layout is invisible to the catalog.
        await deps.errors.write(`${sinkFolder(lane, nowMs)}lost-${lost.from}-${lost.before}`, [
          {
            reason:
              'records skipped by the event source mapping (retries or record age exhausted) are no longer in the ' +
              'stream: they were never applied, and the windows they fell in are unknown',
            shardId: lane,
            sequenceNumber: skipped.sequenceNumber,
            fromPosition: lost.from,
            beforePosition: lost.before,
            fromSequenceNumber: skipped.sequenceNumber,
            beforeSequenceNumber: (gap.records[0] ?? first).sequenceNumber,
          },
        ]);
        log?.error('skipped records lost', { shardId: lane, ...lost });
      }
      if (gap.records.length > 0) {
        log?.warn('skipped range re-read from the stream', { shardId: lane, records: gap.records.length, from: skipped.sequenceNumber });
      }
      all = [...gap.records, ...records];
      stats.records = all.length;
    } else if (marks && (state.inFlight === undefined || first.position < state.inFlight.position)) {
      // Marked before any window is written, so that if the mapping gives this batch up, the next batch knows.
      state = await updateLane(store, lane, state, time, deadlineMs, (cur) => ({ ...cur, inFlight: inFlightOf(first), lastBatchAt: nowMs }));
    }

    const applied = await applyRecords(deps, lane, all, lanes, nowMs, stats, time, deadlineMs, all === records ? prepared : undefined);
    if (applied.emitFailed || applied.failedAt !== undefined) {
      // The mapping redelivers from the failed record; a failure inside a re-read range redelivers the whole batch.
      const failedIndex = applied.emitFailed ? 0 : applied.failedAt!;
      const failedRecord = all[failedIndex];
      const inBatch = failedIndex >= all.length - records.length;
      await touchLane(deps, lane, state, time, deadlineMs, nowMs, marks ? (skipped ?? (inBatch ? inFlightOf(failedRecord) : inFlightOf(first))) : undefined);
      return { failedSequenceNumber: (inBatch ? failedRecord : first).sequenceNumber, watermark: applied.before, stats };
    }
    await updateLane(store, lane, state, time, deadlineMs, (cur) => {
      const wm = applied.watermark;
      return {
        ...cur,
        watermark: wm !== undefined && (cur.watermark === undefined || wm > cur.watermark) ? wm : cur.watermark,
        lastBatchAt: Math.max(cur.lastBatchAt ?? 0, nowMs),
        applied: cur.applied === undefined || last.position > cur.applied ? last.position : cur.applied,
        // A batch that got past the mark has applied everything the mark stood for.
        inFlight: cur.inFlight && cur.inFlight.position > last.position ? cur.inFlight : undefined,
        repaired: repaired ? withRange(cur.repaired, repaired) : cur.repaired,
        lost: lost ? withRange(cur.lost, lost) : cur.lost,
      };
    });
    return { watermark: applied.watermark, stats };
  } catch (e) {
    await touchLane(deps, lane, state, time, deadlineMs, nowMs, marks ? (skipped ?? inFlightOf(first)) : undefined);
    throw e;
  }
}

/** Re-reads a skipped range; without a reader (or a stream ARN), nothing can be read and the range is lost. */
async function readSkipped(deps: BatchDeps, input: BatchInput, skipped: InFlight): Promise<{ records: SourceRecord[]; trimmed: boolean }> {
  if (!deps.streamReader || !input.streamArn) return { records: [], trimmed: true };
  const read = await deps.streamReader.readRange(input.streamArn, input.lane, skipped.sequenceNumber, input.records[0].sequenceNumber);
  // A KPL aggregate partly applied before the mark comes back whole; the fences skip its applied part.
  return read;
}

/**
 * The ends of windows a watermark move from `before` to `watermark` passes, as a pending-window query; undefined when it
 * passes none. Windows are epoch-aligned, so their ends are multiples of the hop.
 */
export function dueRange(hopMs: number, before: number | undefined, watermark: number, lane: string): PendingQuery | undefined {
  const lastEnd = watermark - (((watermark % hopMs) + hopMs) % hopMs);
  if (before !== undefined && lastEnd <= before) return undefined;
  return { after: before, atOrBefore: watermark, lane };
}

/** Applies records of a lane to the windows, as described at {@link processBatch} (steps 2 to 4). */
async function applyRecords(
  deps: BatchDeps,
  lane: string,
  records: readonly SourceRecord[],
  laneStates: ReadonlyMap<string, LaneState>,
  nowMs: number,
  stats: BatchStats,
  time: TimePort,
  deadlineMs: number,
  prepared?: Prepared,
): Promise<Applied> {
  const { spec, store, log } = deps;
  const { slices, keySlices, ts, sourceIndex, invalid } = prepared ?? prepare(spec, lane, records);
  /** A valid event again, re-parsed from its record (see {@link prepare}). */
  const eventAt = (i: number): PositionedEvent => {
    const r = records[sourceIndex[i]];
    const parsed = parseEvent(spec, r.payload, r.arrivalMs);
    if (!parsed.ok) throw new Error(`record ${r.sequenceNumber} no longer parses: ${parsed.reason}`);
    return { event: parsed.event, ts: parsed.ts, position: r.position };
  };
  stats.valid = ts.length;
  stats.invalid = invalid.length;
  const objectName = sinkObjectName(lane, records, nowMs);
  // The invalid records' object goes out beside the window reads (one round trip less a batch), and both are awaited
  // before any window is written: a failed write fails the batch with no window moved, as when it went first.
  const invalidWritten = invalid.length > 0 ? deps.errors.write(objectName, invalid) : undefined;

  const watermarks = new Map<string, number>();
  for (const [l, st] of laneStates) if (st.watermark !== undefined) watermarks.set(l, st.watermark);
  const before = watermarks.get(lane);
  let watermark = before;
  for (const t of ts) if (watermark === undefined || t > watermark) watermark = t;

  const live: WindowSlice[] = [];
  const tooLate: WindowSlice[] = [];
  for (const slice of slices.values()) {
    (timeliness(slice, before) === 'too-late' ? tooLate : live).push(slice);
  }
  stats.windowsTouched = live.length;
  // Too-late windows are read as well: a record their fence already covers was counted by an earlier delivery
  // (when it was not yet late), so it must not also land in the late-data sink.
  // Per-shard windows are read as this lane's partial (its own item), the others as their window item.
  const touched = [...live, ...tooLate];
  const single = touched.filter((s) => !s.aggregation.perShard);
  const spread = touched.filter((s) => s.aggregation.perShard);
  // Windows this batch did not touch that its watermark may have closed, and versions left unemitted by a failed
  // attempt: only windows this lane created whose end this batch's watermark moves past. Those below its previous
  // watermark were looked at by the batches that passed them, other lanes' windows by their own lanes' batches; a
  // window several lanes feed that its creator could not fire yet is fired by a later batch that touches it, or by the
  // closer's sweep. So the reads follow the windows the batch makes due, not all pending ones.
  const due = (agg: CompiledAggregation) => (watermark === undefined || watermark === before ? undefined : dueRange(agg.assigner.hopMs, before, watermark, lane));
  // The single-item aggregations' lookup goes out beside the window reads, not after the writes (a round trip less a
  // batch): every window of theirs this batch writes is one it touched, which the lookup's results skip, so the
  // lookup finds what it would after the writes. The per-shard ones' lookup waits for the writes, which may file roots.
  const [early, late] = [spec.aggregations.filter((a) => !a.perShard), spec.aggregations.filter((a) => a.perShard)];
  const [all, partials, , earlyFound] = await Promise.all([
    single.length > 0 ? store.getWindows(single, false) : new Map<string, StoredWindow>(),
    spread.length > 0 ? store.getPartials(spread.map((ref) => ({ ref, lane })), false) : new Map<string, StoredPartial>(),
    invalidWritten,
    findPendingRefs(store, early, due),
  ]);
  const partialOf = (slice: WindowSlice) => partials.get(partialId(slice.aggregation.name, slice.keyJson, slice.start, lane));
  const fenceOf = (slice: WindowSlice) => (slice.aggregation.perShard ? partialOf(slice)?.fence : all.get(slice.id)?.fences[lane]);
  const lateEntries: object[] = [];
  const lateRecords = new Set<number>();
  for (const slice of tooLate) {
    const fence = fenceOf(slice);
    for (const i of slice.members) {
      const r = records[sourceIndex[i]];
      if (!isAfter(r.position, fence)) continue;
      lateRecords.add(sourceIndex[i]);
      lateEntries.push({
        reason: `too late: window end + allowed lateness (${slice.aggregation.def.allowedLatenessSeconds}s) is at or before the watermark`,
        aggregation: slice.aggregation.name,
        windowStart: toIsoUtc(slice.start),
        windowEnd: toIsoUtc(slice.end),
        watermark: toIsoUtc(before!),
        eventTime: toIsoUtc(ts[i]),
        shardId: lane,
        sequenceNumber: r.sequenceNumber,
        subSequenceNumber: r.subSequenceNumber,
        partitionKey: r.partitionKey,
        payload: r.payload,
      });
    }
  }
  stats.lateRecords = lateRecords.size;
  if (lateEntries.length > 0) await deps.late.write(objectName, lateEntries);

  if (watermark !== undefined) watermarks.set(lane, watermark);
  const ctx: SettlementContext = {
    store,
    fires: eventTimeFiring(watermarks),
    nowMs,
    pendingStaleAfterMs: deps.pendingStaleAfterMs ?? DEFAULT_PENDING_STALE_AFTER_MS,
    stats,
    time,
    deadlineMs,
    passing: { lane, watermarks },
  };
  const emissions: Emissions = new Map();
  const changeFor = (slice: WindowSlice, fence: string | undefined) => {
    const part = unseenPart(slice, eventAt, fence);
    // A literal, not `{ lane, ...part }`: a spread costs several times a literal, once per window (about 1,000 a batch).
    return part && { lane, state: part.state, maxPosition: part.maxPosition };
  };
  const written = await mapSettled(live, WRITE_CONCURRENCY, (slice) =>
    slice.aggregation.perShard
      ? settlePartial(ctx, lane, slice, partialOf(slice), (fence) => changeFor(slice, fence), timeliness(slice, before) === 'late', emissions)
      : settleWindow(ctx, slice, all.get(slice.id), (stored) => changeFor(slice, stored?.fences[lane]), emissions),
  );
  let failedAt: number | undefined;
  const overBudget: object[] = [];
  written.forEach((r, i) => {
    if (r.status === 'fulfilled') return;
    if (r.reason instanceof ItemBudgetExceededError) {
      // A window that cannot grow any more keeps its state; its new records are accounted for in the errors sink
      // instead of failing the batch on every retry.
      const slice = live[i];
      // A record under the window's fence was counted by an earlier delivery, before the window filled up.
      const fence = fenceOf(slice);
      for (const m of slice.members) {
        const rec = records[sourceIndex[m]];
        if (!isAfter(rec.position, fence)) continue;
        overBudget.push({
          reason: `window item over budget: aggregation "${slice.aggregation.name}" window ${toIsoUtc(slice.start)} ${r.reason.message}`,
          aggregation: slice.aggregation.name,
          windowStart: toIsoUtc(slice.start),
          windowEnd: toIsoUtc(slice.end),
          shardId: lane,
          sequenceNumber: rec.sequenceNumber,
          subSequenceNumber: rec.subSequenceNumber,
          partitionKey: rec.partitionKey,
          payload: rec.payload,
          payloadBase64: rec.payloadBase64,
        });
      }
      log?.warn('window item over budget', { window: live[i].id, error: r.reason.message });
      return;
    }
    // A loop, not Math.min(...): a window of a batch of KPL aggregates can have more members than a call takes arguments.
    let firstMember = Infinity;
    for (const m of live[i].members) if (sourceIndex[m] < firstMember) firstMember = sourceIndex[m];
    if (failedAt === undefined || firstMember < failedAt) failedAt = firstMember;
    log?.error('window write failed', { window: live[i].id, error: String(r.reason) });
  });

  if (overBudget.length > 0) {
    stats.invalid += overBudget.length;
    await deps.errors.write(`${objectName}-over-budget`, overBudget);
  }

  // The found windows are settled after the touched ones, not beside them: that doubled the batch's writes in flight,
  // and with it two full test runs stalled in the replay harness's concurrent deliveries (cause not found).
  const exclude = new Set(live.filter((s) => !s.aggregation.perShard).map((s) => s.id));
  await settleFound(ctx, early, earlyFound, exclude, emissions, log);
  if (late.length > 0) await settlePendingWindows(ctx, late, due, exclude, emissions, log);

  // Session and stagger windows: one item per key (key-window-batch.ts).
  const keyed = await applyKeyBatch(
    deps,
    { lane, records, keySlices, sourceIndex, laneStates, before, watermark, watermarks, objectName, nowMs, time, deadlineMs },
    stats,
  );
  stats.lateRecords += keyed.lateRecords;
  stats.invalid += keyed.overBudget;
  if (keyed.failedAt !== undefined && (failedAt === undefined || keyed.failedAt < failedAt)) failedAt = keyed.failedAt;

  // The windows stay pending on a failed emission; once stale, a later batch or the idle closer emits them under the
  // same ids.
  const emitted = await emitAndMark(store, deps.results, emissions, stats, log);
  return { failedAt, emitFailed: !emitted || keyed.emitFailed, before, watermark };
}

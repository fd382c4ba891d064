import type { CompiledSpec } from '../domain/compiled-spec';
import { toIsoUtc } from '../domain/event-time';
import { parseEvent } from '../domain/event-parser';
import { PreAggregator, type PositionedEvent, type WindowSlice } from '../domain/pre-aggregate';
import { isAfter } from '../domain/sequence';
import { eventTimeFiring, timeliness, unseenPart, type StoredWindow } from '../domain/window-lifecycle';
import { mapSettled } from './concurrency';
import { ItemBudgetExceededError, type LogPort, type RecordSink, type ResultSink, type SourceRecord, type WindowStore } from './ports';
import {
  DEFAULT_PENDING_STALE_AFTER_MS,
  emitAndMark,
  settlePendingWindows,
  settleWindow,
  WRITE_CONCURRENCY,
  type Emissions,
  type SettlementContext,
} from './window-settlement';

/** Everything the use case talks to. */
export interface BatchDeps {
  readonly spec: CompiledSpec;
  readonly store: WindowStore;
  readonly results: ResultSink;
  readonly errors: RecordSink;
  readonly late: RecordSink;
  readonly log?: LogPort;
  /** @default DEFAULT_PENDING_STALE_AFTER_MS */
  readonly pendingStaleAfterMs?: number;
}

/** One delivery of the stream: records of one shard (the lane), in order. */
export interface BatchInput {
  readonly lane: string;
  readonly records: readonly SourceRecord[];
}

/** Counters of one batch, for logs and metrics. */
export interface BatchStats {
  records: number;
  valid: number;
  invalid: number;
  lateRecords: number;
  windowsTouched: number;
  windowWrites: number;
  conflicts: number;
  emitted: number;
}

/** The outcome of a batch: when set, the sequence number from which the stream must redeliver. */
export interface BatchOutcome {
  readonly failedSequenceNumber?: string;
  readonly watermark?: number;
  readonly stats: BatchStats;
}

interface Prepared {
  /** The batch folded into window slices; slice members index the valid events. */
  readonly slices: Map<string, WindowSlice>;
  /** For each valid event, its event time. */
  readonly ts: number[];
  /** For each valid event, the index of its source record. */
  readonly sourceIndex: number[];
  readonly invalid: object[];
}

/**
 * Parses, validates and pre-aggregates the batch in one pass. Each parsed event is folded as soon as it is parsed and
 * then dropped: keeping 10,000 parsed objects alive until the end of a batch made the garbage collector copy them,
 * which cost more than parsing them. The rare paths that need an event again (a redelivery that overlaps a window's
 * fence) re-parse its payload, which yields the same event.
 */
function prepare(spec: CompiledSpec, lane: string, records: readonly SourceRecord[]): Prepared {
  const aggregator = new PreAggregator(spec);
  const ts: number[] = [];
  const sourceIndex: number[] = [];
  const invalid: object[] = [];
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    const parsed = r.decodeError ? { ok: false as const, reason: r.decodeError } : parseEvent(spec, r.payload, r.arrivalMs);
    if (parsed.ok) {
      aggregator.add(ts.length, parsed.event, parsed.ts, r.position);
      ts.push(parsed.ts);
      sourceIndex.push(i);
    } else {
      invalid.push({
        reason: parsed.reason,
        shardId: lane,
        sequenceNumber: r.sequenceNumber,
        subSequenceNumber: r.subSequenceNumber,
        partitionKey: r.partitionKey,
        payload: r.decodeError ? undefined : r.payload,
        payloadBase64: r.payloadBase64,
      });
    }
  }
  return { slices: aggregator.slices, ts, sourceIndex, invalid };
}

/** A sink object name that a redelivery of the same records reproduces, so a retry overwrites instead of adding. */
function sinkObjectName(lane: string, records: readonly SourceRecord[], nowMs: number): string {
  const day = toIsoUtc(nowMs).slice(0, 10);
  return `dt=${day}/${lane}/${records[0].position}-${records[records.length - 1].position}`;
}

/**
 * Applies one batch to the window state, exactly once in effect:
 *
 * 1. Invalid records go to the errors sink, records too late for a window go to the late-data sink.
 * 2. The batch is pre-aggregated in memory; each touched window is read, merged above its lane's fence, and written
 *    back with one conditional write (a conflict re-reads and merges again).
 * 3. Windows every contributing lane's watermark has passed fire; fired versions are emitted by their writer, then
 *    marked emitted. The pending flag is the outbox: a crash between the write and the emission leaves the window
 *    pending, and once stale a later batch (or the idle closer) emits it under the same id.
 * 4. The lane's watermark advances last.
 */
export async function processBatch(deps: BatchDeps, input: BatchInput, nowMs: number): Promise<BatchOutcome> {
  const { spec, store, log } = deps;
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
  };
  if (records.length === 0) return { stats };

  const { slices, ts, sourceIndex, invalid } = prepare(spec, lane, records);
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
  if (invalid.length > 0) await deps.errors.write(objectName, invalid);

  const watermarks = await store.readWatermarks();
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
  const all = live.length + tooLate.length > 0 ? await store.getWindows([...live, ...tooLate], false) : new Map<string, StoredWindow>();
  const lateEntries: object[] = [];
  const lateRecords = new Set<number>();
  for (const slice of tooLate) {
    const fence = all.get(slice.id)?.fences[lane];
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

  const lanes = new Map(watermarks);
  if (watermark !== undefined) lanes.set(lane, watermark);
  const ctx: SettlementContext = {
    store,
    fires: eventTimeFiring(lanes),
    nowMs,
    pendingStaleAfterMs: deps.pendingStaleAfterMs ?? DEFAULT_PENDING_STALE_AFTER_MS,
    stats,
  };
  const emissions: Emissions = new Map();
  const written = await mapSettled(live, WRITE_CONCURRENCY, (slice) =>
    settleWindow(
      ctx,
      slice,
      all.get(slice.id),
      (stored) => {
        const part = unseenPart(slice, eventAt, stored?.fences[lane]);
        return part && { lane, ...part };
      },
      emissions,
    ),
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
      const fence = all.get(slice.id)?.fences[lane];
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
    const first = Math.min(...live[i].members.map((m) => sourceIndex[m]));
    if (failedAt === undefined || first < failedAt) failedAt = first;
    log?.error('window write failed', { window: live[i].id, error: String(r.reason) });
  });

  if (overBudget.length > 0) {
    stats.invalid += overBudget.length;
    await deps.errors.write(`${objectName}-over-budget`, overBudget);
  }

  // Windows this batch did not touch that its watermark may have closed, and versions left unemitted by a failed
  // attempt.
  if (watermark !== undefined) {
    await settlePendingWindows(ctx, spec.aggregations, () => watermark, new Set(live.map((s) => s.id)), emissions, log);
  }

  if (!(await emitAndMark(store, deps.results, emissions, stats, log))) {
    // The windows stay pending; once stale, a later batch or the idle closer emits them under the same ids.
    return { failedSequenceNumber: records[0].sequenceNumber, watermark: before, stats };
  }
  if (failedAt !== undefined) {
    return { failedSequenceNumber: records[failedAt].sequenceNumber, watermark: before, stats };
  }
  if (watermark !== undefined && (before === undefined || watermark > before)) {
    await store.advanceWatermark(lane, watermark, nowMs);
  }
  return { watermark, stats };
}

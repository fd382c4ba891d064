/** Preparing a batch: parsing, validating and pre-aggregating its records in one pass (see process-batch.ts). */
import type { CompiledSpec } from '../domain/compiled-spec';
import { toIsoUtc } from '../domain/event-time';
import { parseEvent } from '../domain/event-parser';
import { compilePartitionKey, partitionKeyMismatch, type PartitionKeyRule } from '../domain/partition-key';
import { PreAggregator, type WindowSlice } from '../domain/pre-aggregate';
import { KeyCollector, type KeySlice } from '../domain/key-collect';
import type { SourceRecord } from './ports';

/** A batch parsed, validated and folded into window slices. */
export interface Prepared {
  /** The batch folded into window slices; slice members index the valid events. */
  readonly slices: Map<string, WindowSlice>;
  /** The batch's events by key, for the per-key aggregations (session, stagger); empty without any. */
  readonly keySlices: Map<string, KeySlice>;
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
export function prepare(spec: CompiledSpec, lane: string, records: readonly SourceRecord[]): Prepared {
  const aggregator = new PreAggregator(spec);
  const keyed = spec.keyed.length > 0 ? new KeyCollector(spec) : undefined;
  const keyRule = partitionKeyRule(spec);
  const ts: number[] = [];
  const sourceIndex: number[] = [];
  const invalid: object[] = [];
  // The previous valid record while every valid record so far was above the one before it (see isAbove).
  let rising: SourceRecord | undefined;
  let stillRising = true;
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    let parsed = r.decodeError ? { ok: false as const, reason: r.decodeError } : parseEvent(spec, r.payload, r.arrivalMs);
    if (parsed.ok && keyRule) {
      const mismatch = partitionKeyMismatch(keyRule, parsed.event, r.partitionKey);
      if (mismatch) parsed = { ok: false as const, reason: mismatch };
    }
    if (parsed.ok) {
      const above: boolean = stillRising && (rising === undefined || isAbove(r, rising));
      stillRising = above;
      rising = r;
      aggregator.add(ts.length, parsed.event, parsed.ts, r.position, above);
      keyed?.add(ts.length, parsed.event, parsed.ts, r.position);
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
  return { slices: aggregator.finish(), keySlices: keyed?.slices ?? new Map<string, KeySlice>(), ts, sourceIndex, invalid };
}

/**
 * Whether `r`'s position is above `prev`'s. Two plain records' sequence numbers of the same length order as their
 * positions do (equal-length digit strings compare as the numbers, and a position is the number then its
 * sub-sequence, see sequence.ts), and those strings are flat as delivered; the positions are concatenations, which a
 * comparison would flatten first. Anything else compares the positions.
 */
function isAbove(r: SourceRecord, prev: SourceRecord): boolean {
  if (r.subSequenceNumber === 0 && prev.subSequenceNumber === 0 && r.sequenceNumber.length === prev.sequenceNumber.length) {
    return r.sequenceNumber > prev.sequenceNumber;
  }
  return r.position > prev.position;
}

const keyRules = new WeakMap<CompiledSpec, PartitionKeyRule | undefined>();
/** The spec's partition-key rule, compiled once per spec. */
export function partitionKeyRule(spec: CompiledSpec): PartitionKeyRule | undefined {
  if (!keyRules.has(spec)) keyRules.set(spec, compilePartitionKey(spec.spec.partitionKey));
  return keyRules.get(spec);
}

/**
 * The folder of a lane's sink objects on the processing day: the `dt=YYYY-MM-DD/<shard>/` layout the catalog's errors
 * and late-data tables project, so that everything a sink writes is queryable.
 */
export function sinkFolder(lane: string, nowMs: number): string {
  return `dt=${toIsoUtc(nowMs).slice(0, 10)}/${lane}/`;
}

/** A sink object name that a redelivery of the same records reproduces, so a retry overwrites instead of adding. */
export function sinkObjectName(lane: string, records: readonly SourceRecord[], nowMs: number): string {
  return `${sinkFolder(lane, nowMs)}${records[0].position}-${records[records.length - 1].position}`;
}

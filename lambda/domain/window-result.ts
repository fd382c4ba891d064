import * as crypto from 'node:crypto';
import { toMeasureValues, toTopKValues, type MeasureValue } from './aggregate-state';
import type { TopKItem } from './top-k';
import type { KeyValue } from './compiled-spec';
import { toIsoUtc } from './event-time';
import { keyRecord, type WindowRef } from './window-ref';
import type { StoredWindow } from './window-lifecycle';

/**
 * A window result: what the results stream carries and what `pipeline query --json` prints.
 * `final` is true once the watermark has passed the window's end; `version` grows with every correction, and `id`
 * is deterministic in (aggregation, key, window start, version), so that consumers can deduplicate the at-least-once
 * delivery.
 */
export interface WindowResult {
  readonly id: string;
  readonly aggregation: string;
  readonly key: Record<string, KeyValue>;
  readonly windowStart: string;
  readonly windowEnd: string;
  readonly measures: Record<string, MeasureValue>;
  /**
   * The topK measures, when the aggregation has any: each its k most frequent values, most frequent first. Kept apart
   * from `measures` so that those stay numbers (a `map<string,double>` column in the Glue table).
   */
  readonly topK?: Record<string, TopKItem[]>;
  readonly final: boolean;
  readonly version: number;
  /**
   * Session and stagger windows only: the window's stable identity across versions and merges (see key-windows.ts);
   * `version` counts per `sessionId`.
   */
  readonly sessionId?: string;
  /** Session windows only: the ids of the sessions this one absorbed, whose results it replaces; they get no more versions. */
  readonly supersedes?: readonly string[];
}

/** The deterministic id of a window result version. */
export function resultId(aggregation: string, keyJson: string, windowStart: number, version: number): string {
  const text = JSON.stringify([aggregation, keyJson, windowStart, version]);
  // The one-shot crypto.hash (Node >= 20.12) is about three times faster than a Hash object; same digest.
  if (oneShotHash) return oneShotHash('sha256', text, 'hex').slice(0, 32);
  return crypto.createHash('sha256').update(text).digest('hex').slice(0, 32);
}

const oneShotHash = typeof crypto.hash === 'function' ? crypto.hash : undefined;

/**
 * ISO strings of window bounds. A batch emits many windows that share a start and an end (every key's window of the
 * same minute), and formatting a date costs about a microsecond; the cache is dropped when it grows, so it stays small.
 */
const boundIso = new Map<number, string>();
function isoOfBound(ms: number): string {
  let iso = boundIso.get(ms);
  if (iso === undefined) {
    if (boundIso.size >= 4096) boundIso.clear();
    iso = toIsoUtc(ms);
    boundIso.set(ms, iso);
  }
  return iso;
}

/** Builds the result record of a window's current state. */
export function toWindowResult(ref: WindowRef, stored: StoredWindow): WindowResult {
  const topK = toTopKValues(ref.aggregation.layout, stored.state);
  const id = resultId(ref.aggregation.name, ref.keyJson, ref.start, stored.version);
  const aggregation = ref.aggregation.name;
  const key = keyRecord(ref.aggregation, ref.keyJson);
  const windowStart = isoOfBound(ref.start);
  const windowEnd = isoOfBound(ref.end);
  const measures = toMeasureValues(ref.aggregation.layout, stored.state);
  // Two literals, not `...(topK ? { topK } : {})`: the spread went through the runtime once per result. The same
  // properties in the same order either way (the emitted JSON follows it).
  if (topK) return { id, aggregation, key, windowStart, windowEnd, measures, topK, final: stored.version > 0, version: stored.version };
  return { id, aggregation, key, windowStart, windowEnd, measures, final: stored.version > 0, version: stored.version };
}

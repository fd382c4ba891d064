import { createHash } from 'node:crypto';
import { toMeasureValues, type MeasureValue } from './aggregate-state';
import type { KeyValue } from './compiled-spec';
import { toIsoUtc } from './event-time';
import { keyRecord, type WindowRef } from './pre-aggregate';
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
  readonly final: boolean;
  readonly version: number;
}

/** The deterministic id of a window result version. */
export function resultId(aggregation: string, keyJson: string, windowStart: number, version: number): string {
  return createHash('sha256')
    .update(JSON.stringify([aggregation, keyJson, windowStart, version]))
    .digest('hex')
    .slice(0, 32);
}

/** Builds the result record of a window's current state. */
export function toWindowResult(ref: WindowRef, stored: StoredWindow): WindowResult {
  return {
    id: resultId(ref.aggregation.name, ref.keyJson, ref.start, stored.version),
    aggregation: ref.aggregation.name,
    key: keyRecord(ref.aggregation, ref.keyJson),
    windowStart: toIsoUtc(ref.start),
    windowEnd: toIsoUtc(ref.end),
    measures: toMeasureValues(ref.aggregation.layout, stored.state),
    final: stored.version > 0,
    version: stored.version,
  };
}

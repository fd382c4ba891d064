import { toMeasureValues } from './aggregate-state';
import type { CompiledAggregation } from './compiled-spec';
import { toIsoUtc } from './event-time';
import { sha256Hex32, type KeyWindow } from './key-windows';
import { keyRecord } from './window-ref';
import type { WindowResult } from './window-result';

/** The deterministic id of a version of a per-key window's result: consumers deduplicate redeliveries by it. */
export function keyWindowResultId(aggregation: string, keyJson: string, sessionId: string, version: number): string {
  return sha256Hex32(JSON.stringify([aggregation, keyJson, sessionId, version]));
}

/**
 * The result of a per-key window's current version: bounds, measures and the window's `sessionId`; a session that
 * absorbed others lists them in `supersedes` (every version does, so a consumer that missed one still learns of it).
 */
export function keyWindowResult(agg: CompiledAggregation, keyJson: string, w: KeyWindow): WindowResult {
  return {
    id: keyWindowResultId(agg.name, keyJson, w.id, w.version),
    aggregation: agg.name,
    key: keyRecord(agg, keyJson),
    windowStart: toIsoUtc(w.start),
    windowEnd: toIsoUtc(w.end),
    measures: toMeasureValues(agg.layout, w.state),
    final: w.version > 0,
    version: w.version,
    sessionId: w.id,
    ...(w.supersedes.length > 0 ? { supersedes: w.supersedes } : {}),
  };
}

import type { CompiledSpec } from './compiled-spec';
import { parseEventTime } from './event-time';

/** An event that passed validation: every field the spec needs is present and well typed. */
export interface ValidEvent {
  readonly event: Record<string, unknown>;
  /** Event time, epoch milliseconds. */
  readonly ts: number;
}

/** The outcome of parsing one record's payload. */
export type ParseResult = ({ ok: true } & ValidEvent) | { ok: false; reason: string };

/** The first field that is missing or not a string, finite number or boolean, as a reason; undefined if none. */
function checkScalars(
  fields: readonly { readonly field: string; readonly get: (e: Record<string, unknown>) => unknown }[],
  obj: Record<string, unknown>,
  kind: string,
): string | undefined {
  for (const { field, get } of fields) {
    const v = get(obj);
    if (v === undefined || v === null) return `missing ${kind} "${field}"`;
    const t = typeof v;
    if (t !== 'string' && t !== 'boolean' && !(t === 'number' && Number.isFinite(v))) {
      return `invalid ${kind} "${field}": expected a string, number or boolean, got ${describe(v)}`;
    }
  }
  return undefined;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/**
 * Parses a record payload (UTF-8 JSON text) and checks it against the spec. A record is rejected as a whole when any
 * aggregation could not use it, so that every aggregate counts the same events; the reason names the first failing
 * field.
 */
export function parseEvent(spec: CompiledSpec, text: string): ParseResult {
  let event: unknown;
  try {
    event = JSON.parse(text);
  } catch (e) {
    return { ok: false, reason: `invalid JSON: ${(e as Error).message}` };
  }
  if (event === null || typeof event !== 'object' || Array.isArray(event)) {
    return { ok: false, reason: `not a JSON object (got ${describe(event)})` };
  }
  const obj = event as Record<string, unknown>;
  const time = parseEventTime(spec.getEventTime(obj), spec.eventTimeField);
  if (!time.ok) return time;
  const keyProblem = checkScalars(spec.keyFields, obj, 'group-by field');
  if (keyProblem) return { ok: false, reason: keyProblem };
  const scalarProblem = checkScalars(spec.scalarFields, obj, 'distinct-count field');
  if (scalarProblem) return { ok: false, reason: scalarProblem };
  for (const { field, get } of spec.numericFields) {
    const v = get(obj);
    if (v === undefined || v === null) return { ok: false, reason: `missing numeric field "${field}"` };
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      return { ok: false, reason: `invalid numeric field "${field}": expected a finite number, got ${describe(v)}` };
    }
  }
  return { ok: true, event: obj, ts: time.ms };
}

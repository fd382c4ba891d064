import type { CompiledSpec } from './compiled-spec';
import { readEventTime } from './event-time';
import { topKValueProblem } from './top-k';
import { keyJsonOf } from './window-ref';

/** An event that passed validation: every field the spec needs is present and well typed. */
export interface ValidEvent {
  readonly event: Record<string, unknown>;
  /** Event time, epoch milliseconds. */
  readonly ts: number;
}

/** The outcome of parsing one record's payload. */
export type ParseResult = ({ ok: true } & ValidEvent) | { ok: false; reason: string };

/**
 * Largest magnitude of a numeric measure value. With it, no sum can overflow to Infinity before 10^208 records, so
 * every sum stays finite without a per-record check of the running total.
 */
export const MAX_NUMBER_MAGNITUDE = 1e100;
/**
 * Largest UTF-8 size of one group-by value, as its canonical JSON (strings quoted and escaped, lone surrogates as
 * `\\uXXXX`). Keeps a key readable and, with {@link MAX_KEY_JSON_BYTES}, the window's partition key within DynamoDB's.
 */
export const MAX_GROUP_BY_VALUE_BYTES = 512;
/**
 * Largest UTF-8 size of an aggregation's whole key JSON. The partition key is `w#<name>#<key JSON>`, at most
 * 2 + 63 + 1 + 1,024 bytes, well within DynamoDB's 2,048-byte partition key limit.
 * @see https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html#limits-partition-sort-keys
 */
export const MAX_KEY_JSON_BYTES = 1_024;
/**
 * DynamoDB numbers: at most 38 significant digits, magnitudes from 1E-130 to 9.99…E+125. Group-by numbers are stored
 * as DynamoDB numbers in the window item's `key` attribute, so they must be representable there, and the document
 * client refuses JS numbers beyond ±2^53.
 * @see https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html#HowItWorks.DataTypes.Number
 */
export const DYNAMODB_MIN_NUMBER_MAGNITUDE = 1e-130;

/**
 * A string of at most this many UTF-16 units has canonical JSON of at most 6 × 85 + 2 = 512 bytes (the worst case is
 * every unit escaped as \uXXXX), so only longer strings need their JSON measured.
 */
export const SHORT_STRING_UNITS = Math.floor((MAX_GROUP_BY_VALUE_BYTES - 2) / 6);

/** `String.prototype.isWellFormed` (ES2024, Node ≥ 20), not yet in the TypeScript lib this project targets. */
type WellFormed = { isWellFormed(): boolean };

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/** Whether a number can be a group-by value (see {@link DYNAMODB_MIN_NUMBER_MAGNITUDE}). */
function keyNumberOk(v: number): boolean {
  const a = Math.abs(v);
  return a === 0 || (a >= DYNAMODB_MIN_NUMBER_MAGNITUDE && a <= Number.MAX_SAFE_INTEGER);
}

/**
 * Parses a record payload (UTF-8 JSON text) and checks it against the spec. A record is rejected as a whole when any
 * aggregation could not use it, so that every aggregate counts the same events; the reason names the first failing
 * field and the limit it breaks.
 * @param arrivalMs when the record reached the stream (Kinesis ApproximateArrivalTimestamp), epoch ms: the reference of
 *   the event-time bounds, which are not checked without it
 */
export function parseEvent(spec: CompiledSpec, text: string, arrivalMs?: number): ParseResult {
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
  const et = spec.eventTime;
  const time = readEventTime(spec.getEventTime(obj), spec.eventTimeField, et.format, arrivalMs, et.maxFutureMs, et.maxPastMs);
  if (!time.ok) return time;
  // Most events pass every check: the spec's generated check (event-check.ts) says so without the loops of
  // fieldProblem, which runs only to find the reason (or to accept what the quick check leaves to it).
  if (!spec.checkEvent(obj)) {
    const problem = fieldProblem(spec, obj);
    if (problem !== undefined) return { ok: false, reason: problem };
  }
  return { ok: true, event: obj, ts: time.ms };
}

/**
 * The first problem of a parsed object's fields for the spec (the event time aside), or undefined when the spec can
 * use them: the definition of valid fields, which the spec's quick check (event-check.ts) must agree with.
 */
export function fieldProblem(spec: CompiledSpec, obj: Record<string, unknown>): string | undefined {
  let longKey = false;
  for (const { field, get } of spec.keyFields) {
    const v = get(obj);
    if (v === undefined || v === null) return `missing group-by field "${field}"`;
    const t = typeof v;
    if (t === 'string') {
      // A lone surrogate has no UTF-8 form: DynamoDB, S3 and Athena would each store a replacement character, so two
      // different keys would read back as the same one.
      if (!(v as WellFormed).isWellFormed()) {
        return `invalid group-by field "${field}": not well-formed Unicode (a lone surrogate)`;
      }
      if ((v as string).length > SHORT_STRING_UNITS) {
        longKey = true;
        const bytes = Buffer.byteLength(JSON.stringify(v), 'utf8');
        if (bytes > MAX_GROUP_BY_VALUE_BYTES) {
          return `invalid group-by field "${field}": ${bytes} bytes as JSON, over the ${MAX_GROUP_BY_VALUE_BYTES}-byte limit`;
        }
      }
    } else if (t === 'number') {
      if (!Number.isFinite(v) || !keyNumberOk(v as number)) {
        return `invalid group-by field "${field}": ${(v as number).toString()} is not 0 or a magnitude between ${DYNAMODB_MIN_NUMBER_MAGNITUDE} and ${Number.MAX_SAFE_INTEGER} (Number.MAX_SAFE_INTEGER)`;
      }
    } else if (t !== 'boolean') {
      return `invalid group-by field "${field}": expected a string, number or boolean, got ${describe(v)}`;
    }
  }
  if (longKey) {
    for (const agg of spec.allAggregations) {
      const bytes = Buffer.byteLength(keyJsonOf(agg, obj), 'utf8');
      if (bytes > MAX_KEY_JSON_BYTES) {
        return `invalid group-by of aggregation "${agg.name}" (${agg.groupBy.map((g) => g.field).join(', ')}): ${bytes} bytes as key JSON, over the ${MAX_KEY_JSON_BYTES}-byte limit`;
      }
    }
  }
  for (const { field, get } of spec.scalarFields) {
    const v = get(obj);
    if (v === undefined || v === null) return `missing distinct-count field "${field}"`;
    const t = typeof v;
    if (t !== 'string' && t !== 'boolean' && !(t === 'number' && Number.isFinite(v))) {
      return `invalid distinct-count field "${field}": expected a string, number or boolean, got ${describe(v)}`;
    }
  }
  for (const { field, get } of spec.topKFields) {
    const v = get(obj);
    if (v === undefined || v === null) return `missing topK field "${field}"`;
    const problem = topKValueProblem(v);
    if (problem) return `invalid topK field "${field}": ${problem}`;
  }
  for (const { field, get } of spec.numericFields) {
    const v = get(obj);
    if (v === undefined || v === null) return `missing numeric field "${field}"`;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      return `invalid numeric field "${field}": expected a finite number, got ${describe(v)}`;
    }
    if (v > MAX_NUMBER_MAGNITUDE || v < -MAX_NUMBER_MAGNITUDE) {
      return `invalid numeric field "${field}": ${v} is beyond the ±${MAX_NUMBER_MAGNITUDE} limit`;
    }
  }
  return undefined;
}

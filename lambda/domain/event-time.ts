/** The largest event time the pipeline accepts: 9999-12-31T23:59:59.999Z, so ISO keys stay 4-digit years and sort. */
export const MAX_EVENT_TIME_MS = 253_402_300_799_999;

/** How event times are written: ISO-8601 text, epoch milliseconds, epoch seconds, or `auto` (see {@link parseEventTime}). */
export type EventTimeFormat = 'auto' | 'iso' | 'epoch-ms' | 'epoch-s';
/** Every {@link EventTimeFormat}. */
export const EVENT_TIME_FORMATS = ['auto', 'iso', 'epoch-ms', 'epoch-s'] as const;

/**
 * How far before its arrival time a number read by `auto` may lie and still count
 * as a plausible reading: 20 years. A current epoch-seconds value read as milliseconds lands in January 1970, and a
 * current epoch-milliseconds value read as seconds lands tens of thousands of years ahead, so within this window at
 * most one reading is plausible unless `maxFutureSeconds` is set absurdly high.
 */
export const AUTO_PLAUSIBLE_PAST_MS = 20 * 365 * 86_400_000;

// A date-time must carry its zone: Date.parse reads a zone-less date-time in the *local* zone, which would make the
// same event land in different windows on different machines. A plain date is UTC by ECMAScript's rules.
const ISO_8601 = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2}))?$/;

/** The outcome of reading an event time: epoch milliseconds, or why not. */
export type EventTimeResult = { ok: true; ms: number } | { ok: false; reason: string };

/** Bounds and format of event times; every field is optional so that a bare call reads like the original parser. */
export interface EventTimeOptions {
  /** @default 'auto' */
  readonly format?: EventTimeFormat;
  /** When the record reached the stream (Kinesis ApproximateArrivalTimestamp), epoch ms; the future bound's reference. */
  readonly arrivalMs?: number;
  /** Latest accepted event time, relative to `arrivalMs`. Unchecked when `arrivalMs` is unknown. */
  readonly maxFutureMs?: number;
  /** Earliest accepted event time, relative to `arrivalMs`. Unchecked when `arrivalMs` is unknown. @default unbounded */
  readonly maxPastMs?: number;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

/** The two-digit decimal number at `i` (the regex has already checked the digits). */
function two(s: string, i: number): number {
  return (s.charCodeAt(i) - 48) * 10 + s.charCodeAt(i + 1) - 48;
}

/** The digit positions of `YYYY-MM-DDTHH:MM:SS.sssZ`. */
const CANONICAL_DIGITS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22];

/** Whether the character at `i` is a decimal digit. */
function digit(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  return c >= 48 && c <= 57;
}

/**
 * The epoch milliseconds of a valid date-time in exactly the form `toISOString` writes (`YYYY-MM-DDTHH:MM:SS.sssZ`,
 * years 0100 to 9999), or -1 for anything else, which then takes the general path. Why: most producers write this
 * one form, and reading it by offset with `Date.UTC` skips the regex and `Date.parse`'s general parser; the result is
 * the same number (`Date.UTC` reads years below 100 as 19xx, hence the lower bound).
 */
function canonicalIsoMs(v: string): number {
  if (
    v.length !== 24 ||
    v.charCodeAt(23) !== 90 /* Z */ ||
    v.charCodeAt(4) !== 45 /* - */ ||
    v.charCodeAt(7) !== 45 ||
    v.charCodeAt(10) !== 84 /* T */ ||
    v.charCodeAt(13) !== 58 /* : */ ||
    v.charCodeAt(16) !== 58 ||
    v.charCodeAt(19) !== 46 /* . */
  ) {
    return -1;
  }
  for (let k = 0; k < CANONICAL_DIGITS.length; k++) if (!digit(v, CANONICAL_DIGITS[k])) return -1;
  const h = two(v, 11);
  const mi = two(v, 14);
  const sec = two(v, 17);
  if (h > 23 || mi > 59 || sec > 59) return -1;
  const frac = (v.charCodeAt(20) - 48) * 100 + two(v, 21);
  const y = two(v, 0) * 100 + two(v, 2);
  const mo = two(v, 5);
  const d = two(v, 8);
  // The date part repeats from event to event: its validity and its midnight are remembered for the last one seen,
  // by its digits as one number (a string comparison was a builtin call per event).
  const day = y * 10_000 + mo * 100 + d;
  let dayMs: number;
  if (day === lastDay) {
    dayMs = lastDayMs;
  } else {
    if (y < 100 || mo < 1 || mo > 12 || d < 1) return -1;
    if (d > (mo === 2 && isLeap(y) ? 29 : DAYS_IN_MONTH[mo - 1])) return -1;
    dayMs = Date.UTC(y, mo - 1, d);
    lastDay = day;
    lastDayMs = dayMs;
  }
  return dayMs + h * 3_600_000 + mi * 60_000 + sec * 1_000 + frac;
}

/**
 * The date part of the last canonical date-time read, as `YYYYMMDD` (-1 before the first), and its midnight; a date
 * valid by construction.
 */
let lastDay = -1;
let lastDayMs = 0;

/**
 * Strict ISO-8601: every component in its calendar range (Date.parse would roll 2024-02-30 over to March 1). The
 * regex fixes every component's position, so they are read by offset: this runs once per record, and a capturing
 * match would allocate eleven strings each time.
 */
function parseIso(value: string, field: string): EventTimeResult {
  const fast = canonicalIsoMs(value);
  if (fast >= 0) return { ok: true, ms: fast };
  if (!ISO_8601.test(value)) {
    return {
      ok: false,
      reason: `invalid timestamp in "${field}": expected epoch milliseconds or an ISO-8601 string with a zone (Z or +hh:mm), got ${JSON.stringify(value).slice(0, 64)}`,
    };
  }
  const y = two(value, 0) * 100 + two(value, 2);
  const mo = two(value, 5);
  const d = two(value, 8);
  const monthDays = mo === 2 && isLeap(y) ? 29 : DAYS_IN_MONTH[mo - 1];
  let bad = mo < 1 || mo > 12 || d < 1 || d > monthDays;
  if (!bad && value.length > 10) {
    bad = two(value, 11) > 23 || two(value, 14) > 59 || (value.charCodeAt(16) === 58 /* ':' */ && two(value, 17) > 59);
    if (!bad && value.charCodeAt(value.length - 1) !== 90 /* 'Z' */) {
      // The zone is ±hh:mm or ±hhmm at the end.
      const colon = value.charCodeAt(value.length - 3) === 58;
      bad = two(value, value.length - (colon ? 5 : 4)) > 23 || two(value, value.length - 2) > 59;
    }
  }
  if (bad) return { ok: false, reason: `invalid timestamp in "${field}": not a valid date (${JSON.stringify(value).slice(0, 64)})` };
  return { ok: true, ms: Date.parse(value) };
}

/** Which reading of a number `auto` takes: milliseconds or seconds, whichever alone is plausible (see {@link parseEventTime}). */
function autoNumber(n: number, field: string, arrivalMs: number | undefined, maxFutureMs: number | undefined, maxPastMs: number | undefined): EventTimeResult {
  if (arrivalMs === undefined) return { ok: true, ms: n };
  const lo = arrivalMs - (maxPastMs ?? AUTO_PLAUSIBLE_PAST_MS);
  const hi = arrivalMs + (maxFutureMs ?? 0);
  const asMs = n >= lo && n <= hi;
  const asS = n * 1000 >= lo && n * 1000 <= hi;
  if (asMs && asS) {
    return {
      ok: false,
      reason: `ambiguous timestamp in "${field}": ${n} is plausible both as epoch seconds and as epoch milliseconds; set eventTime.format`,
    };
  }
  return { ok: true, ms: asS ? n * 1000 : n };
}

/**
 * Reads an event time.
 *
 * - `iso`: an ISO-8601 string with a zone, every component checked (no 2024-02-30, no 25:00).
 * - `epoch-ms` / `epoch-s`: a number.
 * - `auto` (the default): a string is ISO-8601; a number is read both as milliseconds and as seconds, and a reading is
 *   plausible when it lies between the arrival time minus `maxPastMs` (default
 *   {@link AUTO_PLAUSIBLE_PAST_MS}) and the reference plus `maxFutureMs`. If exactly one reading is plausible it is
 *   taken; if both are, the record is refused as ambiguous; if neither is, the number is read as milliseconds (the
 *   historical rule), and the bounds below then decide.
 *
 * Then the bounds: 1970-01-01 .. 9999-12-31 always; at most `maxFutureMs` after the arrival time when it is known; at
 * least `maxPastMs` before the arrival time when both are set. Only the record's own arrival time is used, never the
 * processing time, so that a redelivery reads a record exactly as the first delivery did. Fractions of a millisecond are truncated, so
 * `[start, end)` boundaries stay exact integers.
 */
export function parseEventTime(value: unknown, field: string, opts: EventTimeOptions = {}): EventTimeResult {
  return readEventTime(value, field, opts.format ?? 'auto', opts.arrivalMs, opts.maxFutureMs, opts.maxPastMs);
}

/**
 * {@link parseEventTime} with positional arguments: the per-record path, which then allocates no options object.
 */
export function readEventTime(
  value: unknown,
  field: string,
  format: EventTimeFormat,
  arrivalMs: number | undefined,
  maxFutureMs: number | undefined,
  maxPastMs: number | undefined,
): EventTimeResult {
  let ms: number;
  if (typeof value === 'number') {
    if (format === 'iso') {
      return { ok: false, reason: `invalid timestamp in "${field}": expected an ISO-8601 string (eventTime.format "iso"), got a number` };
    }
    if (!Number.isFinite(value)) return { ok: false, reason: `invalid timestamp in "${field}": not a valid date` };
    if (format === 'epoch-s') ms = value * 1000;
    else if (format === 'epoch-ms') ms = value;
    else {
      const r = autoNumber(value, field, arrivalMs, maxFutureMs, maxPastMs);
      if (!r.ok) return r;
      ms = r.ms;
    }
  } else if (typeof value === 'string') {
    if (format === 'epoch-ms' || format === 'epoch-s') {
      return { ok: false, reason: `invalid timestamp in "${field}": expected a number (eventTime.format "${format}"), got a string` };
    }
    const r = parseIso(value, field);
    if (!r.ok) return r;
    ms = r.ms;
  } else if (value === undefined || value === null) {
    return { ok: false, reason: `missing event time field "${field}"` };
  } else {
    return { ok: false, reason: `invalid timestamp in "${field}": expected a number or a string, got ${Array.isArray(value) ? 'array' : typeof value}` };
  }
  if (!Number.isFinite(ms)) return { ok: false, reason: `invalid timestamp in "${field}": not a valid date` };
  ms = Math.floor(ms);
  if (ms < 0 || ms > MAX_EVENT_TIME_MS) {
    return { ok: false, reason: `invalid timestamp in "${field}": out of range 1970-01-01..9999-12-31` };
  }
  if (arrivalMs !== undefined && maxFutureMs !== undefined && ms > arrivalMs + maxFutureMs) {
    return {
      ok: false,
      reason: `event time in "${field}" (${toIsoUtc(ms)}) is more than eventTime.maxFutureSeconds (${maxFutureMs / 1000}) after the record's arrival (${toIsoUtc(arrivalMs)})`,
    };
  }
  if (maxPastMs !== undefined && arrivalMs !== undefined && ms < arrivalMs - maxPastMs) {
    return {
      ok: false,
      reason: `event time in "${field}" (${toIsoUtc(ms)}) is more than eventTime.maxPastSeconds (${maxPastMs / 1000}) before the record's arrival (${toIsoUtc(arrivalMs)})`,
    };
  }
  return { ok: true, ms };
}

/** ISO-8601 UTC with milliseconds, the form used in window results and window keys. */
export function toIsoUtc(ms: number): string {
  return new Date(ms).toISOString();
}

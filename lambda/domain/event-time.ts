/** The largest event time the pipeline accepts: 9999-12-31T23:59:59.999Z, so ISO keys stay 4-digit years and sort. */
export const MAX_EVENT_TIME_MS = 253_402_300_799_999;

// A date-time must carry its zone: Date.parse reads a zone-less date-time in the *local* zone, which would make the
// same event land in different windows on different machines. A plain date is UTC by ECMAScript's rules.
const ISO_8601 = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2}))?$/;

/** The outcome of reading an event time: epoch milliseconds, or why not. */
export type EventTimeResult = { ok: true; ms: number } | { ok: false; reason: string };

/**
 * Reads an event time given as epoch milliseconds (a number) or as an ISO-8601 string with a zone.
 * Fractions of a millisecond are truncated, so `[start, end)` boundaries stay exact integers.
 */
export function parseEventTime(value: unknown, field: string): EventTimeResult {
  let ms: number;
  if (typeof value === 'number') {
    ms = value;
  } else if (typeof value === 'string') {
    if (!ISO_8601.test(value)) {
      return {
        ok: false,
        reason: `invalid timestamp in "${field}": expected epoch milliseconds or an ISO-8601 string with a zone (Z or +hh:mm), got ${JSON.stringify(value).slice(0, 64)}`,
      };
    }
    ms = Date.parse(value);
  } else if (value === undefined || value === null) {
    return { ok: false, reason: `missing event time field "${field}"` };
  } else {
    return { ok: false, reason: `invalid timestamp in "${field}": expected a number or a string, got ${typeof value}` };
  }
  if (!Number.isFinite(ms)) return { ok: false, reason: `invalid timestamp in "${field}": not a valid date` };
  ms = Math.floor(ms);
  if (ms < 0 || ms > MAX_EVENT_TIME_MS) {
    return { ok: false, reason: `invalid timestamp in "${field}": out of range 1970-01-01..9999-12-31` };
  }
  return { ok: true, ms };
}

/** ISO-8601 UTC with milliseconds, the form used in window results and window keys. */
export function toIsoUtc(ms: number): string {
  return new Date(ms).toISOString();
}

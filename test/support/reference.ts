/**
 * An independent reference aggregator for tests: deliberately naive (lists of values, windows found by scanning
 * candidate starts) and sharing no code with the aggregator beyond the spec's types.
 */
import type { AggregationSpec } from '../../lambda/domain/spec';
import { referenceTime } from '../../fixtures/event-time';

export { referenceTime };

/** An exact value a sketch measure may miss by its documented error bound. */
export interface Approx {
  readonly approx: number;
  readonly tolerance: number;
}

/** A topK measure's exact frequencies, which its result may miss by the summary's documented bound. */
export interface ExactTopK {
  /** Every value with its exact frequency, keyed by its JSON text (1 and "1" apart). */
  readonly exactTopK: ReadonlyMap<string, number>;
  readonly n: number;
  readonly k: number;
  readonly capacity: number;
}

export interface ReferenceWindow {
  aggregation: string;
  key: Record<string, unknown>;
  windowStart: string;
  windowEnd: string;
  measures: Record<string, number | null | Approx | ExactTopK>;
}

/**
 * Whether a topK result honours the Misra-Gries bound against exact frequencies: sorted, at most k entries, every count
 * a lower bound within `error` of the truth, `error` at most n / (capacity + 1), and no value missing that must rank
 * among those listed (its frequency beats the last listed count by more than the error, or any error when fewer than
 * k are listed).
 */
export function topKWithinBound(got: unknown, want: ExactTopK): boolean {
  if (!Array.isArray(got)) return false;
  const items = got as { value: unknown; count: number; error: number }[];
  const bound = Math.floor(want.n / (want.capacity + 1));
  if (items.length > want.k) return false;
  for (let i = 0; i < items.length; i++) {
    const { value, count, error } = items[i];
    const f = want.exactTopK.get(JSON.stringify(value)) ?? 0;
    if (error > bound || count > f || f > count + error) return false;
    if (i > 0 && items[i - 1].count < count) return false;
  }
  const listed = new Set(items.map((x) => JSON.stringify(x.value)));
  // An empty list says only that every frequency is within the bound.
  const error = items[0]?.error ?? bound;
  const floor = items.length < want.k ? error : items[items.length - 1].count + error;
  for (const [v, f] of want.exactTopK) if (f > floor && !listed.has(v)) return false;
  return true;
}

function get(event: Record<string, unknown>, path: string): unknown {
  return path.split('.').reduce<unknown>((o, p) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[p] : undefined), event);
}

/** The identity a window result is compared by. */
export function windowIdentity(w: { aggregation: string; key: Record<string, unknown>; windowStart: string }): string {
  const key = Object.keys(w.key)
    .sort()
    .map((k) => [k, w.key[k]]);
  return JSON.stringify([w.aggregation, key, w.windowStart]);
}

/**
 * Every window of every aggregation over `events`, with exact measures. `accept(aggregation, windowEndMs, event)` may
 * exclude an event from one window (to model lateness).
 */
export function referenceAggregate(
  spec: AggregationSpec,
  events: readonly Record<string, unknown>[],
  accept: (aggregation: string, windowEndMs: number, event: Record<string, unknown>) => boolean = () => true,
): Map<string, ReferenceWindow> {
  const groups = new Map<string, { w: ReferenceWindow; members: Record<string, unknown>[] }>();
  for (const agg of spec.aggregations) {
    // Per-key windows (session, stagger) have their own reference (test/support/key-window-reference.ts).
    if (agg.window.type === 'session' || agg.window.type === 'stagger') continue;
    const size = agg.window.sizeSeconds * 1000;
    const hop = (agg.window.type === 'hopping' ? agg.window.hopSeconds : agg.window.sizeSeconds) * 1000;
    for (const e of events) {
      const ts = referenceTime(get(e, spec.eventTime.field));
      for (let s = Math.floor((ts - size) / hop) * hop; s <= ts; s += hop) {
        if (!(s <= ts && ts < s + size)) continue;
        if (!accept(agg.name, s + size, e)) continue;
        const key: Record<string, unknown> = {};
        for (const g of agg.groupBy) key[g] = get(e, g);
        const w: ReferenceWindow = {
          aggregation: agg.name,
          key,
          windowStart: new Date(s).toISOString(),
          windowEnd: new Date(s + size).toISOString(),
          measures: {},
        };
        const id = windowIdentity(w);
        if (!groups.has(id)) groups.set(id, { w, members: [] });
        groups.get(id)!.members.push(e);
      }
    }
    for (const { w, members } of groups.values()) {
      if (w.aggregation !== agg.name) continue;
      w.measures = referenceMeasures(agg, members);
    }
  }
  return new Map([...groups].map(([id, g]) => [id, g.w]));
}

/** Exact measures of an aggregation over a window's member events (sketch measures as {@link Approx}). */
export function referenceMeasures(agg: AggregationSpec['aggregations'][number], members: readonly Record<string, unknown>[]): ReferenceWindow['measures'] {
  const out: ReferenceWindow['measures'] = {};
  for (const m of agg.measures) {
    const values = m.op === 'count' ? [] : members.map((e) => get(e, m.field) as number);
    switch (m.op) {
      case 'topK': {
        const exact = new Map<string, number>();
        for (const e of members) exact.set(JSON.stringify(get(e, m.field)), (exact.get(JSON.stringify(get(e, m.field))) ?? 0) + 1);
        // The documented default capacity, restated: 4 × k.
        out[m.name] = { exactTopK: exact, n: members.length, k: m.k, capacity: m.capacity ?? 4 * m.k };
        break;
      }
      case 'distinct': {
        // HyperLogLog's bound: 1.04 / sqrt(2^precision) relative standard error; allow four of them.
        const exact = new Set(members.map((e) => JSON.stringify(get(e, m.field)))).size;
        out[m.name] = { approx: exact, tolerance: Math.max(1, (4 * 1.04 * exact) / Math.sqrt(2 ** m.precision)) };
        break;
      }
      case 'percentile': {
        // The value at rank q·(n−1) of the sorted values (DDSketch's definition of a quantile), within the
        // sketch's relative accuracy.
        const sorted = [...values].sort((a, b) => a - b);
        const exact = sorted[Math.floor(m.quantile * (sorted.length - 1))];
        out[m.name] = { approx: exact, tolerance: m.relativeAccuracy * Math.abs(exact) + 1e-9 };
        break;
      }
      case 'count':
        out[m.name] = members.length;
        break;
      case 'sum':
        out[m.name] = values.reduce((a, b) => a + b, 0);
        break;
      case 'min':
        out[m.name] = Math.min(...values);
        break;
      case 'max':
        out[m.name] = Math.max(...values);
        break;
      case 'avg':
        out[m.name] = values.reduce((a, b) => a + b, 0) / values.length;
        break;
    }
  }
  return out;
}

/**
 * Compares measures with a relative tolerance for floating-point sums taken in another order; a reference value
 * given as {@link Approx} (a sketch measure) may be missed by its tolerance.
 */
export function measuresClose(a: Record<string, unknown>, b: Record<string, unknown>, rel = 1e-9): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) {
    const x = a[k];
    const y = b[k];
    if (y !== null && typeof y === 'object' && 'exactTopK' in y) {
      if (!topKWithinBound(x, y as ExactTopK)) return false;
      continue;
    }
    if (y !== null && typeof y === 'object' && 'approx' in y) {
      const { approx, tolerance } = y as Approx;
      if (typeof x !== 'number' || Math.abs(x - approx) > tolerance) return false;
      continue;
    }
    if (typeof x !== 'number' || typeof y !== 'number') {
      if (x !== y) return false;
      continue;
    }
    if (Math.abs(x - y) > rel * Math.max(1, Math.abs(x), Math.abs(y))) return false;
  }
  return true;
}

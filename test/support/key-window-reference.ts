/**
 * An independent reference for session and stagger windows, computed from the whole event set (sessions) or the
 * arrival order (stagger windows), sharing no code with the aggregator beyond the spec's types.
 */
import type { AggregationSpec } from '../../lambda/domain/spec';
import { referenceTime } from '../../fixtures/event-time';
import { referenceMeasures, type ReferenceWindow } from './reference';

function get(event: Record<string, unknown>, path: string): unknown {
  return path.split('.').reduce<unknown>((o, p) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[p] : undefined), event);
}

/** A reference window, with its bounds in epoch ms for the tests' own checks. */
export interface ReferenceKeyWindow extends ReferenceWindow {
  readonly startMs: number;
  readonly endMs: number;
}

/** The identity per-key windows are compared by: aggregation, key and bounds. */
export function keyWindowIdentity(w: { aggregation: string; key: Record<string, unknown>; windowStart: string; windowEnd: string }): string {
  const key = Object.keys(w.key)
    .sort()
    .map((k) => [k, w.key[k]]);
  return JSON.stringify([w.aggregation, key, w.windowStart, w.windowEnd]);
}

/**
 * The session and stagger windows of every per-key aggregation over `events` (in arrival order), by
 * {@link keyWindowIdentity}. Sessions: each key's events sorted by time, cut at every multiple of maxDuration and
 * wherever two consecutive times are a gap or more apart. Stagger: in arrival order, an event no window covers opens
 * `[t, min(t + size, the next window's start))`.
 */
export function referenceKeyWindows(spec: AggregationSpec, events: readonly Record<string, unknown>[]): Map<string, ReferenceKeyWindow> {
  const out = new Map<string, ReferenceKeyWindow>();
  for (const agg of spec.aggregations) {
    const w = agg.window;
    if (w.type !== 'session' && w.type !== 'stagger') continue;
    const byKey = new Map<string, { key: Record<string, unknown>; list: { ts: number; e: Record<string, unknown> }[] }>();
    for (const e of events) {
      const key: Record<string, unknown> = {};
      for (const g of agg.groupBy) key[g] = get(e, g);
      const k = JSON.stringify(agg.groupBy.map((g) => key[g]));
      if (!byKey.has(k)) byKey.set(k, { key, list: [] });
      byKey.get(k)!.list.push({ ts: referenceTime(get(e, spec.eventTime.field)), e });
    }
    for (const { key, list } of byKey.values()) {
      const windows: { start: number; end: number; last: number; members: Record<string, unknown>[] }[] = [];
      if (w.type === 'session') {
        const gap = w.gapSeconds * 1000;
        const max = w.maxDurationSeconds * 1000;
        const sorted = [...list].sort((a, b) => a.ts - b.ts);
        for (const { ts, e } of sorted) {
          const cur = windows[windows.length - 1];
          if (cur && Math.floor(ts / max) === Math.floor(cur.start / max) && ts - cur.last < gap) {
            cur.last = ts;
            cur.members.push(e);
          } else windows.push({ start: ts, end: 0, last: ts, members: [e] });
        }
        for (const s of windows) s.end = Math.min(s.last + gap, (Math.floor(s.start / max) + 1) * max);
      } else {
        const size = w.sizeSeconds * 1000;
        for (const { ts, e } of list) {
          const covering = windows.find((x) => x.start <= ts && ts < x.end);
          if (covering) covering.members.push(e);
          else {
            const next = Math.min(Infinity, ...windows.filter((x) => x.start > ts).map((x) => x.start));
            windows.push({ start: ts, end: Math.min(ts + size, next), last: ts, members: [e] });
          }
        }
      }
      for (const s of windows) {
        const r: ReferenceKeyWindow = {
          aggregation: agg.name,
          key,
          windowStart: new Date(s.start).toISOString(),
          windowEnd: new Date(s.end).toISOString(),
          measures: referenceMeasures(agg, s.members),
          startMs: s.start,
          endMs: s.end,
        };
        out.set(keyWindowIdentity(r), r);
      }
    }
  }
  return out;
}

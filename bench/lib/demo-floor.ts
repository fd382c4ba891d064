/**
 * P1's floor: the demo spec's aggregations written out by hand, for one batch held in memory, doing only what the
 * results themselves need, as fast as plain code does it. Per record: decode, `JSON.parse`, the fields' types read as
 * literal properties, the event time (canonical ISO strings by their digits), one map entry per aggregation (found
 * again only when a key's window or pane changes) and the measures, the two sketches included; per fired window: its
 * result record with its SHA-256 id. None of what the handler adds for its guarantees: no error or late entries, no
 * positions or members kept for redeliveries, no fences, no window state stored, no lane, no limits on keys or times.
 * So the parse-only reference divided by the floor's time is about the highest P1 a handler of this spec can reach on
 * the machine it runs on.
 *
 * It is checked against the handler (`floorMismatch`) before it is timed: a floor that did less than the handler's
 * results need would not be one.
 */
import * as crypto from 'node:crypto';
import { Buffer } from 'node:buffer';
import { HyperLogLog } from '../../lambda/domain/hyperloglog';
import { QuantileSketch } from '../../lambda/domain/quantile-sketch';
import type { Aggregation, AggregationSpec, Measure } from '../../lambda/domain/spec';

/** A window result as the floor builds it: the fields the handler's results carry. */
export interface FloorResult {
  readonly id: string;
  readonly aggregation: string;
  readonly key: Record<string, string>;
  readonly windowStart: string;
  readonly windowEnd: string;
  readonly measures: Record<string, number | null>;
  readonly final: true;
  readonly version: 1;
}

/** What the floor reads from the spec: names, sizes and sketch settings (the fields are fixed, see {@link DEMO_FIELDS}). */
interface DemoShape {
  readonly tumbling: { readonly name: string; readonly keyField: string; readonly sizeMs: number; readonly names: Record<'count' | 'avg' | 'max' | 'min', string> };
  readonly hopping: {
    readonly name: string;
    readonly keyField: string;
    readonly sizeMs: number;
    readonly hopMs: number;
    readonly names: Record<'count' | 'sum' | 'distinct' | 'percentile', string>;
    readonly precision: number;
    readonly quantile: number;
    readonly relativeAccuracy: number;
  };
}

/** The demo spec's event, as the floor reads it: by literal property names, the fastest loads there are. */
interface DemoEvent {
  readonly deviceId?: unknown;
  readonly site?: unknown;
  readonly temperature?: unknown;
  readonly ts?: unknown;
}

/** The demo spec's fields, which the floor reads as literal properties (see {@link DemoEvent}). */
const DEMO_FIELDS = { key: 'deviceId', site: 'site', value: 'temperature', time: 'ts' } as const;

function measureOf<Op extends Measure['op']>(agg: Aggregation, op: Op): Measure & { op: Op } {
  const m = agg.measures.find((x) => x.op === op);
  if (!m) throw new Error(`demo floor: aggregation "${agg.name}" has no ${op} measure`);
  return m as Measure & { op: Op };
}

/**
 * Reads the demo spec's shape: a tumbling aggregation (count, avg, max, min of one field) and a hopping one (count,
 * sum, distinct, percentile), each grouped by one field. Throws, naming what differs, for any other spec.
 */
export function demoShape(spec: AggregationSpec): DemoShape {
  const [t, h] = spec.aggregations;
  const ops = (a: Aggregation | undefined) => a?.measures.map((m) => m.op).join(',');
  if (spec.aggregations.length !== 2 || t.window.type !== 'tumbling' || h.window.type !== 'hopping' || ops(t) !== 'count,avg,max,min' || ops(h) !== 'count,sum,distinct,percentile' || t.groupBy.length !== 1 || h.groupBy.length !== 1) {
    throw new Error(`demo floor: written for the demo spec's two aggregations, got ${spec.aggregations.map((a) => `${a.name} (${a.window.type}: ${ops(a)})`).join(', ')}`);
  }
  const avg = measureOf(t, 'avg');
  const fields = [avg.field, measureOf(t, 'max').field, measureOf(t, 'min').field, measureOf(h, 'sum').field, measureOf(h, 'percentile').field];
  if (new Set(fields).size !== 1) throw new Error(`demo floor: expects every numeric measure over one field, got ${fields.join(', ')}`);
  const distinct = measureOf(h, 'distinct');
  const pct = measureOf(h, 'percentile');
  const read = { key: t.groupBy[0], site: h.groupBy[0], value: avg.field, time: spec.eventTime.field, distinct: distinct.field };
  const expected = { ...DEMO_FIELDS, distinct: DEMO_FIELDS.key };
  for (const [k, v] of Object.entries(expected)) {
    if (read[k as keyof typeof read] !== v) throw new Error(`demo floor: written for the demo spec's fields ${JSON.stringify(expected)}, got ${JSON.stringify(read)}`);
  }
  if (h.window.type !== 'hopping') throw new Error('unreachable');
  return {
    tumbling: {
      name: t.name,
      keyField: t.groupBy[0],
      sizeMs: t.window.sizeSeconds * 1000,
      names: { count: measureOf(t, 'count').name, avg: avg.name, max: measureOf(t, 'max').name, min: measureOf(t, 'min').name },
    },
    hopping: {
      name: h.name,
      keyField: h.groupBy[0],
      sizeMs: h.window.sizeSeconds * 1000,
      hopMs: h.window.hopSeconds * 1000,
      names: { count: measureOf(h, 'count').name, sum: measureOf(h, 'sum').name, distinct: distinct.name, percentile: pct.name },
      precision: distinct.precision,
      quantile: pct.quantile,
      relativeAccuracy: pct.relativeAccuracy,
    },
  };
}

interface Tumbling {
  readonly key: string;
  readonly start: number;
  count: number;
  sum: number;
  max: number;
  min: number;
}

interface Pane {
  readonly key: string;
  readonly start: number;
  count: number;
  sum: number;
  readonly hll: HyperLogLog;
  readonly sketch: QuantileSketch;
}

// The one-shot hash where there is one, as the handler hashes (Node >= 20.12).
const sha256Hex = typeof crypto.hash === 'function' ? (text: string) => crypto.hash('sha256', text, 'hex') : (text: string) => crypto.createHash('sha256').update(text).digest('hex');

function resultId(aggregation: string, key: string, start: number): string {
  // The results' id contract (aggregation, key JSON, start, version), version 1: a first firing.
  return sha256Hex(JSON.stringify([aggregation, JSON.stringify([key]), start, 1])).slice(0, 32);
}

const two = (v: string, i: number) => (v.charCodeAt(i) - 48) * 10 + v.charCodeAt(i + 1) - 48;

/** `YYYY-MM-DDTHH:MM:SS.sssZ` by its digits, anything else through `Date.parse`. */
function isoMs(v: string): number {
  if (v.length !== 24 || v.charCodeAt(23) !== 90 || v.charCodeAt(10) !== 84) return Date.parse(v);
  return Date.UTC(two(v, 0) * 100 + two(v, 2), two(v, 5) - 1, two(v, 8), two(v, 11), two(v, 14), two(v, 17), (v.charCodeAt(20) - 48) * 100 + two(v, 21));
}

/** Aggregates one batch of base64 payloads with the demo spec and returns the results of the windows it fires. */
export function demoFloor(shape: DemoShape, payloads: readonly string[]): FloorResult[] {
  const { tumbling: tu, hopping: ho } = shape;
  const windows = new Map<string, Tumbling>();
  const panes = new Map<string, Pane>();
  // Each key's current window and pane: consecutive events of a key mostly share them, so the maps are read only
  // when one ends (the same shortcut a handler may take).
  const lastWindow = new Map<string, Tumbling>();
  const lastPane = new Map<string, Pane>();
  let watermark = -Infinity;
  for (const data of payloads) {
    let e: DemoEvent;
    try {
      e = JSON.parse(Buffer.from(data, 'base64').toString('utf8')) as DemoEvent;
    } catch {
      continue;
    }
    if (e === null || typeof e !== 'object' || Array.isArray(e)) continue;
    const key = e.deviceId;
    const site = e.site;
    const value = e.temperature;
    const rawTs = e.ts;
    if (typeof key !== 'string' || typeof site !== 'string' || typeof value !== 'number' || !Number.isFinite(value)) continue;
    const ts = typeof rawTs === 'string' ? isoMs(rawTs) : rawTs;
    if (typeof ts !== 'number' || !Number.isFinite(ts)) continue;
    if (ts > watermark) watermark = ts;

    let w = lastWindow.get(key);
    if (w === undefined || ts < w.start || ts >= w.start + tu.sizeMs) {
      const start = ts - (((ts % tu.sizeMs) + tu.sizeMs) % tu.sizeMs);
      const id = `${key}\u0000${start}`;
      w = windows.get(id);
      if (w === undefined) {
        w = { key, start, count: 0, sum: 0, max: value, min: value };
        windows.set(id, w);
      }
      lastWindow.set(key, w);
    }
    w.count++;
    w.sum += value;
    if (value > w.max) w.max = value;
    if (value < w.min) w.min = value;

    let p = lastPane.get(site);
    if (p === undefined || ts < p.start || ts >= p.start + ho.hopMs) {
      const start = ts - (((ts % ho.hopMs) + ho.hopMs) % ho.hopMs);
      const id = `${site}\u0000${start}`;
      p = panes.get(id);
      if (p === undefined) {
        p = { key: site, start, count: 0, sum: 0, hll: new HyperLogLog(ho.precision), sketch: new QuantileSketch(ho.relativeAccuracy) };
        panes.set(id, p);
      }
      lastPane.set(site, p);
    }
    p.count++;
    p.sum += value;
    p.hll.add(key);
    p.sketch.add(value);
  }

  const out: FloorResult[] = [];
  const iso = (ms: number) => new Date(ms).toISOString();
  for (const w of windows.values()) {
    const end = w.start + tu.sizeMs;
    if (end > watermark) continue;
    const n = tu.names;
    out.push({
      id: resultId(tu.name, w.key, w.start),
      aggregation: tu.name,
      key: { [tu.keyField]: w.key },
      windowStart: iso(w.start),
      windowEnd: iso(end),
      measures: { [n.count]: w.count, [n.avg]: w.sum / w.count, [n.max]: w.max, [n.min]: w.min },
      final: true,
      version: 1,
    });
  }
  // A hopping window is the merge of its panes, in pane order, as any pane-based aggregator merges them.
  const byKey = new Map<string, Pane[]>();
  for (const p of panes.values()) {
    const list = byKey.get(p.key);
    if (list) list.push(p);
    else byKey.set(p.key, [p]);
  }
  const perWindow = ho.sizeMs / ho.hopMs;
  for (const [key, list] of byKey) {
    list.sort((a, b) => a.start - b.start);
    const starts = new Set<number>();
    for (const p of list) for (let i = 0; i < perWindow; i++) starts.add(p.start - i * ho.hopMs);
    for (const start of [...starts].sort((a, b) => a - b)) {
      const end = start + ho.sizeMs;
      if (end > watermark) continue;
      let count = 0;
      let sum = 0;
      const hll = new HyperLogLog(ho.precision);
      const sketch = new QuantileSketch(ho.relativeAccuracy);
      for (const p of list) {
        if (p.start < start || p.start >= end) continue;
        count += p.count;
        sum += p.sum;
        hll.merge(p.hll);
        sketch.merge(p.sketch);
      }
      const n = ho.names;
      out.push({
        id: resultId(ho.name, key, start),
        aggregation: ho.name,
        key: { [ho.keyField]: key },
        windowStart: iso(start),
        windowEnd: iso(end),
        measures: { [n.count]: count, [n.sum]: sum, [n.distinct]: Math.round(hll.estimate()), [n.percentile]: sketch.quantile(ho.quantile) },
        final: true,
        version: 1,
      });
    }
  }
  return out;
}

/** Relative difference allowed between two sums of the same values added in a different order. */
const SUM_TOLERANCE = 1e-9;

/**
 * The first difference between the floor's results and the handler's, or undefined when they agree: the same windows,
 * ids, keys, bounds and measures (sums and averages up to the order of their additions).
 */
export function floorMismatch(floor: readonly FloorResult[], handler: readonly unknown[]): string | undefined {
  if (floor.length !== handler.length) return `the floor fired ${floor.length} windows, the handler ${handler.length}`;
  const byId = new Map(floor.map((r) => [r.id, r]));
  for (const h of handler as FloorResult[]) {
    const f = byId.get(h.id);
    if (!f) return `the handler's result ${JSON.stringify(h)} has no counterpart in the floor`;
    const same = (a: unknown, b: unknown) => a === b || (typeof a === 'number' && typeof b === 'number' && Math.abs(a - b) <= SUM_TOLERANCE * Math.max(1, Math.abs(a)));
    const fields = [f.aggregation === h.aggregation, JSON.stringify(f.key) === JSON.stringify(h.key), f.windowStart === h.windowStart, f.windowEnd === h.windowEnd, f.final === h.final, f.version === h.version];
    const measures = Object.keys(f.measures).length === Object.keys(h.measures).length && Object.entries(f.measures).every(([k, v]) => same(v, h.measures[k]));
    if (!fields.every(Boolean) || !measures) return `window ${h.id}: floor ${JSON.stringify(f)}, handler ${JSON.stringify(h)}`;
  }
  return undefined;
}

/**
 * Session and stagger windows, table-driven: each case applies events (in arrival order, possibly over several
 * batches) to an empty key and states the windows that must result, computed by hand from the definitions in
 * lambda/domain/key-windows.ts.
 */
import { compileMeasureLayout, emptyState, toMeasureValues } from '../../lambda/domain/aggregate-state';
import { applyEvents, fireDue, isTooLate, keyWindowId, prune, type KeyContext, type KeyWindow } from '../../lambda/domain/key-windows';
import { parseAggregationSpec, SpecValidationError, type Aggregation } from '../../lambda/domain/spec';
import { aggregationFactory, specInputFactory } from '../support/factories';

const S = 1000;
const agg = (window: Aggregation['window']): Aggregation =>
  parseAggregationSpec(specInputFactory(aggregationFactory({ window, measures: [{ name: 'n', op: 'count' }, { name: 's', op: 'sum', field: 'v' }] }))).aggregations[0];

function ctxOf(window: Aggregation['window']): KeyContext {
  const a = agg(window);
  const rule = window.type === 'session' ? { kind: 'session' as const, gapMs: window.gapSeconds * S, maxMs: window.maxDurationSeconds * S } : { kind: 'stagger' as const, sizeMs: (window as { sizeSeconds: number }).sizeSeconds * S };
  return { aggregation: a.name, keyJson: '["k"]', rule, layout: compileMeasureLayout(a) };
}

/** Applies batches of event times (seconds), each event with v = 1. */
function run(ctx: KeyContext, batches: number[][], start: KeyWindow[] = []): KeyWindow[] {
  let ws = start;
  for (const b of batches) ws = applyEvents(ctx, ws, 'lane-a', b.map((t) => ({ ts: t * S, event: { ts: t * S, v: 1 } })));
  return ws;
}

const bounds = (ctx: KeyContext, ws: readonly KeyWindow[]) => ws.map((w) => [w.start / S, w.end / S, toMeasureValues(ctx.layout, w.state).n]);

const SESSION = { type: 'session', gapSeconds: 10, maxDurationSeconds: 100 } as const;
const STAGGER = { type: 'stagger', sizeSeconds: 10 } as const;

describe('session windows', () => {
  test.each<[string, number[][], (number | null)[][]]>([
    ['one event opens a session of one gap', [[5]], [[5, 15, 1]]],
    ['events less than a gap apart extend it', [[5, 14, 23]], [[5, 33, 3]]],
    ['a gap of exactly gapSeconds splits (half-open)', [[5, 15]], [[5, 15, 1], [15, 25, 1]]],
    ['the session is cut at the multiple of maxDuration', [[95, 99, 101]], [[95, 100, 2], [101, 111, 1]]],
    ['an event at the cut opens the next one', [[92, 100]], [[92, 100, 1], [100, 110, 1]]],
    ['an out-of-order event before the start extends it backwards', [[30], [25]], [[25, 40, 2]]],
    ['an out-of-order event bridges two sessions: they merge', [[10, 28], [19]], [[10, 38, 3]]],
    ['an event exactly a gap from both does not bridge', [[10, 30], [20]], [[10, 20, 1], [20, 30, 1], [30, 40, 1]]],
    ['a bridge across the cut does not merge', [[95, 105], [99]], [[95, 100, 2], [105, 115, 1]]],
    ['one event may bridge three sessions', [[0, 18, 36], [9, 27]], [[0, 46, 5]]],
  ])('%s', (_name, batches, expected) => {
    const ctx = ctxOf(SESSION);
    expect(bounds(ctx, run(ctx, batches))).toStrictEqual(expected);
  });

  test('a merge keeps the earlier session id and lists the absorbed one in supersedes', () => {
    const ctx = ctxOf(SESSION);
    const before = run(ctx, [[10, 28]]);
    const [a, b] = before;
    expect(a.id).toBe(keyWindowId(ctx.aggregation, ctx.keyJson, 10 * S));
    const after = run(ctx, [[19]], before);
    expect(after).toHaveLength(1);
    expect(after[0].id).toBe(a.id);
    expect(after[0].supersedes).toStrictEqual([b.id]);
    expect(after[0].lanes).toStrictEqual(['lane-a']);
  });

  test('a fired session that absorbs another is corrected (version + 1); supersession is transitive', () => {
    const ctx = ctxOf(SESSION);
    const fired = fireDue(run(ctx, [[10, 28, 46]]), (end) => end <= 41 * S);
    expect(fired.map((w) => w.version)).toStrictEqual([1, 1, 0]);
    const once = run(ctx, [[19]], [...fired]);
    expect(once.map((w) => w.version)).toStrictEqual([2, 0]);
    const twice = run(ctx, [[37]], once);
    expect(twice).toHaveLength(1);
    expect(twice[0].version).toBe(3);
    expect(twice[0].supersedes).toStrictEqual([fired[1].id, fired[2].id].sort());
  });

  test('an unchanged fired session keeps its version', () => {
    const ctx = ctxOf(SESSION);
    const fired = fireDue(run(ctx, [[10]]), () => true);
    expect(run(ctx, [[50]], [...fired]).map((w) => w.version)).toStrictEqual([1, 0]);
  });
});

describe('stagger windows', () => {
  test.each<[string, number[][], (number | null)[][]]>([
    ['the first event opens a window of sizeSeconds', [[3]], [[3, 13, 1]]],
    ['events inside it count in it', [[3, 7, 12]], [[3, 13, 3]]],
    ['the next window opens at the first event at or after the end', [[3, 13, 14]], [[3, 13, 1], [13, 23, 2]]],
    ['no window while the key is silent', [[3, 40]], [[3, 13, 1], [40, 50, 1]]],
    ['an out-of-order event no window covers opens one cut at the next start', [[10], [5]], [[5, 10, 1], [10, 20, 1]]],
    ['an out-of-order event a window covers joins it', [[10, 15], [12]], [[10, 20, 3]]],
    ['an out-of-order event between windows opens a full one if it fits', [[0, 30], [12]], [[0, 10, 1], [12, 22, 1], [30, 40, 1]]],
  ])('%s', (_name, batches, expected) => {
    const ctx = ctxOf(STAGGER);
    expect(bounds(ctx, run(ctx, batches))).toStrictEqual(expected);
  });
});

describe('lateness and pruning', () => {
  const rule = { kind: 'session' as const, gapMs: 10 * S, maxMs: 100 * S };
  test.each<[string, number, number | undefined, boolean]>([
    ['no watermark yet: never late', 0, undefined, false],
    ['own session ends after the watermark', 95, 100, false],
    ['own session ends at the watermark', 90, 100, true],
    ['lateness extends it', 85, 100, false],
  ])('%s', (_name, t, wm, late) => {
    expect(isTooLate(rule, _name === 'lateness extends it' ? 10 * S : 0, t * S, wm === undefined ? undefined : wm * S)).toBe(late);
  });

  test('a window is dropped once emitted and a gap plus the lateness behind the watermark', () => {
    const w = (end: number, version: number, emitted: number): KeyWindow => ({ id: String(end), start: end - 10 * S, last: end - 10 * S, end: end * S, state: emptyState(ctxOf(SESSION).layout), version, emitted, lanes: ['a'], supersedes: [] });
    const ws = [w(10, 1, 1), w(30, 1, 1), w(40, 1, 0), w(50, 0, 0)];
    expect(prune(ws, rule, 5 * S, 44 * S).map((x) => x.id)).toStrictEqual(['30', '40', '50']);
    expect(prune(ws, rule, 5 * S, 45 * S).map((x) => x.id)).toStrictEqual(['40', '50']);
    expect(prune(ws, rule, 5 * S, undefined)).toBe(ws);
  });
});

describe('spec validation', () => {
  const bad = (window: unknown, extra: Record<string, unknown> = {}) => () =>
    parseAggregationSpec(specInputFactory(aggregationFactory({ window: window as Aggregation['window'], ...extra })));
  test.each<[string, unknown, Record<string, unknown>, string]>([
    ['gap above an hour', { type: 'session', gapSeconds: 3601, maxDurationSeconds: 7200 }, {}, 'aggregations[0].window.gapSeconds'],
    ['max duration below the gap', { type: 'session', gapSeconds: 60, maxDurationSeconds: 30 }, {}, 'aggregations[0].window.maxDurationSeconds'],
    ['max duration missing', { type: 'session', gapSeconds: 60 }, {}, 'aggregations[0].window.maxDurationSeconds'],
    ['typo in a session field', { type: 'session', gapSecond: 60, maxDurationSeconds: 600 }, {}, 'did you mean "gapSeconds"'],
    ['stagger without size', { type: 'stagger' }, {}, 'aggregations[0].window.sizeSeconds'],
    ['stagger over a day', { type: 'stagger', sizeSeconds: 86_401 }, {}, 'aggregations[0].window.sizeSeconds'],
    [
      'sketches times the sessions an item keeps are over the budget',
      { type: 'session', gapSeconds: 1, maxDurationSeconds: 60 },
      { allowedLatenessSeconds: 600, measures: [{ name: 'u', op: 'distinct', field: 'u', precision: 14 }] },
      'aggregations[0].allowedLatenessSeconds',
    ],
  ])('%s', (_name, window, extra, message) => {
    expect(bad(window, extra)).toThrow(SpecValidationError);
    expect(bad(window, extra)).toThrow(message);
  });

  test('well-formed session and stagger windows pass', () => {
    expect(bad({ type: 'session', gapSeconds: 30, maxDurationSeconds: 3600 })).not.toThrow();
    expect(bad({ type: 'stagger', sizeSeconds: 60 })).not.toThrow();
  });
});

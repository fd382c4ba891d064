
import { fc, test } from '@fast-check/jest';
import { emptyState, mergeInto, toMeasureValues } from '../../lambda/domain/aggregate-state';
import { compileSpec } from '../../lambda/domain/compiled-spec';
import { toIsoUtc } from '../../lambda/domain/event-time';
import { preAggregate, type PositionedEvent } from '../../lambda/domain/pre-aggregate';
import { keyRecord } from '../../lambda/domain/window-ref';
import { positionOf } from '../../lambda/domain/sequence';
import { measuresClose, referenceAggregate, windowIdentity } from '../support/reference';
import { specFactory } from '../support/factories';

const spec = specFactory(
  {
    name: 'by_device',
    groupBy: ['d'],
    window: { type: 'tumbling', sizeSeconds: 10 },
    measures: [
      { name: 'n', op: 'count' },
      { name: 's', op: 'sum', field: 'v' },
      { name: 'lo', op: 'min', field: 'v' },
      { name: 'hi', op: 'max', field: 'v' },
      { name: 'mean', op: 'avg', field: 'v' },
    ],
  },
  {
    name: 'by_site_zone',
    groupBy: ['site', 'zone'],
    window: { type: 'hopping', sizeSeconds: 30, hopSeconds: 10 },
    measures: [
      { name: 'n', op: 'count' },
      { name: 'hi', op: 'max', field: 'v' },
      // Sketches, which a hopping window merges from its panes.
      { name: 'devices', op: 'distinct', field: 'd' },
      { name: 'p90', op: 'percentile', field: 'v', quantile: 0.9 },
    ],
  },
);
const compiled = compileSpec(spec);

const eventArb = fc.record({
  d: fc.constantFrom('a', 'b', 'c'),
  site: fc.constantFrom('s1', 's2'),
  zone: fc.integer({ min: 1, max: 2 }),
  ts: fc.integer({ min: 0, max: 120_000 }),
  v: fc.double({ min: -1000, max: 1000, noNaN: true, noDefaultInfinity: true }),
});

function positioned(events: Record<string, unknown>[]): PositionedEvent[] {
  return events.map((event, i) => ({ event, ts: event.ts as number, position: positionOf(String(i + 1)) }));
}

describe('pre-aggregation against the reference model', () => {
  test.prop([fc.array(eventArb, { maxLength: 200 })])('one batch: every window and measure matches', (events) => {
    const slices = preAggregate(compiled, positioned(events));
    const expected = referenceAggregate(spec, events);
    expect(slices.size).toBe(expected.size);
    for (const s of slices.values()) {
      const id = windowIdentity({ aggregation: s.aggregation.name, key: keyRecord(s.aggregation, s.keyJson), windowStart: toIsoUtc(s.start) });
      const ref = expected.get(id);
      expect(ref).toBeDefined();
      expect(toIsoUtc(s.end)).toBe(ref!.windowEnd);
      expect(measuresClose(toMeasureValues(s.aggregation.layout, s.state), ref!.measures)).toBe(true);
    }
  });

  test.prop([fc.array(eventArb, { maxLength: 120 }), fc.integer({ min: 0, max: 120 })])('merging the partial aggregates of any split equals aggregating everything at once', (events, cut) => {
    const all = preAggregate(compiled, positioned(events));
    const left = preAggregate(compiled, positioned(events.slice(0, cut)));
    const right = preAggregate(compiled, positioned(events.slice(cut)));
    // No window appears in a part that is not in the whole (the loop below only visits the whole's).
    for (const id of [...left.keys(), ...right.keys()]) expect(all.has(id)).toBe(true);
    for (const [id, s] of all) {
      const merged = emptyState(s.aggregation.layout);
      if (left.has(id)) mergeInto(s.aggregation.layout, merged, left.get(id)!.state);
      if (right.has(id)) mergeInto(s.aggregation.layout, merged, right.get(id)!.state);
      expect(measuresClose(toMeasureValues(s.aggregation.layout, merged), toMeasureValues(s.aggregation.layout, s.state))).toBe(true);
    }
  });

  test.prop([fc.array(eventArb, { maxLength: 150 }).chain((events) => fc.tuple(fc.constant(events), fc.shuffledSubarray(events.map((_, i) => i + 1), { minLength: events.length })))])(
    'each slice lists exactly the events of its key and window, with their least and greatest positions (in any position order)',
    ([events, order]) => {
      // Positions in a shuffled order, so that the least and greatest are not simply the first and last members.
      const input: PositionedEvent[] = events.map((event, i) => ({ event, ts: event.ts, position: positionOf(String(order[i])) }));
      const slices = preAggregate(compiled, input);
      for (const s of slices.values()) {
        const keyOf = (e: Record<string, unknown>) => JSON.stringify(s.aggregation.groupBy.map((g) => e[g.field]));
        const expected = input.flatMap((e, i) => (keyOf(e.event) === s.keyJson && e.ts >= s.start && e.ts < s.end ? [i] : []));
        expect([...s.members].sort((a, b) => a - b)).toEqual(expected);
        const positions = expected.map((i) => input[i].position).sort();
        expect(s.minPosition).toBe(positions[0]);
        expect(s.maxPosition).toBe(positions[positions.length - 1]);
      }
    },
  );
});

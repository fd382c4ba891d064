/**
 * The batch fold's position shortcuts (prepare-batch.ts, pre-aggregate.ts) against the plain computation: a window's
 * least and greatest positions are those of its members, whatever order the records come in and whatever their
 * sequence numbers look like (lengths, leading zeros, KPL sub-sequence numbers); and an event's pane is the one
 * `lastStart` gives, whatever order its event times come in.
 */
import { fc, test } from '@fast-check/jest';
import type { SourceRecord } from '../../lambda/app/ports';
import { prepare } from '../../lambda/app/prepare-batch';
import { positionOf } from '../../lambda/domain/sequence';
import { compiledSpecFactory } from '../support/factories';

const spec = compiledSpecFactory(
  {
    name: 'by_device',
    groupBy: ['d'],
    window: { type: 'tumbling', sizeSeconds: 10 },
    measures: [{ name: 'n', op: 'count' }],
  },
  {
    name: 'by_site',
    groupBy: ['site'],
    window: { type: 'hopping', sizeSeconds: 30, hopSeconds: 10 },
    measures: [{ name: 'n', op: 'count' }],
  },
);

/** A record as the adapters build it: its position is `positionOf` of its sequence and sub-sequence numbers. */
function record(seq: string, sub: number, event: object): SourceRecord {
  return { sequenceNumber: seq, subSequenceNumber: sub, position: positionOf(seq, sub), partitionKey: 'k', payload: JSON.stringify(event), payloadBase64: '' };
}

const digits = fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: 4 }).map((d) => d.join(''));
const eventArb = fc.record({
  d: fc.constantFrom('a', 'b', 'c'),
  site: fc.constantFrom('s1', 's2'),
  ts: fc.integer({ min: 1, max: 90_000 }),
});
const recordArb = fc.record({
  seq: digits,
  sub: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 3 }) }),
  event: fc.oneof({ weight: 9, arbitrary: eventArb }, { weight: 1, arbitrary: fc.constant({ d: 'a' }) }),
});

/** Numeric order of (sequence, sub-sequence), independent of positions. */
function byNumber(a: { seq: string; sub: number }, b: { seq: string; sub: number }): number {
  const x = BigInt(a.seq);
  const y = BigInt(b.seq);
  return x < y ? -1 : x > y ? 1 : a.sub - b.sub;
}

describe('positions and panes in the batch fold', () => {
  test.prop([fc.array(recordArb, { maxLength: 80 }), fc.constantFrom('as given', 'ascending', 'ascending, one moved')])(
    "every window's least and greatest positions are its members' and every event is in its windows",
    (raw, order) => {
      const list = order === 'as given' ? raw : [...raw].sort(byNumber);
      if (order === 'ascending, one moved' && list.length > 1) list.push(list.splice(Math.floor(list.length / 2), 1)[0]);
      const records = list.map((r) => record(r.seq, r.sub, r.event));
      const { slices, sourceIndex, ts } = prepare(spec, 'lane', records);
      for (const s of slices.values()) {
        const positions = s.members.map((m) => records[sourceIndex[m]].position).sort();
        expect(s.minPosition).toBe(positions[0]);
        expect(s.maxPosition).toBe(positions[positions.length - 1]);
        for (const m of s.members) expect(ts[m] >= s.start && ts[m] < s.end).toBe(true);
      }
      // Each valid event is in exactly the windows that contain its time: one tumbling, three hopping.
      const count = new Map<number, number>();
      for (const s of slices.values()) for (const m of s.members) count.set(m, (count.get(m) ?? 0) + 1);
      for (let m = 0; m < ts.length; m++) expect(count.get(m)).toBe(4);
    },
  );
});

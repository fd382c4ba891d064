/**
 * The P1 shortcuts against what they replace: each is checked here against an independent computation of the same
 * result (the general decoder, `Date.parse`, a sketch built without the shortcut).
 */
import { DDSketch } from '@datadog/sketches-js';
import { fc, test } from '@fast-check/jest';
import { groupByShard } from '../../lambda/adapters/kinesis-records';
import { parseEventTime } from '../../lambda/domain/event-time';
import { compileFieldGetter } from '../../lambda/domain/fields';
import { KeyCollector } from '../../lambda/domain/key-collect';
import { compiledSpecFactory } from '../support/factories';
import { HyperLogLog, murmur3 } from '../../lambda/domain/hyperloglog';
import { QuantileSketch } from '../../lambda/domain/quantile-sketch';
import { kinesisEvent, sequenceNumber } from '../support/harness';

const KPL_MAGIC = [0xf3, 0x89, 0x9a, 0xc2];

describe('payload decoding on demand', () => {
  test.prop([fc.array(fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.string().map((s) => new Uint8Array(Buffer.from(s)))), { minLength: 1, maxLength: 20 })])(
    'a plain record reads as the UTF-8 decoding of its bytes',
    (payloads) => {
      const plain = payloads.filter((p) => !(p.length >= 20 && KPL_MAGIC.every((b, i) => p[i] === b)));
      const ev = kinesisEvent(
        'shardId-000000000000',
        plain.map((p, i) => ({ data: Buffer.from(p), partitionKey: 'k', sequenceNumber: sequenceNumber(i) })),
      );
      const records = groupByShard(ev.Records).get('shardId-000000000000') ?? [];
      expect(records.map((r) => r.payload)).toStrictEqual(plain.map((p) => Buffer.from(p).toString('utf8')));
      expect(records.every((r) => r.decodeError === undefined)).toBe(true);
    },
  );

  test('a payload whose base64 starts like a KPL aggregate but is not one is read as plain text', () => {
    // f3 89 9a then not c2: the base64 starts with `84ma`, the decoder must still fall back to plain text.
    const bytes = Buffer.from([0xf3, 0x89, 0x9a, 0x00, ...Buffer.from('{"a":1} and some more bytes')]);
    const ev = kinesisEvent('shardId-000000000000', [{ data: bytes, partitionKey: 'k', sequenceNumber: sequenceNumber(1) }]);
    expect(ev.Records[0].kinesis.data.startsWith('84ma')).toBe(true);
    const [r] = groupByShard(ev.Records).get('shardId-000000000000')!;
    expect(r.payload).toBe(bytes.toString('utf8'));
  });
});

/** Independent reference: the value when `Date.parse` reads the text back to itself, else a refusal. */
function referenceIso(text: string): number | undefined {
  const ms = Date.parse(text);
  if (!Number.isFinite(ms) || ms < 0) return undefined;
  return new Date(ms).toISOString() === text ? ms : undefined;
}

describe('event times in the toISOString form', () => {
  test.prop([fc.integer({ min: 0, max: 253_402_300_799_999 })])('every instant reads back exactly', (ms) => {
    expect(parseEventTime(new Date(ms).toISOString(), 'ts')).toStrictEqual({ ok: true, ms });
  });

  const digits = (n: number) => fc.array(fc.integer({ min: 0, max: 9 }), { minLength: n, maxLength: n }).map((d) => d.join(''));
  test.prop([digits(4), digits(2), digits(2), digits(2), digits(2), digits(2), digits(3)])(
    'any digits in the form: read as Date.parse reads a valid date, refused otherwise',
    (y, mo, d, h, mi, s, frac) => {
      const text = `${y}-${mo}-${d}T${h}:${mi}:${s}.${frac}Z`;
      const expected = referenceIso(text);
      const got = parseEventTime(text, 'ts');
      if (expected === undefined) expect(got.ok).toBe(false);
      else expect(got).toStrictEqual({ ok: true, ms: expected });
    },
  );

  // The date part's midnight is remembered from one reading to the next: a run of readings that share days, valid
  // and invalid, and any digits for the time, must each read as the reference reads it alone.
  const day = fc.constantFrom('2024-05-01', '2024-05-02', '2024-02-29', '2023-02-29', '2024-13-01', '0099-01-01', '9999-12-31', '2024-04-31');
  test.prop([fc.array(fc.tuple(day, digits(2), digits(2), digits(2), digits(3)), { minLength: 1, maxLength: 40 })])(
    'a run of readings sharing their days reads each as the reference does',
    (texts) => {
      for (const [date, h, mi, s, frac] of texts) {
        const text = `${date}T${h}:${mi}:${s}.${frac}Z`;
        const expected = referenceIso(text);
        const got = parseEventTime(text, 'ts');
        if (expected === undefined) expect(got.ok).toBe(false);
        else expect(got).toStrictEqual({ ok: true, ms: expected });
      }
    },
  );
});

describe('sketches reuse the previous value’s hash or index', () => {
  test.prop([fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.oneof(fc.constantFrom('a', 'b', 1, '1', true, 0, -0), fc.string())), { maxLength: 200 })])(
    'HyperLogLog registers are those of the hashes of each value, whatever the order of sketches and values',
    (adds) => {
      const precisions = [4, 11, 16];
      const sketches = precisions.map((p) => new HyperLogLog(p));
      const expected = precisions.map((p) => new Uint8Array(1 << p));
      for (const [k, v] of adds) {
        sketches[k].add(v);
        const text = typeof v === 'string' ? `s${v}` : `j${JSON.stringify(v)}`;
        const index = murmur3(text, 0x9747b28c) >>> (32 - precisions[k]);
        const w = murmur3(text, 0x5bd1e995);
        const rank = w === 0 ? 33 : Math.clz32(w) + 1;
        if (rank > expected[k][index]) expected[k][index] = rank;
      }
      sketches.forEach((s, k) => expect(s.registers).toStrictEqual(expected[k]));
    },
  );

  test.prop([fc.array(fc.tuple(fc.integer({ min: 0, max: 1 }), fc.double({ min: -1e6, max: 1e6, noNaN: true })), { minLength: 1, maxLength: 200 })])(
    'quantiles equal those of a library sketch without the shared mapping',
    (adds) => {
      const sketches = [new QuantileSketch(0.01), new QuantileSketch(0.01)];
      const plain = [new DDSketch({ relativeAccuracy: 0.01 }), new DDSketch({ relativeAccuracy: 0.01 })];
      for (const [k, v] of adds) {
        sketches[k].add(v);
        plain[k].accept(v < 1e-9 && v > -1e-9 ? 0 : v);
      }
      for (let k = 0; k < 2; k++) {
        for (const q of [0, 0.25, 0.5, 0.95, 1]) {
          expect(sketches[k].quantile(q)).toBe(plain[k].count === 0 ? null : plain[k].getValueAtQuantile(q));
        }
      }
    },
  );
});

describe('field getters generated per name', () => {
  // Any name without a dot (a dot makes a path), with quotes, backslashes, line separators and astral characters.
  const name = fc
    .oneof(fc.string({ unit: 'binary', maxLength: 12 }), fc.constantFrom('__proto__', 'constructor', 'a"b', 'a\\b', '\u2028x', '${x}', '`'))
    .filter((s) => !s.includes('.'));
  test.prop([name, fc.jsonValue(), fc.dictionary(fc.string({ maxLength: 6 }), fc.integer(), { maxKeys: 4 })])(
    'read what a property access reads, present or absent',
    (n, value, others) => {
      const get = compileFieldGetter(n);
      // Built by JSON.parse, as events are: an own property even for names such as __proto__.
      const withIt = JSON.parse(JSON.stringify({ ...others, [n]: value })) as Record<string, unknown>;
      expect(get(withIt)).toStrictEqual(withIt[n]);
      const without = JSON.parse(JSON.stringify(Object.fromEntries(Object.entries(others).filter(([k]) => k !== n)))) as Record<string, unknown>;
      expect(get(without)).toBe(without[n]);
    },
  );
});

describe('records split by shard with the previous lane remembered', () => {
  // Event IDs that share prefixes, hold extra colons or none: the lane is what precedes the last colon.
  const eventId = fc.tuple(fc.constantFrom('s', 'sh', 's:h', 'shard-1', 'shard-10', ''), fc.constantFrom(':', '', '::', ':x:')).map(([a, b]) => `${a}${b}`);
  test.prop([fc.array(eventId, { minLength: 1, maxLength: 30 })])('each record lands in the lane of its own event ID, in order', (ids) => {
    const ev = kinesisEvent('unused', ids.map((_, i) => ({ data: `{"i":${i}}`, partitionKey: 'k', sequenceNumber: sequenceNumber(i) })));
    ids.forEach((id, i) => (ev.Records[i].eventID = `${id}${i}`));
    const expected = new Map<string, string[]>();
    ids.forEach((id, i) => {
      const full = `${id}${i}`;
      const cut = full.lastIndexOf(':');
      const lane = cut > 0 ? full.slice(0, cut) : full;
      expected.set(lane, [...(expected.get(lane) ?? []), `{"i":${i}}`]);
    });
    const got = new Map([...groupByShard(ev.Records)].map(([lane, rs]) => [lane, rs.map((r) => r.payload)]));
    expect(got).toStrictEqual(expected);
  });
});

describe('per-key events grouped by raw group-by value', () => {
  const keyed = compiledSpecFactory(
    { name: 'by_one', groupBy: ['a'], window: { type: 'session', gapSeconds: 30, maxDurationSeconds: 900 }, measures: [{ name: 'n', op: 'count' }] },
    { name: 'by_two', groupBy: ['a', 'b'], window: { type: 'stagger', sizeSeconds: 60 }, measures: [{ name: 'n', op: 'count' }] },
  );
  // Values whose JSON coincide or differ subtly: 0 and -0, 1 and "1", true and "true".
  const value = fc.constantFrom<unknown>(0, -0, 1, '1', '0', true, 'true', false, 'x', 2.5);
  test.prop([fc.array(fc.record({ a: value, b: value }), { maxLength: 40 })])(
    'one slice per aggregation and key JSON, first-touched order, members in batch order',
    (events) => {
      const collector = new KeyCollector(keyed);
      events.forEach((e, i) => collector.add(i, e, i, String(i)));
      // Reference: group by the JSON of the group-by values, as written by JSON.stringify.
      const expected: [string, string, number[]][] = [];
      for (const [name, fields] of [['by_one', ['a']], ['by_two', ['a', 'b']]] as const) {
        const groups = new Map<string, number[]>();
        events.forEach((e, i) => {
          const k = JSON.stringify(fields.map((f) => e[f]));
          groups.set(k, [...(groups.get(k) ?? []), i]);
        });
        for (const [k, idx] of groups) expected.push([name, k, idx]);
      }
      const got = [...collector.slices.values()].map((s) => [s.aggregation.name, s.keyJson, s.members.map((m) => m.idx)] as [string, string, number[]]);
      const byId = (x: [string, string, number[]]) => `${x[0]}\u0000${x[1]}`;
      expect(new Map(got.map((g) => [byId(g), g]))).toStrictEqual(new Map(expected.map((g) => [byId(g), g])));
      expect([...collector.slices.keys()]).toStrictEqual(got.map(byId));
      // First-touched order within each aggregation.
      for (const name of ['by_one', 'by_two']) {
        expect(got.filter((g) => g[0] === name).map((g) => g[2][0])).toStrictEqual(expected.filter((g) => g[0] === name).map((g) => g[2][0]).sort((x, y) => x - y));
      }
    },
  );
});

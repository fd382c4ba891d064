/**
 * Issue #12: no value a producer can send blocks a shard, breaks a window or disappears. Each case of the issue, at
 * unit level, against independent expectations; the representation is checked with the real DynamoDB marshaller.
 */
import { expect } from '@jest/globals';
import { KinesisClient, PutRecordsCommand, type PutRecordsCommandInput } from '@aws-sdk/client-kinesis';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { processBatch, type BatchDeps } from '../../lambda/app/process-batch';
import { ItemBudgetExceededError, type SourceRecord, type WriteOutcome } from '../../lambda/app/ports';
import { windowPk } from '../../lambda/adapters/dynamodb-window-store';
import { fromStoredMeasures, toMeasureValues, toStoredMeasures } from '../../lambda/domain/aggregate-state';
import { compileSpec } from '../../lambda/domain/compiled-spec';
import { parseEvent } from '../../lambda/domain/event-parser';
import { parseEventTime } from '../../lambda/domain/event-time';
import { itemBytes, WINDOW_ITEM_BUDGET_BYTES } from '../../lambda/domain/item-budget';
import { keyRecord, type WindowRef } from '../../lambda/domain/window-ref';
import { MAX_QUANTILE_SKETCH_BYTES, QuantileSketch } from '../../lambda/domain/quantile-sketch';
import { parseAggregationSpec, SpecValidationError } from '../../lambda/domain/spec';
import type { StoredWindow } from '../../lambda/domain/window-lifecycle';
import { ConfigError, loadConfig, parseSettings } from '../../lib/config';
import { Producer } from '../../scripts/lib/producer';
import { formatSinkTable, toSinkEntry } from '../../scripts/lib/sink-entries';
import { MemoryRecordSink, MemoryResultSink, sequenceNumber } from '../support/harness';
import { everyMeasure, specFactory } from '../support/factories';
import { MemoryWindowStore } from '../support/memory-window-store';
import { MemoryKeyWindowStore } from '../support/memory-key-window-store';
import type { KeyWindowSet } from '../../lambda/domain/key-windows';
import type { CompiledAggregation } from '../../lambda/domain/compiled-spec';
import { positionOf } from '../../lambda/domain/sequence';

const ARRIVAL = Date.UTC(2026, 0, 15, 12);
const MIN = 60_000;

const SPEC = specFactory({
  name: 'dev_1m',
  groupBy: ['deviceId'],
  window: { type: 'tumbling', sizeSeconds: 60 },
  allowedLatenessSeconds: 0,
  measures: everyMeasure(),
});
const compiled = compileSpec(SPEC);

/** A window store that sends every write through the real DynamoDB marshaller and back, and checks the item budget. */
class MarshallingStore extends MemoryWindowStore {
  largestItem = 0;
  override async writeWindow(ref: WindowRef, next: StoredWindow, expectedRev: number | undefined, nowMs: number): Promise<WriteOutcome> {
    const item = {
      pk: windowPk(ref.aggregation.name, ref.keyJson),
      sk: new Date(ref.start).toISOString(),
      m: toStoredMeasures(ref.aggregation.layout, next.state),
      key: keyRecord(ref.aggregation, ref.keyJson),
      f: next.fences,
    };
    // The options the aggregator's document client uses.
    const back = unmarshall(marshall(item, { removeUndefinedValues: true }));
    const bytes = itemBytes(item);
    this.largestItem = Math.max(this.largestItem, bytes);
    if (Buffer.byteLength(item.pk) > 2048) throw new Error(`partition key of ${Buffer.byteLength(item.pk)} bytes`);
    const state = fromStoredMeasures(ref.aggregation.layout, back.m as Record<string, unknown>);
    return super.writeWindow(ref, { ...next, state }, expectedRev, nowMs);
  }
}

function record(i: number, payload: string, arrivalMs: number | undefined = ARRIVAL): SourceRecord {
  const seq = sequenceNumber(i);
  return { sequenceNumber: seq, subSequenceNumber: 0, position: positionOf(seq), partitionKey: 'p', payload, payloadBase64: Buffer.from(payload).toString('base64'), arrivalMs };
}

function deps(store = new MarshallingStore()) {
  const errors = new MemoryRecordSink();
  const late = new MemoryRecordSink();
  const results = new MemoryResultSink();
  const d: BatchDeps = { spec: compiled, store, results, errors, late };
  return { d, store, errors, late, results };
}

const ev = (ts: unknown, v: unknown = 1, deviceId: unknown = 'd1', user: unknown = 'u1') => JSON.stringify({ ts, v, deviceId, user });

describe('event time bounds (issue #12, case 1)', () => {
  test('a failed errors-sink write fails the batch with no window written; the redelivery writes both once', async () => {
    const { d, store, errors } = deps();
    const failing = { write: async () => Promise.reject(new Error('S3 unavailable')) };
    const batch = [record(0, ev(ARRIVAL, 1)), record(1, 'not json'), record(2, ev(ARRIVAL + 1000, 2))];
    await expect(processBatch({ ...d, errors: failing }, { lane: 'shard-1', records: batch }, ARRIVAL)).rejects.toThrow('S3 unavailable');
    expect(store.writes).toBe(0);
    await processBatch(d, { lane: 'shard-1', records: batch }, ARRIVAL);
    expect(errors.all()).toHaveLength(1);
    const [only] = [...store.windows.values()];
    expect(toMeasureValues(compiled.aggregations[0].layout, only.stored.state)).toMatchObject({ events: 2 });
  });

  test('a far-future record goes to the errors sink and does not move the watermark', async () => {
    const { d, store, errors, late } = deps();
    const t0 = ARRIVAL - 10 * MIN;
    await processBatch(d, { lane: 's', records: [record(1, ev(t0)), record(2, ev('9999-01-01T00:00:00Z')), record(3, ev(t0 + 1000))] }, ARRIVAL);
    // A later batch of normal records: none of them is late.
    const out = await processBatch(d, { lane: 's', records: [record(4, ev(t0 + 2 * MIN)), record(5, ev(t0 + 2 * MIN + 1))] }, ARRIVAL);
    expect(out.failedSequenceNumber).toBeUndefined();
    expect(late.all()).toHaveLength(0);
    expect(store.watermarks.get('s')).toBe(t0 + 2 * MIN + 1);
    expect(errors.all().map((e) => e.sequenceNumber)).toEqual([sequenceNumber(2)]);
    expect(errors.all()[0].reason).toMatch(/maxFutureSeconds \(3600\)/);
  });

  test('a clock a day fast is refused, an hour minus a second fast is accepted', () => {
    const day = parseEvent(compiled, ev(ARRIVAL + 86_400_000), ARRIVAL);
    const hour = parseEvent(compiled, ev(ARRIVAL + 3_599_000), ARRIVAL);
    expect(day.ok).toBe(false);
    expect(hour.ok).toBe(true);
  });

  test('maxPastSeconds bounds the past', () => {
    const spec = compileSpec(parseAggregationSpec({ ...SPEC, eventTime: { field: 'ts', maxPastSeconds: 3600 } }));
    const r = parseEvent(spec, ev(ARRIVAL - 3_601_000), ARRIVAL);
    expect(r).toEqual({ ok: false, reason: expect.stringMatching(/maxPastSeconds \(3600\)/) });
    expect(parseEvent(spec, ev(ARRIVAL - 3_599_000), ARRIVAL).ok).toBe(true);
  });
});

describe('strict dates and formats (issue #12, case 6)', () => {
  test.each(['2024-02-30', '2024-02-30T00:00:00Z', '2023-02-29T00:00:00Z', '2024-04-31T00:00:00Z', '2024-01-01T24:00:00Z', '2024-01-01T12:60:00Z', '2024-01-01T12:00:60Z'])(
    'rejects %s',
    (s) => expect(parseEventTime(s, 'ts')).toEqual({ ok: false, reason: expect.stringMatching(/not a valid date/) }),
  );

  test.each([
    ['2024-01-01T00:00:00+24:00', false],
    ['2024-01-01T00:00:00+0060', false],
    ['2024-01-01T05:30:00+05:30', true],
    ['2024-01-01T05:30+0530', true],
    ['2024-01-01T12:00Z', true],
    ['2024-01-01T12:00:00.123456789-23:59', true],
    ['2000-02-29', true],
    ['1900-02-29', false],
  ])('zone and calendar rules: %s is valid: %s', (s, valid) => {
    const r = parseEventTime(s, 'ts');
    expect(r.ok).toBe(valid);
    if (valid) expect(r).toEqual({ ok: true, ms: Date.parse(s) });
  });

  test('accepts 2024-02-29 (a leap day)', () => expect(parseEventTime('2024-02-29T00:00:00Z', 'ts')).toEqual({ ok: true, ms: Date.UTC(2024, 1, 29) }));

  test('auto reads current epoch seconds as seconds', () => {
    const seconds = Math.floor(ARRIVAL / 1000) - 5;
    expect(parseEventTime(seconds, 'ts', { arrivalMs: ARRIVAL, maxFutureMs: 3_600_000 })).toEqual({ ok: true, ms: seconds * 1000 });
    expect(parseEventTime(ARRIVAL - 5000, 'ts', { arrivalMs: ARRIVAL, maxFutureMs: 3_600_000 })).toEqual({ ok: true, ms: ARRIVAL - 5000 });
  });

  test('auto refuses a number plausible both as seconds and as milliseconds', () => {
    // With a past bound reaching back to 1970, 1.7e9 is plausible as 2023 (seconds) and as January 1970 (ms).
    const r = parseEventTime(1_700_000_000, 'ts', { arrivalMs: ARRIVAL, maxFutureMs: 3_600_000, maxPastMs: 60 * 365 * 86_400_000 });
    expect(r).toEqual({ ok: false, reason: expect.stringMatching(/ambiguous.*eventTime.format/) });
  });

  test('explicit formats', () => {
    expect(parseEventTime(1_700_000_000, 'ts', { format: 'epoch-s' })).toEqual({ ok: true, ms: 1_700_000_000_000 });
    expect(parseEventTime(1_700_000_000, 'ts', { format: 'epoch-ms' })).toEqual({ ok: true, ms: 1_700_000_000 });
    expect(parseEventTime(1_700_000_000, 'ts', { format: 'iso' }).ok).toBe(false);
    expect(parseEventTime('2024-01-01T00:00:00Z', 'ts', { format: 'epoch-ms' }).ok).toBe(false);
  });
});

describe('numbers (issue #12, case 2)', () => {
  test('a sum of epoch-millisecond values past 2^53 survives the real marshaller and reads back exactly', async () => {
    const { d, store, results } = deps();
    const t0 = ARRIVAL - 30 * MIN;
    const values = Array.from({ length: 6000 }, (_, i) => ARRIVAL - i);
    const out = await processBatch(d, { lane: 's', records: values.map((v, i) => record(i, ev(t0 + (i % 50), v))) }, ARRIVAL);
    expect(out.failedSequenceNumber).toBeUndefined();
    // Reference: the same left fold in doubles (the documented precision).
    const total = values.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(Number.MAX_SAFE_INTEGER);
    const [w] = [...store.windows.values()];
    expect(toMeasureValues(compiled.aggregations[0].layout, w.stored.state).total).toBe(total);
    expect(results.emitted).toHaveLength(0);
  });

  test('values beyond ±1e100 are refused before a sum could overflow; 1e100 itself is accepted', async () => {
    const { d, errors, store } = deps();
    const t0 = ARRIVAL - 30 * MIN;
    const out = await processBatch(d, { lane: 's', records: [record(1, ev(t0, 1.7e308)), record(2, ev(t0, 1.7e308)), record(3, ev(t0, 1e100)), record(4, ev(t0, -1e100)), record(5, ev(t0, -0))] }, ARRIVAL);
    expect(out.failedSequenceNumber).toBeUndefined();
    expect(errors.all().map((e) => e.reason)).toEqual([expect.stringMatching(/"v".*±1e\+100/), expect.stringMatching(/"v".*±1e\+100/)]);
    const [w] = [...store.windows.values()];
    const m = toMeasureValues(compiled.aggregations[0].layout, w.stored.state);
    expect([m.events, m.total, m.hi, m.lo]).toEqual([3, 0, 1e100, -1e100]);
  });

  test('tiny magnitudes below DynamoDB 1E-130 are stored exactly', () => {
    const layout = compiled.aggregations[0].layout;
    const state = fromStoredMeasures(layout, undefined);
    state[1] = 1e-300;
    const back = unmarshall(marshall({ m: toStoredMeasures(layout, state) }));
    expect(fromStoredMeasures(layout, back.m as Record<string, unknown>)[1]).toBe(1e-300);
  });
});

describe('keys (issue #12, case 4)', () => {
  test('a group-by value over 512 bytes goes to the errors sink; 512 bytes is accepted', async () => {
    const { d, errors, store } = deps();
    const t0 = ARRIVAL - 30 * MIN;
    const ok = 'é'.repeat(255); // 510 bytes + 2 quotes
    await processBatch(d, { lane: 's', records: [record(1, ev(t0, 1, 'x'.repeat(3000))), record(2, ev(t0, 1, ok)), record(3, ev(t0, 1, 'é'.repeat(256)))] }, ARRIVAL);
    expect(errors.all().map((e) => [e.sequenceNumber, e.reason])).toEqual([
      [sequenceNumber(1), expect.stringMatching(/"deviceId": 3002 bytes.*512-byte limit/)],
      [sequenceNumber(3), expect.stringMatching(/"deviceId": 514 bytes.*512-byte limit/)],
    ]);
    expect([...store.windows.values()].map((w) => w.ref.keyJson)).toEqual([JSON.stringify([ok])]);
  });

  test('group-by numbers beyond ±2^53 or below 1E-130 are refused', () => {
    for (const v of [2 ** 53 + 2, -(2 ** 60), 1e-300, 1e300]) {
      expect(parseEvent(compiled, ev(ARRIVAL, 1, v))).toEqual({ ok: false, reason: expect.stringMatching(/group-by field "deviceId"/) });
    }
    expect(parseEvent(compiled, ev(ARRIVAL, 1, 2 ** 53 - 1)).ok).toBe(true);
  });
});

describe('sketches (issue #12, cases 3 and 5)', () => {
  test('1e-300 at accuracy 0.001 does not crash, and the widest range stays within the sketch bound', () => {
    for (const acc of [0.01, 0.001, 0.0001]) {
      const q = new QuantileSketch(acc);
      q.add(1e-300);
      const wide = new QuantileSketch(acc);
      for (let e = -300; e <= 300; e += 0.25) {
        wide.add(10 ** e);
        wide.add(-(10 ** e));
      }
      wide.merge(q);
      expect(wide.encode().length).toBeLessThanOrEqual(MAX_QUANTILE_SKETCH_BYTES);
      const back = QuantileSketch.decode(wide.encode(), acc);
      expect(back.count).toBe(wide.count);
      // The top quantile keeps its accuracy: the collapsed bins are the smallest magnitudes.
      expect(Math.abs(back.quantile(1)! / 1e300 - 1)).toBeLessThanOrEqual(acc * 1.01);
    }
  });

  test('a sketch that folds its lowest bins keeps its count, in memory and through its stored form', () => {
    const q = new QuantileSketch(0.001);
    for (let i = 0; i < 20_000; i++) q.add(i);
    const bins = (q.sketch.store as unknown as { bins: number[] }).bins.reduce((a, b) => a + b, 0);
    expect(bins + q.sketch.zeroCount).toBe(20_000);
    const back = QuantileSketch.decode(q.encode(), 0.001);
    expect(back.count).toBe(20_000);
    // The top of the range keeps its accuracy: the reference p99.9 is 19,979 (rank 0.999 × 19,999).
    expect(Math.abs(back.quantile(0.999)! / 19_979 - 1)).toBeLessThanOrEqual(0.001 * 1.01);
  });

  test('five distinct measures at precision 16 fail validation naming the measures', () => {
    const measures = Array.from({ length: 5 }, (_, i) => ({ name: `d${i}`, op: 'distinct', field: 'user', precision: 16 }));
    expect(() => parseAggregationSpec({ ...SPEC, aggregations: [{ ...SPEC.aggregations[0], measures }] })).toThrow(
      expect.objectContaining({ issues: [expect.stringMatching(/^aggregations\[0\]\.measures: need up to 428 KB/)] }),
    );
    const three = measures.slice(0, 3);
    expect(() => parseAggregationSpec({ ...SPEC, aggregations: [{ ...SPEC.aggregations[0], measures: three }] })).not.toThrow();
  });

  test('a window that would pass its item budget sends its records to the errors sink, and the batch goes on', async () => {
    class Full extends MarshallingStore {
      override async writeWindow(ref: WindowRef, next: StoredWindow, rev: number | undefined, now: number): Promise<WriteOutcome> {
        if ((JSON.parse(ref.keyJson) as unknown[])[0] === 'full') throw new ItemBudgetExceededError(WINDOW_ITEM_BUDGET_BYTES + 1, WINDOW_ITEM_BUDGET_BYTES);
        return super.writeWindow(ref, next, rev, now);
      }
    }
    const { d, errors, store } = deps(new Full());
    const t0 = ARRIVAL - 30 * MIN;
    const out = await processBatch(d, { lane: 's', records: [record(1, ev(t0, 1, 'full')), record(2, ev(t0, 1, 'ok'))] }, ARRIVAL);
    expect(out.failedSequenceNumber).toBeUndefined();
    expect(errors.all()).toEqual([expect.objectContaining({ sequenceNumber: sequenceNumber(1), payload: ev(t0, 1, 'full'), reason: expect.stringMatching(/over budget/) })]);
    expect([...store.windows.values()].map((w) => w.ref.keyJson)).toEqual(['["ok"]']);
  });

  test('a failed write of a window with more records than a call takes arguments redelivers from its first record', async () => {
    // A batch of KPL aggregates can hold hundreds of thousands of user records, all in one window; finding the first
    // one to redeliver from must not spread them into a call (Math.min(...members) overflowed the stack here).
    class Failing extends MemoryWindowStore {
      override async writeWindow(ref: WindowRef, next: StoredWindow, rev: number | undefined, now: number): Promise<WriteOutcome> {
        if ((JSON.parse(ref.keyJson) as unknown[])[0] === 'big') throw new Error('throttled');
        return super.writeWindow(ref, next, rev, now);
      }
    }
    const { d } = deps(new Failing() as MarshallingStore);
    const t0 = ARRIVAL - 30 * MIN;
    const records = [record(1, ev(t0, 1, 'ok'))];
    for (let i = 2; i <= 250_001; i++) records.push(record(i, ev(t0 + (i % 1000), 1, 'big')));
    const out = await processBatch(d, { lane: 's', records }, ARRIVAL);
    expect(out.failedSequenceNumber).toBe(sequenceNumber(2));
  });

  test('the same for a session key with more records than a call takes arguments', async () => {
    class Failing extends MemoryKeyWindowStore {
      override async writeKeySet(aggregation: CompiledAggregation, keyJson: string, next: KeyWindowSet, rev: number, now: number): Promise<WriteOutcome> {
        if ((JSON.parse(keyJson) as unknown[])[0] === 'big') throw new Error('throttled');
        return super.writeKeySet(aggregation, keyJson, next, rev, now);
      }
    }
    const sessions = compileSpec(
      specFactory({ name: 'sessions', groupBy: ['deviceId'], window: { type: 'session', gapSeconds: 60, maxDurationSeconds: 3600 }, measures: [{ name: 'n', op: 'count' }] }),
    );
    const { d, store } = deps();
    const t0 = ARRIVAL - 30 * MIN;
    const records = [record(1, ev(t0, 1, 'ok'))];
    for (let i = 2; i <= 250_001; i++) records.push(record(i, ev(t0 + (i % 1000), 1, 'big')));
    const out = await processBatch({ ...d, spec: sessions, keyStore: new Failing(store) }, { lane: 's', records }, ARRIVAL);
    expect(out.failedSequenceNumber).toBe(sequenceNumber(2));
  });
});

describe('arbitrary JSON in every field never fails a batch', () => {
  const anyValue = fc.oneof(
    fc.jsonValue(),
    fc.constantFrom(-0, 1e308, -1e308, 1e-300, 5e-324, 2 ** 53 + 2, '__proto__', '\ud800', '2024-02-30', 'x'.repeat(10_000)),
    fc.integer({ min: ARRIVAL - 3_600_000, max: ARRIVAL }),
    fc.double({ noNaN: true }),
    fc.string({ unit: 'binary' }),
  );
  const anyEvent = fc.record({ ts: anyValue, v: anyValue, deviceId: anyValue, user: anyValue }, { requiredKeys: [] });
  /** The event's JSON, with a `__proto__` key in front when one is given (an object literal cannot carry one). */
  const plausible = fc.record({
    ts: fc.integer({ min: ARRIVAL - 3_600_000, max: ARRIVAL }),
    v: fc.double({ min: -1e6, max: 1e6, noNaN: true }),
    deviceId: fc.constantFrom('a', 'b', 'c'),
    user: fc.string(),
  });
  const anyPayload = fc.tuple(fc.oneof(anyEvent, plausible), fc.option(anyValue, { freq: 4 })).map(([e, proto]) => {
    const body = JSON.stringify(e);
    return proto === null ? body : `{"__proto__":${JSON.stringify(proto)}${body.length > 2 ? `,${body.slice(1)}` : '}'}`;
  });

  test('every record is aggregated or in a sink with a reason, and the real marshaller accepts every write', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(anyPayload, { minLength: 1, maxLength: 40 }), async (payloads) => {
        const { d, store, errors, late } = deps();
        const out = await processBatch(d, { lane: 's', records: payloads.map((p, i) => record(i, p)) }, ARRIVAL);
        expect(out.failedSequenceNumber).toBeUndefined();
        // Independent reference: what a valid record looks like, by the documented rules.
        const accepted = new Set(
          payloads
            .map((p, i) => [i, JSON.parse(p) as Record<string, unknown>] as const)
            .filter(([, e]) => referenceValid(e))
            .map(([i]) => sequenceNumber(i)),
        );
        const rejected = errors.all().map((e) => e.sequenceNumber as string);
        expect(errors.all().every((e) => typeof e.reason === 'string' && e.reason.length > 0)).toBe(true);
        expect(new Set(rejected)).toEqual(new Set(payloads.map((_, i) => sequenceNumber(i)).filter((s) => !accepted.has(s))));
        const counted = [...store.windows.values()].reduce((n, w) => n + (toMeasureValues(compiled.aggregations[0].layout, w.stored.state).events as number), 0);
        expect(counted + late.all().length).toBe(accepted.size);
        expect(store.largestItem).toBeLessThanOrEqual(WINDOW_ITEM_BUDGET_BYTES);
      }),
      { numRuns: 150 },
    );
  });
});

/** The documented rules, written independently of the parser. */
function referenceValid(e: Record<string, unknown>): boolean {
  const own = (k: string) => (Object.prototype.hasOwnProperty.call(e, k) ? e[k] : undefined);
  const ts = own('ts');
  let ms: number;
  if (typeof ts === 'number') {
    const asS = ts * 1000 >= ARRIVAL - 20 * 365 * 86_400_000 && ts * 1000 <= ARRIVAL + 3_600_000;
    const asMs = ts >= ARRIVAL - 20 * 365 * 86_400_000 && ts <= ARRIVAL + 3_600_000;
    ms = Math.floor(asS && !asMs ? ts * 1000 : ts);
  } else if (typeof ts === 'string') {
    const m = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2}))?$/.exec(ts);
    if (!m) return false;
    const d = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3]));
    if (d.getUTCMonth() !== +m[2] - 1 || d.getUTCDate() !== +m[3] || +(m[4] ?? 0) > 23 || +(m[5] ?? 0) > 59 || +(m[6] ?? 0) > 59) return false;
    ms = Date.parse(ts);
  } else return false;
  if (!(ms >= 0 && ms <= ARRIVAL + 3_600_000)) return false;
  const key = own('deviceId');
  if (typeof key === 'string') {
    if (Buffer.byteLength(JSON.stringify(key)) > 512) return false;
    if (/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(key)) return false;
  } else if (typeof key === 'number') {
    if (!(key === 0 || (Math.abs(key) >= 1e-130 && Math.abs(key) <= Number.MAX_SAFE_INTEGER))) return false;
  } else if (typeof key !== 'boolean') return false;
  const user = own('user');
  if (!['string', 'number', 'boolean'].includes(typeof user)) return false;
  const v = own('v');
  return typeof v === 'number' && Math.abs(v) <= 1e100;
}

describe('config (issue #12)', () => {
  test('an unknown setting fails, naming the nearest valid one', () => {
    expect(() => parseSettings({ batchsize: '100' })).toThrow(/Invalid config "batchsize": unknown setting \(did you mean "batchSize"\?\)/);
    expect(() => parseSettings({ retentionHour: '48' })).toThrow(/did you mean "retentionHours"/);
    expect(parseSettings({ '@aws-cdk/core:flag': true, 'aws:cdk:enable-path-metadata': true }).stage).toBe('dev');
  });

  test('an unknown spec field fails, naming the nearest valid one', () => {
    expect(() => parseAggregationSpec({ ...SPEC, eventTime: { field: 'ts', maxFutureSecond: 10 } })).toThrow(/eventTime: unknown field "maxFutureSecond" \(did you mean "maxFutureSeconds"\?\)/);
  });

  test.each(['__proto__', 'constructor', 'toString', 'a.hasOwnProperty', 'valueOf'])('the field name %s is refused', (field) => {
    expect(() => parseAggregationSpec({ ...SPEC, aggregations: [{ ...SPEC.aggregations[0], groupBy: [field] }] })).toThrow(SpecValidationError);
    expect(() => parseAggregationSpec({ ...SPEC, eventTime: { field } })).toThrow(/reserved name/);
  });

  test.each(['year', 'Month', 'day.of', 'hour'])('the field %s clashes with a Glue partition column', (field) => {
    const text = JSON.stringify({ ...SPEC, aggregations: [{ ...SPEC.aggregations[0], groupBy: [field] }] });
    expect(() => loadConfig({}, () => text)).toThrow(ConfigError);
    expect(() => loadConfig({}, () => text)).toThrow(/collides with a partition column of the Glue raw-events table/);
  });

  test('window items outlive the stream retention', () => {
    const text = JSON.stringify(SPEC);
    expect(loadConfig({}, () => text).windowRetentionSeconds).toBe(7 * 86_400);
    expect(loadConfig({ retentionHours: '8760' }, () => text).windowRetentionSeconds).toBe(8760 * 3600 + 86_400);
  });
});

describe('producer partition keys (issue #12, case 6)', () => {
  test('a partition key over 256 characters fails that record only, with its reason', async () => {
    const mock = mockClient(KinesisClient);
    mock.on(PutRecordsCommand).callsFake((input: PutRecordsCommandInput) => {
      for (const r of input.Records ?? []) if ([...(r.PartitionKey ?? '')].length > 256) throw new Error('ValidationException: the whole call fails');
      return { FailedRecordCount: 0, Records: (input.Records ?? []).map((_, i) => ({ ShardId: 's', SequenceNumber: String(i) })) };
    });
    const producer = new Producer(new KinesisClient({}), { streamName: 's', maxAttempts: 1 });
    await producer.put({ partitionKey: 'a', data: '1' });
    await producer.put({ partitionKey: '😀'.repeat(257), data: '2' });
    await producer.put({ partitionKey: '😀'.repeat(256), data: '3' });
    const failed = await producer.settle();
    expect(failed).toEqual([expect.objectContaining({ data: '2', error: expect.stringMatching(/257 characters.*1–256/) })]);
    expect(producer.stats.sent).toBe(2);
    mock.restore();
  });
});

describe('pipeline errors', () => {
  test('shows each rejection with its whole reason', () => {
    const reason = 'event time in "ts" (9999-01-01T00:00:00.000Z) is more than eventTime.maxFutureSeconds (3600) after the record\'s arrival (2026-01-15T12:00:00.000Z)';
    const table = formatSinkTable([toSinkEntry('errors', { reason, shardId: 's', sequenceNumber: '1', payload: '{}' })]);
    expect(table).toContain(reason);
  });
});

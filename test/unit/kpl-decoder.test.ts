/**
 * The aggregator's own KPL decoder against the reference implementation, `aws-kinesis-agg` (the library it replaces
 * in the bundle, still used by the producer to aggregate): every aggregate the library builds decodes to the records
 * put in, and to what the library's own de-aggregator returns.
 */
import { createHash } from 'node:crypto';
import { fc, test } from '@fast-check/jest';
import { deaggregateSync, type UserRecord } from 'aws-kinesis-agg';
import { decodeKplAggregate, isKplAggregate, KPL_MAGIC } from '../../lambda/adapters/kpl-decoder';
import { aggregateKpl } from '../../scripts/lib/kpl-aggregate';

/** What `aws-kinesis-agg` de-aggregates from the bytes (checksums checked), or its error. */
function referenceDecode(data: Buffer): { partitionKey: string; data: string }[] | Error {
  let out: UserRecord[] | Error = new Error('no callback');
  deaggregateSync({ data: data.toString('base64'), partitionKey: 'p', sequenceNumber: '1', kinesisSchemaVersion: '1.0', approximateArrivalTimestamp: 0 }, true, (err, users) => {
    out = err ?? users ?? [];
  });
  if (out instanceof Error) return out;
  return (out as UserRecord[]).map((u) => ({ partitionKey: u.partitionKey, data: u.data }));
}

/** An aggregate around a hand-written protobuf body (magic, body, MD5 of the body). */
function framed(body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(KPL_MAGIC), body, createHash('md5').update(body).digest()]);
}

/** Protobuf encoding helpers for hand-written bodies. */
const varint = (n: number): Buffer => {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
};
const field = (num: number, wire: number, payload: Buffer): Buffer =>
  Buffer.concat([varint(num * 8 + wire), wire === 2 ? varint(payload.length) : Buffer.alloc(0), payload]);
const bytesField = (num: number, b: Buffer | string): Buffer => field(num, 2, Buffer.from(b));
const varintField = (num: number, n: number): Buffer => field(num, 0, varint(n));

/**
 * Partition keys aws-kinesis-agg aggregates correctly: it keeps its key table in a plain object, so `__proto__` (and
 * the other names of Object.prototype) never reach the table, and integer-like keys ("7") come out of `Object.keys`
 * first, out of the order their indexes were given in.
 */
const partitionKey = fc
  .string({ minLength: 1, maxLength: 20, unit: 'grapheme' })
  .filter((k) => !(k in Object.prototype) && !/^(0|[1-9][0-9]*)$/.test(k));

const userRecords = fc.array(
  fc.record({
    partitionKey,
    data: fc.oneof(fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)), fc.string({ maxLength: 200, unit: 'grapheme' }).map((s) => Buffer.from(s))),
  }),
  { minLength: 1, maxLength: 60 },
);

describe('KPL decoder', () => {
  test.prop([userRecords])('decodes what aws-kinesis-agg aggregates, as aws-kinesis-agg de-aggregates it', (records) => {
    const aggregates = aggregateKpl(records);
    const decoded = aggregates.flatMap((a) => {
      expect(isKplAggregate(a.data)).toBe(true);
      const mine = decodeKplAggregate(a.data).map((u) => ({ partitionKey: u.partitionKey, data: u.data.toString('base64') }));
      expect(mine).toStrictEqual(referenceDecode(a.data));
      return mine;
    });
    expect(decoded).toStrictEqual(records.map((r) => ({ partitionKey: r.partitionKey, data: r.data.toString('base64') })));
  });

  test('skips explicit hash keys, tags and fields it does not know, as the reference does', () => {
    const record = Buffer.concat([
      varintField(1, 1),
      varintField(2, 0),
      bytesField(3, '{"a":1}'),
      bytesField(4, Buffer.concat([bytesField(1, 'tag'), bytesField(2, 'v')])),
      field(9, 5, Buffer.alloc(4, 1)),
      field(10, 1, Buffer.alloc(8, 2)),
    ]);
    const body = Buffer.concat([bytesField(1, 'k0'), bytesField(1, 'k1'), bytesField(2, '123'), bytesField(3, record), varintField(7, 300)]);
    const data = framed(body);
    const mine = decodeKplAggregate(data).map((u) => ({ partitionKey: u.partitionKey, data: u.data.toString('base64') }));
    expect(mine).toStrictEqual([{ partitionKey: 'k1', data: Buffer.from('{"a":1}').toString('base64') }]);
    expect(mine).toStrictEqual(referenceDecode(data));
  });

  test('an empty aggregate holds no records', () => {
    expect(decodeKplAggregate(framed(Buffer.alloc(0)))).toStrictEqual([]);
  });

  test('refuses a digest that does not match, as the reference does', () => {
    const [a] = aggregateKpl([{ partitionKey: 'k', data: 'x' }]);
    const bad = Buffer.from(a.data);
    bad[bad.length - 1] ^= 1;
    expect(() => decodeKplAggregate(bad)).toThrow('Invalid record checksum');
    expect(referenceDecode(bad)).toBeInstanceOf(Error);
  });

  test.each([
    ['a record without data', Buffer.concat([bytesField(1, 'k'), bytesField(3, varintField(1, 0))]), /missing required 'data'/],
    ['a record without a partition key index', Buffer.concat([bytesField(1, 'k'), bytesField(3, bytesField(3, 'x'))]), /missing required 'partition_key_index'/],
    ['a length past the end', Buffer.concat([bytesField(1, 'k'), Buffer.from([0x1a, 0x7f, 0x08])]), /index out of range/],
    ['a truncated varint', Buffer.from([0x0a, 0x80]), /index out of range/],
    ['an invalid wire type', Buffer.from([0x3f]), /invalid wire type/],
  ])('refuses %s, as the reference does', (_name, body, message) => {
    const data = framed(body);
    expect(() => decodeKplAggregate(data)).toThrow(message);
    expect(referenceDecode(data)).toBeInstanceOf(Error);
  });

  test('refuses a partition key index outside the table (the reference would give the record no partition key)', () => {
    const data = framed(Buffer.concat([bytesField(1, 'k'), bytesField(3, Buffer.concat([varintField(1, 1), bytesField(3, 'x')]))]));
    expect(() => decodeKplAggregate(data)).toThrow(/partition_key_index 1 is not in the table of 1/);
  });

  test('is not an aggregate without the magic bytes or room for the digest', () => {
    expect(isKplAggregate(Buffer.concat([Buffer.from(KPL_MAGIC), Buffer.alloc(15)]))).toBe(false);
    expect(isKplAggregate(Buffer.concat([Buffer.from([0xf3, 0x89, 0x9a, 0xc3]), Buffer.alloc(16)]))).toBe(false);
    expect(() => decodeKplAggregate(Buffer.from('{"a":1}'))).toThrow(/not a KPL aggregated record/);
  });
});

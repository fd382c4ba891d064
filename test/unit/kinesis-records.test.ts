
import { fc, test } from '@fast-check/jest';
import { groupByShard, toSourceRecords } from '../../lambda/adapters/kinesis-records';
import { aggregateKpl } from '../../scripts/lib/kpl-aggregate';
import { kinesisEvent, sequenceNumber } from '../support/harness';

describe('Kinesis record decoding', () => {
  test('a plain record becomes one source record', () => {
    const [r] = kinesisEvent('shardId-000000000001', [{ data: '{"a":1}', partitionKey: 'pk', sequenceNumber: sequenceNumber(3) }]).Records;
    expect(toSourceRecords(r)).toStrictEqual([
      {
        sequenceNumber: sequenceNumber(3),
        subSequenceNumber: 0,
        // Digit count (56), the digits, then a 10-digit sub-sequence number: see lambda/domain/sequence.ts.
        position: `056${sequenceNumber(3)}.0000000000`,
        partitionKey: 'pk',
        payload: '{"a":1}',
        payloadBase64: Buffer.from('{"a":1}').toString('base64'),
        arrivalMs: Math.round(r.kinesis.approximateArrivalTimestamp * 1000),
      },
    ]);
  });

  test('a KPL aggregate becomes its user records, ordered by sub-sequence number', () => {
    const payloads = ['{"n":0}', '{"n":1}', '{"n":2}'];
    const [encoded, ...more] = aggregateKpl(payloads.map((p, i) => ({ partitionKey: `k${i}`, data: p })));
    expect(more.length).toBe(0);
    const [r] = kinesisEvent('shardId-000000000001', [{ data: encoded.data, partitionKey: encoded.partitionKey, sequenceNumber: sequenceNumber(9) }]).Records;
    const users = toSourceRecords(r);
    expect(users.map((u) => u.payload)).toStrictEqual(payloads);
    expect(users.map((u) => u.partitionKey)).toStrictEqual(['k0', 'k1', 'k2']);
    expect(users.map((u) => u.subSequenceNumber)).toStrictEqual([0, 1, 2]);
    expect(users.every((u) => u.sequenceNumber === sequenceNumber(9))).toBe(true);
    expect(users[0].position < users[1].position && users[1].position < users[2].position).toBe(true);
  });

  // aws-kinesis-agg writes its partition-key table in Object.keys order: array-index keys would move to the front, and
  // Object.prototype names would never reach it (the aggregate would name another record's key, or none).
  test.prop([
    fc.array(
      fc.record({ partitionKey: fc.oneof(fc.constantFrom('7', '10', '0', '4294967294', '4294967295', '01', '__proto__', 'constructor', 'toString', 'a', 'b'), fc.string({ minLength: 1, maxLength: 4 })), n: fc.nat() }),
      { minLength: 1, maxLength: 30 },
    ),
  ])('every user record comes back with its own partition key and data, in order, whatever the keys', (input) => {
    const records = input.map((r, i) => ({ partitionKey: r.partitionKey, data: JSON.stringify({ i, n: r.n }) }));
    const aggregates = aggregateKpl(records);
    const event = kinesisEvent('shardId-000000000001', aggregates.map((a, i) => ({ data: a.data, partitionKey: a.partitionKey, sequenceNumber: sequenceNumber(i + 1) })));
    const users = event.Records.flatMap((r) => toSourceRecords(r));
    expect(users.map((u) => [u.partitionKey, u.payload])).toStrictEqual(records.map((r) => [r.partitionKey, r.data]));
    expect(aggregates.reduce((n, a) => n + a.count, 0)).toBe(records.length);
  });

  test.prop(
    [fc.array(fc.record({ partitionKey: fc.constantFrom('7', '3', '__proto__', 'a'), pad: fc.integer({ min: 0, max: 400_000 }) }), { minLength: 1, maxLength: 12 })],
    { numRuns: 80 },
  )('the same when records fill aggregates to the 1 MiB limit', (input) => {
    const records = input.map((r, i) => ({ partitionKey: r.partitionKey, data: JSON.stringify({ i, pad: 'x'.repeat(r.pad) }) }));
    const event = kinesisEvent('shardId-000000000001', aggregateKpl(records).map((a, i) => ({ data: a.data, partitionKey: a.partitionKey, sequenceNumber: sequenceNumber(i + 1) })));
    const users = event.Records.flatMap((r) => toSourceRecords(r));
    expect(users.map((u) => [u.partitionKey, u.payload])).toStrictEqual(records.map((r) => [r.partitionKey, r.data]));
  });

  test('a corrupt KPL aggregate becomes one record with a decode error, keeping the raw bytes', () => {
    const bytes = Buffer.concat([Buffer.from([0xf3, 0x89, 0x9a, 0xc2]), Buffer.alloc(40, 7)]);
    const [r] = kinesisEvent('s', [{ data: bytes, partitionKey: 'pk', sequenceNumber: '1' }]).Records;
    const [u] = toSourceRecords(r);
    expect(u.decodeError!).toMatch(/invalid KPL aggregated record/);
    expect(u.payloadBase64).toBe(bytes.toString('base64'));
  });

  test('records are grouped by shard, each lane in delivery order', () => {
    const ev = kinesisEvent('shardId-a', [
      { data: '1', partitionKey: 'p', sequenceNumber: '10' },
      { data: '2', partitionKey: 'p', sequenceNumber: '11' },
      { data: '3', partitionKey: 'p', sequenceNumber: '12' },
      { data: '4', partitionKey: 'p', sequenceNumber: '13' },
    ]);
    // Interleaved lanes: a, b, a, b.
    ev.Records[1].eventID = 'shardId-b:11';
    ev.Records[3].eventID = 'shardId-b:13';
    const lanes = groupByShard(ev.Records);
    expect([...lanes].map(([lane, rs]) => [lane, rs.map((r) => r.payload)])).toStrictEqual([
      ['shardId-a', ['1', '3']],
      ['shardId-b', ['2', '4']],
    ]);
  });
});

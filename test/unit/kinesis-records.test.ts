import assert from 'node:assert/strict';

import { groupByShard, toSourceRecords } from '../../lambda/adapters/kinesis-records';
import { positionOf } from '../../lambda/domain/sequence';
import { aggregateKpl } from '../../scripts/lib/kpl-aggregate';
import { kinesisEvent, sequenceNumber } from '../support/harness';

describe('Kinesis record decoding', () => {
  test('a plain record becomes one source record', () => {
    const [r] = kinesisEvent('shardId-000000000001', [{ data: '{"a":1}', partitionKey: 'pk', sequenceNumber: sequenceNumber(3) }]).Records;
    assert.deepEqual(toSourceRecords(r), [
      {
        sequenceNumber: sequenceNumber(3),
        subSequenceNumber: 0,
        position: positionOf(sequenceNumber(3), 0),
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
    assert.equal(more.length, 0);
    const [r] = kinesisEvent('shardId-000000000001', [{ data: encoded.data, partitionKey: encoded.partitionKey, sequenceNumber: sequenceNumber(9) }]).Records;
    const users = toSourceRecords(r);
    assert.deepEqual(users.map((u) => u.payload), payloads);
    assert.deepEqual(users.map((u) => u.partitionKey), ['k0', 'k1', 'k2']);
    assert.deepEqual(users.map((u) => u.subSequenceNumber), [0, 1, 2]);
    assert.ok(users.every((u) => u.sequenceNumber === sequenceNumber(9)));
    assert.ok(users[0].position < users[1].position && users[1].position < users[2].position);
  });

  test('a corrupt KPL aggregate becomes one record with a decode error, keeping the raw bytes', () => {
    const bytes = Buffer.concat([Buffer.from([0xf3, 0x89, 0x9a, 0xc2]), Buffer.alloc(40, 7)]);
    const [r] = kinesisEvent('s', [{ data: bytes, partitionKey: 'pk', sequenceNumber: '1' }]).Records;
    const [u] = toSourceRecords(r);
    assert.match(u.decodeError!, /invalid KPL aggregated record/);
    assert.equal(u.payloadBase64, bytes.toString('base64'));
  });

  test('records are grouped by shard in delivery order', () => {
    const ev = kinesisEvent('shardId-a', [
      { data: '1', partitionKey: 'p', sequenceNumber: '10' },
      { data: '2', partitionKey: 'p', sequenceNumber: '11' },
    ]);
    ev.Records[1].eventID = 'shardId-b:11';
    const lanes = groupByShard(ev.Records);
    assert.deepEqual([...lanes.keys()], ['shardId-a', 'shardId-b']);
  });
});

import assert from 'node:assert/strict';

import { formatSinkTable, printableUtf8, toSinkEntry } from '../../scripts/lib/sink-entries';

describe('sink entries', () => {
  test('payloads are decoded from base64 when printable UTF-8, left as base64 otherwise', () => {
    assert.equal(printableUtf8(Buffer.from('{"a":"é\\t"}\n')), '{"a":"é\\t"}\n');
    assert.equal(printableUtf8(Buffer.from([0xff, 0xfe, 0x41])), undefined);
    assert.equal(printableUtf8(Buffer.from([0x41, 0x00, 0x42])), undefined);
    const text = toSinkEntry('errors', { reason: 'invalid JSON', shardId: 's', sequenceNumber: '42', payload: 'garbled', payloadBase64: Buffer.from('{oops').toString('base64') });
    assert.equal(text.payload, '{oops');
    const binary = toSinkEntry('errors', { reason: 'invalid KPL', payloadBase64: Buffer.from([0xf3, 0x89, 0x00]).toString('base64') });
    assert.equal(binary.payload, undefined);
    assert.equal(binary.payloadBase64, '84kA');
    const late = toSinkEntry('late', { reason: 'too late', aggregation: 'a', windowStart: 'x', windowEnd: 'y', payload: '{"ts":1}' });
    assert.deepEqual([late.sink, late.payload, late.aggregation, late.windowEnd], ['late', '{"ts":1}', 'a', 'y']);
  });

  test('the table shows sink, reason, shard, sequence number and payload', () => {
    const table = formatSinkTable([toSinkEntry('errors', { reason: 'missing field', shardId: 'shardId-1', sequenceNumber: '7', subSequenceNumber: 2, payload: '{"a":\n1}' })]);
    const [header, , row] = table.split('\n');
    assert.match(header, /^sink\s+reason\s+shard\s+sequence number\s+payload$/);
    assert.match(row, /^errors\s+missing field\s+shardId-1\s+7\/2\s+\{"a": 1\}$/);
    assert.equal(formatSinkTable([]), '(no entries)');
  });
});

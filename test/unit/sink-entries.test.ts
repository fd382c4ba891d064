
import { formatSinkTable, printableUtf8, toSinkEntry } from '../../scripts/lib/sink-entries';

describe('sink entries', () => {
  test('payloads are decoded from base64 when printable UTF-8, left as base64 otherwise', () => {
    expect(printableUtf8(Buffer.from('{"a":"é\\t"}\n'))).toBe('{"a":"é\\t"}\n');
    expect(printableUtf8(Buffer.from([0xff, 0xfe, 0x41]))).toBe(undefined);
    expect(printableUtf8(Buffer.from([0x41, 0x00, 0x42]))).toBe(undefined);
    const text = toSinkEntry('errors', { reason: 'invalid JSON', shardId: 's', sequenceNumber: '42', payload: 'garbled', payloadBase64: Buffer.from('{oops').toString('base64') });
    expect(text.payload).toBe('{oops');
    const binary = toSinkEntry('errors', { reason: 'invalid KPL', payloadBase64: Buffer.from([0xf3, 0x89, 0x00]).toString('base64') });
    expect(binary.payload).toBe(undefined);
    expect(binary.payloadBase64).toBe('84kA');
    const late = toSinkEntry('late', { reason: 'too late', aggregation: 'a', windowStart: 'x', windowEnd: 'y', payload: '{"ts":1}' });
    expect([late.sink, late.payload, late.aggregation, late.windowEnd]).toStrictEqual(['late', '{"ts":1}', 'a', 'y']);
  });

  test('fields of another JSON type are shown as text, objects as JSON (not "[object Object]")', () => {
    const e = toSinkEntry('errors', { reason: { code: 'E1' }, shardId: 7, sequenceNumber: true, partitionKey: null });
    expect([e.reason, e.shardId, e.sequenceNumber, e.partitionKey]).toStrictEqual(['{"code":"E1"}', '7', 'true', undefined]);
  });

  test('the table shows sink, reason, shard, sequence number and payload', () => {
    const table = formatSinkTable([toSinkEntry('errors', { reason: 'missing field', shardId: 'shardId-1', sequenceNumber: '7', subSequenceNumber: 2, payload: '{"a":\n1}' })]);
    const [header, , row] = table.split('\n');
    expect(header).toMatch(/^sink\s+reason\s+shard\s+sequence number\s+payload$/);
    expect(row).toMatch(/^errors\s+missing field\s+shardId-1\s+7\/2\s+\{"a": 1\}$/);
    expect(formatSinkTable([])).toBe('(no entries)');
  });
});

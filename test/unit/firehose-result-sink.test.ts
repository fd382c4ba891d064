
import { FirehoseClient, PutRecordBatchCommand } from '@aws-sdk/client-firehose';
import { mockClient } from 'aws-sdk-client-mock';
import {
  chunkForPutBatch,
  FirehoseResultSink,
  MAX_BYTES_PER_PUT_BATCH,
  MAX_RECORDS_PER_PUT_BATCH,
  packLines,
} from '../../lambda/adapters/firehose-result-sink';
import type { WindowResult } from '../../lambda/domain/window-result';

const noSleep = async () => {};

function result(i: number): WindowResult {
  return {
    id: `id-${i}`,
    aggregation: 'a',
    key: { k: `key-${i}` },
    windowStart: '2024-01-01T00:00:00.000Z',
    windowEnd: '2024-01-01T00:01:00.000Z',
    measures: { n: i },
    final: true,
    version: 1,
  };
}

describe('packing and chunking', () => {
  test('packs newline-terminated lines up to the cap, never splitting a line', () => {
    const lines = Array.from({ length: 50 }, (_, i) => 'x'.repeat(10 + i));
    const records = packLines(lines, 200);
    expect(records.every((r) => r.length <= 200)).toBe(true);
    expect(Buffer.concat(records).toString()).toBe(lines.map((l) => l + '\n').join(''));
  });
  test('a line larger than the cap is an error, not a split', () => {
    expect(() => packLines(['x'.repeat(300)], 200)).toThrow(/exceeds the 200-byte record cap/);
  });
  test('calls hold at most 500 records', () => {
    const calls = chunkForPutBatch(Array.from({ length: 1201 }, () => Buffer.from('a')));
    expect(calls.map((c) => c.length)).toStrictEqual([MAX_RECORDS_PER_PUT_BATCH, MAX_RECORDS_PER_PUT_BATCH, 201]);
  });
  test('calls hold at most 4 MiB', () => {
    const big = Buffer.alloc(1000 * 1024);
    const calls = chunkForPutBatch(Array.from({ length: 9 }, () => big));
    expect(calls.every((c) => c.reduce((n, b) => n + b.length, 0) <= MAX_BYTES_PER_PUT_BATCH)).toBe(true);
    expect(calls.map((c) => c.length)).toStrictEqual([4, 4, 1]);
  });
});

describe('FirehoseResultSink', () => {
  test('sends packed newline-delimited results to the delivery stream', async () => {
    const mock = mockClient(FirehoseClient);
    mock.on(PutRecordBatchCommand).resolves({ FailedPutCount: 0, RequestResponses: [{ RecordId: '1' }] });
    await new FirehoseResultSink(new FirehoseClient({}), { deliveryStreamName: 'results', sleep: noSleep }).emit([result(1), result(2)]);
    const calls = mock.commandCalls(PutRecordBatchCommand);
    expect(calls.length).toBe(1);
    expect(calls[0].args[0].input.DeliveryStreamName).toBe('results');
    const body = Buffer.from(calls[0].args[0].input.Records![0].Data!).toString();
    expect(body.trimEnd().split('\n').map((l) => JSON.parse(l) as unknown)).toStrictEqual([result(1), result(2)]);
  });

  test('retries only the entries that failed', async () => {
    const mock = mockClient(FirehoseClient);
    mock
      .on(PutRecordBatchCommand)
      .resolvesOnce({ FailedPutCount: 1, RequestResponses: [{ RecordId: 'a' }, { ErrorCode: 'ServiceUnavailableException' }, { RecordId: 'c' }] })
      .resolves({ FailedPutCount: 0, RequestResponses: [{ RecordId: 'b' }] });
    const sink = new FirehoseResultSink(new FirehoseClient({}), { deliveryStreamName: 'r', maxRecordBytes: 200, sleep: noSleep });
    await sink.emit([result(1), result(2), result(3)]);
    const calls = mock.commandCalls(PutRecordBatchCommand);
    expect(calls.length).toBe(2);
    expect(calls[0].args[0].input.Records!.length).toBe(3);
    const retried = calls[1].args[0].input.Records!;
    expect(retried.length).toBe(1);
    expect(JSON.parse(Buffer.from(retried[0].Data!).toString())).toMatchObject({ id: 'id-2' });
  });

  test('gives up after the bound and throws, so the windows stay pending', async () => {
    const mock = mockClient(FirehoseClient);
    mock.on(PutRecordBatchCommand).resolves({ FailedPutCount: 1, RequestResponses: [{ ErrorCode: 'InternalFailure' }] });
    const sink = new FirehoseResultSink(new FirehoseClient({}), { deliveryStreamName: 'r', maxAttempts: 3, sleep: noSleep });
    await expect(sink.emit([result(1)])).rejects.toThrow(/1 Firehose record\(s\) of window results still failed/);
    expect(mock).toHaveReceivedCommandTimes(PutRecordBatchCommand, 3);
  });

  test('a thrown call counts as every entry failed and is retried', async () => {
    const mock = mockClient(FirehoseClient);
    mock.on(PutRecordBatchCommand).rejectsOnce(new Error('socket hang up')).resolves({ FailedPutCount: 0, RequestResponses: [{}] });
    await new FirehoseResultSink(new FirehoseClient({}), { deliveryStreamName: 'r', sleep: noSleep }).emit([result(1)]);
    expect(mock).toHaveReceivedCommandTimes(PutRecordBatchCommand, 2);
  });
});

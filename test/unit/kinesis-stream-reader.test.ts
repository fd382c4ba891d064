import { GetRecordsCommand, GetShardIteratorCommand, KinesisClient } from '@aws-sdk/client-kinesis';
import { mockClient } from 'aws-sdk-client-mock';
import { laneStateOf } from '../../lambda/adapters/dynamodb-window-store';
import { KinesisStreamReader } from '../../lambda/adapters/kinesis-stream-reader';
import { sequenceNumber } from '../support/harness';

const ARN = 'arn:aws:kinesis:us-east-1:000000000000:stream/events';
const rec = (i: number) => ({ SequenceNumber: sequenceNumber(i), PartitionKey: 'k', Data: Buffer.from(JSON.stringify({ i })) });

describe('KinesisStreamReader', () => {
  test('reads a skipped range from its first record up to before the next batch, across pages', async () => {
    const mock = mockClient(KinesisClient);
    mock.on(GetShardIteratorCommand).resolves({ ShardIterator: 'it-0' });
    mock.on(GetRecordsCommand, { ShardIterator: 'it-0' }).resolves({ Records: [rec(10), rec(11)], NextShardIterator: 'it-1' });
    mock.on(GetRecordsCommand, { ShardIterator: 'it-1' }).resolves({ Records: [rec(12), rec(13), rec(14)], NextShardIterator: 'it-2' });
    const read = await new KinesisStreamReader(new KinesisClient({}), { GetShardIteratorCommand, GetRecordsCommand }, async () => {}).readRange(ARN, 'shardId-1', sequenceNumber(10), sequenceNumber(13));
    expect(read.trimmed).toBe(false);
    expect(read.records.map((r) => r.sequenceNumber)).toEqual([sequenceNumber(10), sequenceNumber(11), sequenceNumber(12)]);
    expect(read.records[0].payload).toBe('{"i":10}');
    expect(mock).toHaveReceivedCommandWith(GetShardIteratorCommand, { StreamName: 'events', ShardId: 'shardId-1', ShardIteratorType: 'AT_SEQUENCE_NUMBER', StartingSequenceNumber: sequenceNumber(10) });
    mock.restore();
  });

  test('re-read records carry their arrival time, and none (not 1970) when the stream leaves it out', async () => {
    const mock = mockClient(KinesisClient);
    const arrived = new Date('2026-01-02T03:04:05.678Z');
    mock.on(GetShardIteratorCommand).resolves({ ShardIterator: 'it-0' });
    mock.on(GetRecordsCommand).resolves({ Records: [{ ...rec(1), ApproximateArrivalTimestamp: arrived }, rec(2), rec(3)], NextShardIterator: 'it-1' });
    const read = await new KinesisStreamReader(new KinesisClient({}), { GetShardIteratorCommand, GetRecordsCommand }, async () => {}).readRange(ARN, 'shardId-1', sequenceNumber(1), sequenceNumber(3));
    expect(read.records.map((r) => r.arrivalMs)).toEqual([arrived.getTime(), undefined]);
    mock.restore();
  });

  test('a range whose first records left the stream is read from the trim horizon and said to be trimmed', async () => {
    const mock = mockClient(KinesisClient);
    mock.on(GetShardIteratorCommand, { ShardIteratorType: 'AT_SEQUENCE_NUMBER' }).rejects(Object.assign(new Error('expired'), { name: 'InvalidArgumentException' }));
    mock.on(GetShardIteratorCommand, { ShardIteratorType: 'TRIM_HORIZON' }).resolves({ ShardIterator: 'h' });
    mock.on(GetRecordsCommand).resolves({ Records: [rec(12), rec(13)], NextShardIterator: 'h2' });
    const read = await new KinesisStreamReader(new KinesisClient({}), { GetShardIteratorCommand, GetRecordsCommand }, async () => {}).readRange(ARN, 'shardId-1', sequenceNumber(10), sequenceNumber(13));
    expect(read).toMatchObject({ trimmed: true });
    expect(read.records.map((r) => r.sequenceNumber)).toEqual([sequenceNumber(12)]);
    mock.restore();
  });

  test('a read that cannot reach the next batch throws (the batch is retried), it does not report a loss', async () => {
    const mock = mockClient(KinesisClient);
    mock.on(GetShardIteratorCommand).resolves({ ShardIterator: 'it' });
    mock.on(GetRecordsCommand).resolves({ Records: [], NextShardIterator: 'it' });
    await expect(new KinesisStreamReader(new KinesisClient({}), { GetShardIteratorCommand, GetRecordsCommand }, async () => {}).readRange(ARN, 's', sequenceNumber(1), sequenceNumber(5))).rejects.toThrow(/did not reach/);
    mock.restore();
  });
});

describe('lane items', () => {
  test('read back with every mark, and items from before revisions count as revision 0', () => {
    expect(laneStateOf({ pk: 'lanes', sk: 's', wm: 5, lb: 7, ap: 'p9', inf: { s: '10', p: 'p10' }, rp: [{ f: 'a', b: 'b' }], rev: 3 })).toEqual({
      watermark: 5,
      lastBatchAt: 7,
      applied: 'p9',
      inFlight: { sequenceNumber: '10', position: 'p10' },
      repaired: [{ from: 'a', before: 'b' }],
      lost: [],
      rev: 3,
    });
    expect(laneStateOf({ pk: 'lanes', sk: 's', wm: 5 })).toMatchObject({ watermark: 5, rev: 0, lastBatchAt: undefined });
  });
});

/**
 * `ordered: false`: full 500-record calls, and still every record delivered exactly once under partial failures,
 * whether records come one `put` at a time or through `putAll`.
 */
import { KinesisClient, PutRecordsCommand, type PutRecordsCommandInput } from '@aws-sdk/client-kinesis';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { Producer, type ProducerRecord, type PutReceipt } from '../../scripts/lib/producer';

const noSleep = async () => {};

function flakyStream(fails: (data: string, attempt: number) => boolean) {
  const mock = mockClient(KinesisClient);
  const accepted: string[] = [];
  const callSizes: number[] = [];
  const tries = new Map<string, number>();
  mock.on(PutRecordsCommand).callsFake((input: PutRecordsCommandInput) => {
    callSizes.push(input.Records?.length ?? 0);
    const out = (input.Records ?? []).map((r) => {
      const data = Buffer.from(r.Data ?? new Uint8Array()).toString();
      const n = (tries.get(data) ?? 0) + 1;
      tries.set(data, n);
      if (fails(data, n)) return { ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'Rate exceeded' };
      accepted.push(data);
      return { ShardId: 'shardId-0', SequenceNumber: String(accepted.length) };
    });
    return { FailedRecordCount: out.filter((o) => 'ErrorCode' in o).length, Records: out };
  });
  return { mock, accepted, callSizes, tries };
}

/** The two ways to hand records to a producer. */
const FEEDS: Record<string, (p: Producer, records: readonly ProducerRecord[]) => Promise<void>> = {
  'put': async (p, records) => {
    for (const r of records) await p.put(r);
  },
  'putAll': (p, records) => p.putAll(records),
};

describe.each(Object.keys(FEEDS))('unordered producer fed by %s', (feedName) => {
  const feed = FEEDS[feedName];

  test('without failures, calls carry 500 records whatever the keys', async () => {
    const { mock, accepted, callSizes } = flakyStream(() => false);
    const producer = new Producer(new KinesisClient({}), { streamName: 's', ordered: false });
    const records = Array.from({ length: 1200 }, (_, i) => ({ partitionKey: `k${i % 3}`, data: `r${i}` }));
    await feed(producer, records);
    await producer.close();
    expect(callSizes).toEqual([500, 500, 200]);
    expect(accepted).toEqual(records.map((r) => r.data));
    expect(producer.stats).toEqual({ sent: 1200, retried: 0, failed: 0, kinesisRecords: 1200 });
    mock.restore();
  });

  test('under partial failures every record lands exactly once or is reported, and only as the bound allows', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ key: fc.constantFrom('a', 'b', 'c'), failFirst: fc.integer({ min: 0, max: 6 }) }), { minLength: 1, maxLength: 80 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 12 }),
        async (plan, maxAttempts, batchSize) => {
          const records = plan.map((p, i) => ({ partitionKey: p.key, data: `${p.key}-${i}` }));
          const failFirst = new Map(records.map((r, i) => [r.data, plan[i].failFirst]));
          const { mock, accepted, tries } = flakyStream((data, n) => n <= failFirst.get(data)!);
          const receipts = new Map<string, PutReceipt[]>();
          const producer = new Producer(new KinesisClient({}), {
            streamName: 's',
            maxAttempts,
            sleep: noSleep,
            ordered: false,
            batchSize,
            onDelivered: (r, receipt) => receipts.set(String(r.data), [...(receipts.get(String(r.data)) ?? []), receipt]),
          });
          await feed(producer, records);
          const failed = await producer.settle();
          mock.restore();

          const landed = new Set(accepted);
          expect(accepted.length).toBe(landed.size);
          const reported = new Map(failed.map((f) => [String(f.data), f.error]));
          for (const r of records) expect(landed.has(r.data) !== reported.has(r.data)).toBe(true);
          // Nothing is sent more often than the bound; a record is only reported when it failed every attempt it was
          // allowed, or when a record of its key did (it is then held back, unsent or sent no more).
          const exhausted = new Set(records.filter((r) => (tries.get(r.data) ?? 0) === maxAttempts && failFirst.get(r.data)! >= maxAttempts).map((r) => r.partitionKey));
          for (const r of records) {
            expect(tries.get(r.data) ?? 0).toBeLessThanOrEqual(maxAttempts);
            if (!reported.has(r.data)) continue;
            const ownFailure = failFirst.get(r.data)! >= maxAttempts && tries.get(r.data) === maxAttempts;
            expect(ownFailure || (exhausted.has(r.partitionKey) && reported.get(r.data)!.length > 0)).toBe(true);
          }
          expect(producer.stats.sent).toBe(landed.size);
          expect(producer.stats.failed).toBe(failed.length);
          // Each landed record was announced once, with the sequence number the stream gave it.
          for (const r of records) {
            if (!landed.has(r.data)) expect(receipts.has(r.data)).toBe(false);
            else expect(receipts.get(r.data)).toEqual([{ shardId: 'shardId-0', sequenceNumber: String(accepted.indexOf(r.data) + 1) }]);
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('PutRecords answers that do not account for every record', () => {
  test('a response with fewer results than records counts as failed for all of them, and they are sent again', async () => {
    const mock = mockClient(KinesisClient);
    const seen: string[][] = [];
    mock.on(PutRecordsCommand).callsFake((input: PutRecordsCommandInput) => {
      seen.push(input.Records!.map((r) => Buffer.from(r.Data!).toString()));
      const all = input.Records!.map((_, i) => ({ ShardId: 's', SequenceNumber: String(i) }));
      // The first answer drops its last result: a record nobody reported written.
      return { FailedRecordCount: 0, Records: seen.length === 1 ? all.slice(0, -1) : all };
    });
    const producer = new Producer(new KinesisClient({}), { streamName: 's', ordered: false, sleep: noSleep });
    await producer.putAll([
      { partitionKey: 'a', data: '1' },
      { partitionKey: 'b', data: '2' },
    ]);
    await producer.close();
    expect(seen).toEqual([
      ['1', '2'],
      ['1', '2'],
    ]);
    expect(producer.stats).toEqual({ sent: 2, retried: 2, failed: 0, kinesisRecords: 2 });
    mock.restore();
  });

  test('with one attempt allowed, such a response reports every record with the reason', async () => {
    const mock = mockClient(KinesisClient);
    mock.on(PutRecordsCommand).resolves({ FailedRecordCount: 0, Records: [] });
    const producer = new Producer(new KinesisClient({}), { streamName: 's', ordered: false, maxAttempts: 1 });
    await producer.putAll([{ partitionKey: 'a', data: '1' }]);
    const failed = await producer.settle();
    expect(failed).toEqual([{ partitionKey: 'a', data: '1', error: 'PutRecords answered 0 results for 1 records' }]);
    mock.restore();
  });
});

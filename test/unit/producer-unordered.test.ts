/**
 * `ordered: false`: full 500-record calls, and still every record delivered exactly once under partial failures.
 */
import { KinesisClient, PutRecordsCommand, type PutRecordsCommandInput } from '@aws-sdk/client-kinesis';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { Producer } from '../../scripts/lib/producer';

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
  return { mock, accepted, callSizes };
}

describe('unordered producer', () => {
  test('without failures, calls carry 500 records whatever the keys', async () => {
    const { mock, accepted, callSizes } = flakyStream(() => false);
    const producer = new Producer(new KinesisClient({}), { streamName: 's', ordered: false });
    const records = Array.from({ length: 1200 }, (_, i) => ({ partitionKey: `k${i % 3}`, data: `r${i}` }));
    for (const r of records) await producer.put(r);
    await producer.close();
    expect(callSizes).toEqual([500, 500, 200]);
    expect(accepted).toEqual(records.map((r) => r.data));
    mock.restore();
  });

  test('under partial failures every record is delivered exactly once, or reported', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ key: fc.constantFrom('a', 'b', 'c'), failFirst: fc.integer({ min: 0, max: 6 }) }), { minLength: 1, maxLength: 80 }),
        async (plan) => {
          const records = plan.map((p, i) => ({ partitionKey: p.key, data: `${p.key}-${i}` }));
          const failFirst = new Map(records.map((r, i) => [r.data, plan[i].failFirst]));
          const { mock, accepted } = flakyStream((data, n) => n <= failFirst.get(data)!);
          const producer = new Producer(new KinesisClient({}), { streamName: 's', maxAttempts: 5, sleep: noSleep, ordered: false, batchSize: 7 });
          for (const r of records) await producer.put(r);
          const failed = await producer.settle();
          // Each record either landed exactly once or is reported, never both.
          const landed = new Set(accepted);
          expect(accepted.length).toBe(landed.size);
          const reported = new Set(failed.map((f) => String(f.data)));
          for (const r of records) expect(landed.has(r.data) !== reported.has(r.data)).toBe(true);
          // A record that failed fewer times than the bound always lands.
          for (const r of records) if (failFirst.get(r.data)! < 5 && !reported.has(r.data)) expect(landed.has(r.data)).toBe(true);
          mock.restore();
        },
      ),
      { numRuns: 50 },
    );
  });
});

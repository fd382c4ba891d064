import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { MAX_PUT_RECORDS_ENTRIES, Producer, UndeliveredRecordsError } from '../../scripts/lib/producer';

const noSleep = async () => {};

describe('Producer', () => {
  test('nothing is lost and attempts stay bounded when chosen entries fail', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 1200 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 8 }),
        async (count, failureRates) => {
          const mock = mockClient(KinesisClient);
          const delivered: string[] = [];
          let call = 0;
          mock.on(PutRecordsCommand).callsFake((input) => {
            const rate = failureRates[call++ % failureRates.length];
            const out = input.Records.map((r: { Data: Uint8Array }, i: number) => {
              // Deterministic choice of failing entries per call.
              if (((i * 2654435761) % 1000) / 1000 < rate) return { ErrorCode: 'ProvisionedThroughputExceededException' };
              delivered.push(Buffer.from(r.Data).toString());
              return { ShardId: 'shardId-0', SequenceNumber: String(call * 10_000 + i) };
            });
            return { FailedRecordCount: out.filter((o: { ErrorCode?: string }) => o.ErrorCode).length, Records: out };
          });
          const maxAttempts = 4;
          const producer = new Producer(new KinesisClient({}), { streamName: 's', maxAttempts, sleep: noSleep });
          const sent = Array.from({ length: count }, (_, i) => `r${i}`);
          for (const data of sent) await producer.put({ partitionKey: data, data });
          let failed: readonly { data: string | Uint8Array }[] = [];
          try {
            await producer.close();
          } catch (e) {
            assert.ok(e instanceof UndeliveredRecordsError);
            failed = e.failed;
          }
          // Every record is either delivered exactly once or reported as failed.
          const accounted = [...delivered, ...failed.map((f) => String(f.data))].sort();
          assert.deepEqual(accounted, [...sent].sort());
          assert.equal(producer.stats.sent, delivered.length);
          assert.equal(producer.stats.failed, failed.length);
          const batches = Math.ceil(count / MAX_PUT_RECORDS_ENTRIES);
          assert.ok(mock.commandCalls(PutRecordsCommand).length <= batches * maxAttempts);
          for (const c of mock.commandCalls(PutRecordsCommand)) assert.ok(c.args[0].input.Records!.length <= MAX_PUT_RECORDS_ENTRIES);
          mock.restore();
        },
      ),
      { numRuns: 40 },
    );
  });

  test('only the failed entries are sent again', async () => {
    const mock = mockClient(KinesisClient);
    mock
      .on(PutRecordsCommand)
      .resolvesOnce({ FailedRecordCount: 1, Records: [{ ShardId: 's', SequenceNumber: '1' }, { ErrorCode: 'InternalFailure' }] })
      .resolves({ FailedRecordCount: 0, Records: [{ ShardId: 's', SequenceNumber: '2' }] });
    const producer = new Producer(new KinesisClient({}), { streamName: 's', sleep: noSleep });
    await producer.put({ partitionKey: 'a', data: 'A' });
    await producer.put({ partitionKey: 'b', data: 'B' });
    await producer.close();
    const calls = mock.commandCalls(PutRecordsCommand);
    assert.equal(calls.length, 2);
    assert.deepEqual(calls[1].args[0].input.Records!.map((r) => r.PartitionKey), ['b']);
    assert.deepEqual(producer.stats, { sent: 2, retried: 1, failed: 0 });
    mock.restore();
  });
});

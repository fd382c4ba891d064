
import { KinesisClient, PutRecordsCommand, type PutRecordsCommandInput } from '@aws-sdk/client-kinesis';
import { mockClient } from 'aws-sdk-client-mock';
import { fc, test } from '@fast-check/jest';
import { toSourceRecords } from '../../lambda/adapters/kinesis-records';
import { MAX_PUT_RECORDS_BYTES, MAX_PUT_RECORDS_ENTRIES, MAX_RECORD_BYTES, Producer, UndeliveredRecordsError } from '../../scripts/lib/producer';
import { rejectionOf } from '../support/expect-error';
import { kinesisEvent } from '../support/harness';

const noSleep = async () => {};

describe('Producer', () => {
  test.prop([fc.integer({ min: 1, max: 1200 }), fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 8 })], { numRuns: 40 })('nothing is lost and attempts stay bounded when chosen entries fail', async (count, failureRates) => {
    const mock = mockClient(KinesisClient);
    const delivered: string[] = [];
    let call = 0;
    mock.on(PutRecordsCommand).callsFake((input: PutRecordsCommandInput) => {
      const rate = failureRates[call++ % failureRates.length];
      const out = input.Records!.map((r, i) => {
        // Deterministic choice of failing entries per call.
        if (((i * 2654435761) % 1000) / 1000 < rate) return { ErrorCode: 'ProvisionedThroughputExceededException' };
        delivered.push(Buffer.from(r.Data!).toString());
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
      expect(e).toBeInstanceOf(UndeliveredRecordsError);
      failed = (e as UndeliveredRecordsError).failed;
    }
    // Every record is either delivered exactly once or reported as failed.
    const accounted = [...delivered, ...failed.map((f) => String(f.data))].sort();
    expect(accounted).toStrictEqual([...sent].sort());
    expect(producer.stats.sent).toBe(delivered.length);
    expect(producer.stats.failed).toBe(failed.length);
    const batches = Math.ceil(count / MAX_PUT_RECORDS_ENTRIES);
    expect(mock.commandCalls(PutRecordsCommand).length).toBeLessThanOrEqual(batches * maxAttempts);
    for (const c of mock.commandCalls(PutRecordsCommand)) expect(c.args[0].input.Records!.length).toBeLessThanOrEqual(MAX_PUT_RECORDS_ENTRIES);
    mock.restore();
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
    expect(calls.length).toBe(2);
    expect(calls[1].args[0].input.Records!.map((r) => r.PartitionKey)).toStrictEqual(['b']);
    expect(producer.stats).toStrictEqual({ sent: 2, retried: 1, failed: 0, kinesisRecords: 2 });
    mock.restore();
  });
});

describe('Producer, aggregating and settling', () => {
  const KPL_MAGIC = Buffer.from([0xf3, 0x89, 0x9a, 0xc2]);

  /** The user records inside what PutRecords received, read back with the aggregator's own decoder. */
  function userRecordsOf(calls: ReturnType<ReturnType<typeof mockClient>['commandCalls']>) {
    const out: { partitionKey: string; payload: string }[] = [];
    for (const c of calls) {
      for (const r of (c.args[0].input as { Records: { PartitionKey: string; Data: Uint8Array }[] }).Records) {
        const data = Buffer.from(r.Data);
        expect(data.subarray(0, 4).equals(KPL_MAGIC)).toBe(true);
        const event = kinesisEvent('shardId-0', [{ data, partitionKey: r.PartitionKey, sequenceNumber: '1' }]);
        for (const u of toSourceRecords(event.Records[0])) {
          expect(u.partitionKey).toBe(r.PartitionKey);
          out.push({ partitionKey: u.partitionKey, payload: u.payload });
        }
      }
    }
    return out;
  }

  test('aggregate mode packs records per partition key into KPL records the aggregator de-aggregates, none lost', async () => {
    const mock = mockClient(KinesisClient);
    mock.on(PutRecordsCommand).callsFake((input: PutRecordsCommandInput) => ({
      FailedRecordCount: 0,
      Records: input.Records!.map((_: unknown, i: number) => ({ ShardId: 'shardId-0', SequenceNumber: String(i + 1) })),
    }));
    const producer = new Producer(new KinesisClient({}), { streamName: 's', aggregate: true, sleep: noSleep });
    const sent = Array.from({ length: 3000 }, (_, i) => ({ partitionKey: `k${i % 7}`, data: JSON.stringify({ i, pad: 'x'.repeat(i % 50) }) }));
    for (const r of sent) await producer.put(r);
    await producer.close();
    const calls = mock.commandCalls(PutRecordsCommand);
    const got = userRecordsOf(calls);
    expect(got.map((g) => `${g.partitionKey}|${g.payload}`).sort()).toStrictEqual(sent.map((s) => `${s.partitionKey}|${s.data}`).sort());
    // Per key, order is kept.
    for (let k = 0; k < 7; k++) {
      expect(got.filter((g) => g.partitionKey === `k${k}`).map((g) => g.payload)).toStrictEqual(sent.filter((s) => s.partitionKey === `k${k}`).map((s) => s.data));
    }
    const kinesisRecords = calls.reduce((n, c) => n + c.args[0].input.Records!.length, 0);
    expect(kinesisRecords).toBeLessThan(20);
    expect(producer.stats).toStrictEqual({ sent: 3000, retried: 0, failed: 0, kinesisRecords });
    mock.restore();
  });

  test('aggregate mode keeps PutRecords within 500 entries and 5 MiB', async () => {
    const mock = mockClient(KinesisClient);
    mock.on(PutRecordsCommand).callsFake((input: PutRecordsCommandInput) => ({
      FailedRecordCount: 0,
      Records: input.Records!.map(() => ({ ShardId: 'shardId-0', SequenceNumber: '1' })),
    }));
    // 600 partition keys → at least 600 aggregates per flush; 300 KiB records → aggregates near 1 MiB.
    const producer = new Producer(new KinesisClient({}), { streamName: 's', aggregate: true, batchSize: 1200, sleep: noSleep });
    for (let i = 0; i < 1200; i++) await producer.put({ partitionKey: `k${i % 600}`, data: 'y'.repeat(i < 40 ? 300 * 1024 : 10) });
    await producer.close();
    for (const c of mock.commandCalls(PutRecordsCommand)) {
      const records = c.args[0].input.Records!;
      expect(records.length).toBeLessThanOrEqual(MAX_PUT_RECORDS_ENTRIES);
      const bytes = records.reduce((n, r) => n + r.Data!.byteLength + Buffer.byteLength(r.PartitionKey!), 0);
      expect(bytes).toBeLessThanOrEqual(MAX_PUT_RECORDS_BYTES);
    }
    expect(producer.stats.sent).toBe(1200);
    mock.restore();
  });

  test.prop(
    [
      fc.array(
        fc.record({
          kind: fc.constantFrom('ascii', 'multibyte', 'bytes'),
          // Mostly large: calls must reach the 5 MiB limit, and some records the 1 MiB one.
          length: fc.oneof({ arbitrary: fc.integer({ min: 1, max: 2000 }), weight: 1 }, { arbitrary: fc.integer({ min: 150_000, max: 450_000 }), weight: 3 }),
          key: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }),
        }),
        { minLength: 10, maxLength: 40 },
      ),
      fc.boolean(),
    ],
    { numRuns: 25 },
  )('plain records of any size and key are cut into calls within 500 entries and 5 MiB, each sent once or refused', async (plan, ordered) => {
    const mock = mockClient(KinesisClient);
    mock.on(PutRecordsCommand).callsFake((input: PutRecordsCommandInput) => ({
      FailedRecordCount: 0,
      Records: input.Records!.map(() => ({ ShardId: 'shardId-0', SequenceNumber: '1' })),
    }));
    const records = plan.map((p, i) => ({
      partitionKey: p.key,
      data: p.kind === 'bytes' ? new Uint8Array(p.length).fill(i % 256) : `${i}:` + (p.kind === 'ascii' ? 'a' : 'é€').repeat(p.length / 2),
    }));
    const producer = new Producer(new KinesisClient({}), { streamName: 's', ordered, batchSize: 17, sleep: noSleep });
    await producer.putAll(records);
    const refused = await producer.settle();
    const sent: Uint8Array[] = [];
    for (const c of mock.commandCalls(PutRecordsCommand)) {
      const entries = c.args[0].input.Records!;
      expect(entries.length).toBeLessThanOrEqual(MAX_PUT_RECORDS_ENTRIES);
      expect(entries.reduce((n, r) => n + r.Data!.byteLength + Buffer.byteLength(r.PartitionKey!), 0)).toBeLessThanOrEqual(MAX_PUT_RECORDS_BYTES);
      sent.push(...entries.map((r) => r.Data!));
    }
    // The reference: a record goes when its key and data fit 1 MiB, measured byte by byte.
    const fits = (r: (typeof records)[number]) => Buffer.byteLength(r.partitionKey) + Buffer.from(r.data).byteLength <= MAX_RECORD_BYTES;
    const hex = (d: string | Uint8Array) => Buffer.from(d).toString('hex');
    expect(sent.map(hex).sort()).toStrictEqual(records.filter(fits).map((r) => hex(r.data)).sort());
    expect(refused.map((f) => hex(f.data)).sort()).toStrictEqual(records.filter((r) => !fits(r)).map((r) => hex(r.data)).sort());
    expect(refused.every((f) => f.error.startsWith('RecordTooLarge'))).toBe(true);
    mock.restore();
  });

  test.each([
    ['exactly at the limit is sent', 0, true],
    ['one byte over the limit is refused', 1, false],
  ])('a long multi-byte data string %s', async (_name, over, sent) => {
    // 3 bytes per character, and long enough to be measured rather than bounded.
    const chars = (MAX_RECORD_BYTES - 1) / 3;
    const mock = mockClient(KinesisClient);
    mock.on(PutRecordsCommand).resolves({ FailedRecordCount: 0, Records: [{ ShardId: 's', SequenceNumber: '1' }] });
    const producer = new Producer(new KinesisClient({}), { streamName: 's', sleep: noSleep, maxAttempts: 1 });
    await producer.put({ partitionKey: over ? 'kk' : 'k', data: '€'.repeat(chars) });
    const failed = await producer.settle();
    expect(mock.commandCalls(PutRecordsCommand).length).toBe(sent ? 1 : 0);
    expect(failed.map((f) => f.error)).toStrictEqual(sent ? [] : [`RecordTooLarge: ${MAX_RECORD_BYTES + 1} bytes exceeds the ${MAX_RECORD_BYTES}-byte Kinesis limit`]);
    mock.restore();
  });

  test('a failed aggregate reports every user record in it, with the error; settle does not throw and forgets', async () => {
    const mock = mockClient(KinesisClient);
    mock.on(PutRecordsCommand).callsFake((input: PutRecordsCommandInput) => ({
      FailedRecordCount: 1,
      Records: input.Records!.map((r) =>
        r.PartitionKey === 'bad' ? { ErrorCode: 'InternalFailure', ErrorMessage: 'Internal service failure.' } : { ShardId: 'shardId-0', SequenceNumber: '1' },
      ),
    }));
    const producer = new Producer(new KinesisClient({}), { streamName: 's', aggregate: true, maxAttempts: 3, sleep: noSleep });
    for (let i = 0; i < 10; i++) await producer.put({ partitionKey: i % 2 ? 'bad' : 'good', data: `r${i}` });
    const failed = await producer.settle();
    expect(failed.map((f) => f.data).sort()).toStrictEqual(['r1', 'r3', 'r5', 'r7', 'r9']);
    for (const f of failed) expect(f.error).toBe('InternalFailure: Internal service failure.');
    expect(mock).toHaveReceivedCommandTimes(PutRecordsCommand, 3);
    expect(producer.stats).toStrictEqual({ sent: 5, retried: 10, failed: 5, kinesisRecords: 1 });
    expect(await producer.settle()).toStrictEqual([]);
    await producer.close();
    mock.restore();
  });

  test('a call that throws fails all its entries with the SDK error, attempts bounded, backoff grows and is capped', async () => {
    const mock = mockClient(KinesisClient);
    const err = Object.assign(new Error('Stream s not found'), { name: 'ResourceNotFoundException' });
    mock.on(PutRecordsCommand).rejects(err);
    const delays: number[] = [];
    const producer = new Producer(new KinesisClient({}), {
      streamName: 's',
      maxAttempts: 6,
      baseDelayMs: 100,
      maxDelayMs: 1000,
      random: () => 0.999,
      sleep: (ms) => {
        delays.push(ms);
        return Promise.resolve();
      },
    });
    await producer.put({ partitionKey: 'a', data: 'A' });
    const e = await rejectionOf(producer.close(), UndeliveredRecordsError);
    expect(e.failed).toStrictEqual([{ partitionKey: 'a', data: 'A', error: 'ResourceNotFoundException: Stream s not found' }]);
    expect(mock).toHaveReceivedCommandTimes(PutRecordsCommand, 6);
    expect(delays).toStrictEqual([199, 399, 799, 999, 999]);
    mock.restore();
  });

  test('a record over the 1 MiB limit is reported as undelivered, not sent and not thrown at put', async () => {
    const mock = mockClient(KinesisClient);
    mock.on(PutRecordsCommand).resolves({ FailedRecordCount: 0, Records: [{ ShardId: 's', SequenceNumber: '1' }] });
    const producer = new Producer(new KinesisClient({}), { streamName: 's', sleep: noSleep });
    await producer.put({ partitionKey: 'big', data: 'z'.repeat(MAX_RECORD_BYTES) });
    await producer.put({ partitionKey: 'ok', data: 'fine' });
    const failed = await producer.settle();
    expect(failed.length).toBe(1);
    expect(failed[0].partitionKey).toBe('big');
    expect(failed[0].error).toMatch(/RecordTooLarge/);
    expect(mock.commandCalls(PutRecordsCommand).map((c) => c.args[0].input.Records!.map((r) => r.PartitionKey))).toStrictEqual([['ok']]);
    mock.restore();
  });

  test('data that is neither a string nor bytes is reported, not sent, and does not fail the records around it', async () => {
    const mock = mockClient(KinesisClient);
    mock.on(PutRecordsCommand).callsFake((input: PutRecordsCommandInput) => ({ FailedRecordCount: 0, Records: input.Records!.map(() => ({ ShardId: 's', SequenceNumber: '1' })) }));
    const producer = new Producer(new KinesisClient({}), { streamName: 's', sleep: noSleep });
    await producer.putAll([
      { partitionKey: 'a', data: 'before' },
      { partitionKey: 'b', data: { not: 'bytes' } as unknown as string },
      { partitionKey: 'c', data: 'after' },
    ]);
    const failed = await producer.settle();
    expect(failed).toStrictEqual([{ partitionKey: 'b', data: { not: 'bytes' }, error: 'InvalidData: data must be a string or a Uint8Array, not object' }]);
    expect(mock.commandCalls(PutRecordsCommand).flatMap((c) => c.args[0].input.Records!.map((r) => r.PartitionKey))).toStrictEqual(['a', 'c']);
    mock.restore();
  });

  test.each([
    ['exactly at the limit is sent', 0, true],
    ['one byte over the limit is refused', 1, false],
  ])('a record with a multi-byte partition key %s', async (_name, over, sent) => {
    // The key is 10 characters and 30 UTF-8 bytes: the size must count bytes, not characters or a bound of them.
    const key = '€'.repeat(10);
    const mock = mockClient(KinesisClient);
    mock.on(PutRecordsCommand).resolves({ FailedRecordCount: 0, Records: [{ ShardId: 's', SequenceNumber: '1' }] });
    const producer = new Producer(new KinesisClient({}), { streamName: 's', sleep: noSleep, maxAttempts: 1 });
    await producer.put({ partitionKey: key, data: new Uint8Array(MAX_RECORD_BYTES - Buffer.byteLength(key) + over) });
    const failed = await producer.settle();
    expect(mock.commandCalls(PutRecordsCommand).length).toBe(sent ? 1 : 0);
    expect(failed.map((f) => f.error)).toStrictEqual(sent ? [] : [`RecordTooLarge: ${MAX_RECORD_BYTES + 1} bytes exceeds the ${MAX_RECORD_BYTES}-byte Kinesis limit`]);
    mock.restore();
  });
});


import { GetRecordsCommand, GetShardIteratorCommand, KinesisClient, type _Record, type GetRecordsCommandInput, type GetShardIteratorCommandInput } from '@aws-sdk/client-kinesis';
import { GetFunctionConfigurationCommand, InvokeCommand, LambdaClient, type InvokeCommandOutput, type InvokeCommandInput } from '@aws-sdk/client-lambda';
import { ChangeMessageVisibilityCommand, DeleteMessageCommand, ReceiveMessageCommand, SQSClient, type DeleteMessageCommandInput } from '@aws-sdk/client-sqs';
import type { KinesisStreamEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { createKinesisHandler } from '../../lambda/adapters/kinesis-handler';
import { compileSpec } from '../../lambda/domain/compiled-spec';
import { toWindowResult } from '../../lambda/domain/window-result';
import { invokeChunks, MAX_INVOKE_RECORDS, parseOnFailureMessage, queueUrlFor, readRange, redrive, type KinesisBatchInfo } from '../../scripts/lib/redrive';
import { kinesisEvent, MemoryRecordSink, MemoryResultSink, sequenceNumber } from '../support/harness';
import { MemoryWindowStore } from '../support/memory-window-store';
import { measuresClose, referenceAggregate, windowIdentity } from '../support/reference';
import { aggregationFactory, specFactory } from '../support/factories';

/** A response payload as the SDK types it (a Uint8Array with helpers the code under test does not use). */
const blob = (text: string) => Buffer.from(text) as unknown as NonNullable<InvokeCommandOutput['Payload']>;

const rawSpec = specFactory(
  aggregationFactory({
    allowedLatenessSeconds: 3600,
    measures: [
      { name: 'n', op: 'count' },
      { name: 'total', op: 'sum', field: 'v' },
      { name: 'top', op: 'max', field: 'v' },
    ],
  }),
);
const spec = compileSpec(rawSpec);
const SHARD = 'shardId-000000000001';
const STREAM_ARN = 'arn:aws:kinesis:us-east-1:000000000000:stream/events';
const QUEUE = 'http://127.0.0.1:4567/000000000000/failures';

/** A shard's records: sequence numbers longer than a double's precision, as real ones. */
const events = Array.from({ length: 1200 }, (_, i) => ({ d: `dev-${i % 9}`, ts: 1_000_000 + i * 700, v: (i * 37) % 101 }));
const shard: _Record[] = events.map((e, i) => ({
  SequenceNumber: sequenceNumber(i * 3 + 1),
  PartitionKey: e.d,
  Data: Buffer.from(JSON.stringify(e)),
  ApproximateArrivalTimestamp: new Date(1_700_000_000_000 + i),
}));

function batchInfo(from: number, to: number, shardId = SHARD): KinesisBatchInfo {
  return { shardId, startSequenceNumber: shard[from].SequenceNumber!, endSequenceNumber: shard[to].SequenceNumber!, batchSize: to - from + 1, streamArn: STREAM_ARN };
}

function onFailureBody(info: KinesisBatchInfo): string {
  return JSON.stringify({
    requestContext: { requestId: 'r-1', functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:agg', condition: 'RetryAttemptsExhausted', approximateInvokeCount: 11 },
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
    version: '1.0',
    timestamp: '2024-05-01T12:00:00.000Z',
    KinesisBatchInfo: info,
  });
}

/** A Kinesis mock serving `records` of SHARD from an AT_SEQUENCE_NUMBER iterator, `pageSize` at a time. */
function mockStream(records: readonly _Record[], pageSize = 250) {
  const kinesis = mockClient(KinesisClient);
  kinesis.on(GetShardIteratorCommand).callsFake((input: GetShardIteratorCommandInput) => {
    if (input.ShardId !== SHARD) throw Object.assign(new Error(`Shard ${input.ShardId} not found`), { name: 'ResourceNotFoundException' });
    const at = records.findIndex((r) => BigInt(r.SequenceNumber!) >= BigInt(input.StartingSequenceNumber!));
    return { ShardIterator: `it:${at < 0 ? records.length : at}` };
  });
  kinesis.on(GetRecordsCommand).callsFake((input: GetRecordsCommandInput) => {
    const at = Number(String(input.ShardIterator).slice(3));
    const page = records.slice(at, at + Math.min(pageSize, input.Limit!));
    return { Records: page, NextShardIterator: `it:${at + page.length}`, MillisBehindLatest: at + page.length >= records.length ? 0 : 1000 };
  });
  return kinesis;
}

/** The real handler over an in-memory store, behind a Lambda Invoke mock. */
function mockAggregator(store: MemoryWindowStore) {
  const handler = createKinesisHandler({ spec, store, results: new MemoryResultSink(), errors: new MemoryRecordSink(), late: new MemoryRecordSink() }, () => 0);
  const lambda = mockClient(LambdaClient);
  const invoked: KinesisStreamEvent[] = [];
  lambda.on(GetFunctionConfigurationCommand).resolves({ Role: 'arn:aws:iam::000000000000:role/agg' });
  lambda.on(InvokeCommand).callsFake(async (input: InvokeCommandInput) => {
    const event = JSON.parse(Buffer.from(input.Payload as Uint8Array).toString()) as KinesisStreamEvent;
    invoked.push(event);
    return { StatusCode: 200, Payload: blob(JSON.stringify(await handler(event))) };
  });
  return { lambda, invoked, handler };
}

function mockQueue(bodies: string[]) {
  const sqs = mockClient(SQSClient);
  const live = new Map(bodies.map((b, i) => [`h${i}`, b]));
  let delivered = false;
  sqs.on(ReceiveMessageCommand).callsFake(() => {
    if (delivered) return { Messages: [] };
    delivered = true;
    return { Messages: [...live].map(([h, b]) => ({ MessageId: `m-${h}`, ReceiptHandle: h, Body: b })) };
  });
  sqs.on(DeleteMessageCommand).callsFake((input: DeleteMessageCommandInput) => void live.delete(input.ReceiptHandle!));
  sqs.on(ChangeMessageVisibilityCommand).resolves({});
  return { sqs, live };
}

function windowsOf(store: MemoryWindowStore) {
  return new Map([...store.windows.values()].map(({ ref, stored }) => {
    const r = toWindowResult(ref, stored);
    return [windowIdentity(r), r.measures];
  }));
}

function assertEqualsReference(store: MemoryWindowStore, applied: readonly Record<string, unknown>[]) {
  const expected = referenceAggregate(rawSpec, applied);
  const actual = windowsOf(store);
  expect([...actual.keys()].sort()).toStrictEqual([...expected.keys()].sort());
  for (const [id, w] of expected) expect(measuresClose(actual.get(id)!, w.measures)).toBe(true);
}

describe('on-failure messages', () => {
  test('parses the Lambda Kinesis on-failure record and rejects what is not one', () => {
    const info = batchInfo(0, 9);
    expect(parseOnFailureMessage(onFailureBody(info))).toStrictEqual(JSON.parse(onFailureBody(info)));
    expect((parseOnFailureMessage('nope') as { error: string }).error).toMatch(/not JSON/);
    expect((parseOnFailureMessage('{"Records":[]}') as { error: string }).error).toMatch(/no KinesisBatchInfo/);
    expect((parseOnFailureMessage(onFailureBody({ ...info, startSequenceNumber: '12a' })) as { error: string }).error).toMatch(/SequenceNumber/);
    // BigInt, not number: these differ only beyond a double's precision.
    const reversed = { ...info, startSequenceNumber: '49650000000000000000000000000000000000000000000000000002', endSequenceNumber: '49650000000000000000000000000000000000000000000000000001' };
    expect((parseOnFailureMessage(onFailureBody(reversed)) as { error: string }).error).toMatch(/after/);
  });

  test('the queue URL takes the endpoint origin when one is set', () => {
    expect(queueUrlFor('http://localhost:4566/000000000000/q', 'http://127.0.0.1:4567')).toBe('http://127.0.0.1:4567/000000000000/q');
    expect(queueUrlFor('https://sqs.us-east-1.amazonaws.com/1/q', undefined)).toBe('https://sqs.us-east-1.amazonaws.com/1/q');
  });

  test('invocations stay within the record and payload limits', () => {
    const big = Array.from({ length: 30 }, (_, i) => ({ SequenceNumber: String(i), PartitionKey: 'k', Data: new Uint8Array(400 * 1024) }));
    for (const c of invokeChunks(big)) expect(JSON.stringify(kinesisEvent(SHARD, c.map((r) => ({ data: Buffer.from(r.Data!), partitionKey: 'k', sequenceNumber: r.SequenceNumber! })))).length).toBeLessThan(6 * 1024 * 1024);
    expect(invokeChunks(shard).every((c) => c.length <= MAX_INVOKE_RECORDS)).toBe(true);
    expect(invokeChunks(shard).flat().length).toBe(shard.length);
  });
});

describe('readRange', () => {
  test('reads exactly the range across pages, comparing sequence numbers as BigInt', async () => {
    const kinesis = mockStream(shard, 100);
    const read = await readRange(new KinesisClient({}), batchInfo(5, 730), async () => {});
    expect(read.problem).toBe(undefined);
    expect(read.records.map((r) => r.SequenceNumber)).toStrictEqual(shard.slice(5, 731).map((r) => r.SequenceNumber));
    kinesis.restore();
  });

  test('records expired before the range start are reported', async () => {
    const kinesis = mockStream(shard.slice(20));
    const read = await readRange(new KinesisClient({}), batchInfo(10, 30), async () => {});
    expect(read.records.length).toBe(11);
    expect(read.problem!).toMatch(/expired/);
    kinesis.restore();
  });

  test('a missing shard is reported, not thrown', async () => {
    const kinesis = mockStream(shard);
    const read = await readRange(new KinesisClient({}), batchInfo(0, 3, 'shardId-000000000999'), async () => {});
    expect(read.records.length).toBe(0);
    expect(read.problem!).toMatch(/ResourceNotFoundException/);
    kinesis.restore();
  });
});

describe('redrive', () => {
  test('re-feeding records already applied does not double count; the message is deleted', async () => {
    const store = new MemoryWindowStore();
    const agg = mockAggregator(store);
    // The event source mapping delivered everything once, in batches of 100.
    for (let i = 0; i < shard.length; i += 100) {
      const slice = shard.slice(i, i + 100);
      await agg.handler(kinesisEvent(SHARD, slice.map((r) => ({ data: Buffer.from(r.Data!), partitionKey: r.PartitionKey!, sequenceNumber: r.SequenceNumber! }))));
    }
    assertEqualsReference(store, events);
    const kinesis = mockStream(shard);
    const queue = mockQueue([onFailureBody(batchInfo(150, 1100))]);
    const outcomes = await redrive(
      { sqs: new SQSClient({}), kinesis: new KinesisClient({}), lambda: new LambdaClient({}) },
      { queueUrl: QUEUE, functionName: 'agg', sleep: async () => {} },
    );
    expect(outcomes.length).toBe(1);
    expect(outcomes[0].outcome).toBe('redriven');
    expect(outcomes[0].records).toBe(951);
    expect(outcomes[0].invocations).toBe(2);
    expect(queue.live.size).toBe(0);
    // The event is the one the event source mapping would have built.
    const first = agg.invoked[0].Records[0];
    expect(first.eventID).toBe(`${SHARD}:${shard[150].SequenceNumber}`);
    expect(first.eventSourceARN).toBe(STREAM_ARN);
    expect(first.invokeIdentityArn).toBe('arn:aws:iam::000000000000:role/agg');
    expect(Buffer.from(first.kinesis.data, 'base64').toString()).toBe(JSON.stringify(events[150]));
    assertEqualsReference(store, events);
    for (const m of [kinesis, queue.sqs, agg.lambda]) m.restore();
  });

  test('a range the function never saw is applied by the re-feed', async () => {
    const store = new MemoryWindowStore();
    const agg = mockAggregator(store);
    // The batch [300, 1199] failed for good. (Had later records of the shard reached the same windows first, their
    // fences would make the aggregator skip the re-fed records: see the README on redrive.)
    await agg.handler(kinesisEvent(SHARD, shard.slice(0, 300).map((r) => ({ data: Buffer.from(r.Data!), partitionKey: r.PartitionKey!, sequenceNumber: r.SequenceNumber! }))));
    const kinesis = mockStream(shard);
    const queue = mockQueue([onFailureBody(batchInfo(300, 1199))]);
    const outcomes = await redrive(
      { sqs: new SQSClient({}), kinesis: new KinesisClient({}), lambda: new LambdaClient({}) },
      { queueUrl: QUEUE, functionName: 'agg', sleep: async () => {} },
    );
    expect(outcomes.map((o) => [o.outcome, o.records, o.invocations])).toStrictEqual([['redriven', 900, 2]]);
    assertEqualsReference(store, events);
    for (const m of [kinesis, queue.sqs, agg.lambda]) m.restore();
  });

  test('unrecoverable, failing and invalid messages are kept and reported; a dry run invokes and deletes nothing', async () => {
    const store = new MemoryWindowStore();
    const agg = mockAggregator(store);
    const kinesis = mockStream(shard.slice(50));
    const bodies = [onFailureBody(batchInfo(0, 60)), onFailureBody(batchInfo(0, 5, 'shardId-000000000999')), 'hello'];
    let queue = mockQueue(bodies);
    const clients = { sqs: new SQSClient({}), kinesis: new KinesisClient({}), lambda: new LambdaClient({}) };
    const dry = await redrive(clients, { queueUrl: QUEUE, functionName: 'agg', dryRun: true, sleep: async () => {} });
    expect(dry.map((o) => o.outcome)).toStrictEqual(['unrecoverable', 'unrecoverable', 'invalid']);
    expect(dry[0].preview!.length).toBe(11);
    expect(agg.invoked.length).toBe(0);
    expect(queue.live.size).toBe(3);
    queue.sqs.restore();

    queue = mockQueue(bodies);
    const real = await redrive(clients, { queueUrl: QUEUE, functionName: 'agg', sleep: async () => {} });
    expect(real.map((o) => [o.outcome, o.deleted])).toStrictEqual([['unrecoverable', false], ['unrecoverable', false], ['invalid', false]]);
    expect(real[0].detail!).toMatch(/expired/);
    expect(queue.live.size).toBe(3);
    expect(queue.sqs).toHaveReceivedCommandTimes(ChangeMessageVisibilityCommand, 3);
    queue.sqs.restore();

    // With --accept-partial what is left is re-fed, and the message stays: what expired was never counted.
    queue = mockQueue([bodies[0]]);
    const partial = await redrive(clients, { queueUrl: QUEUE, functionName: 'agg', acceptPartial: true, sleep: async () => {} });
    expect(partial.map((o) => [o.outcome, o.records, o.deleted])).toEqual([['partial', 11, false]]);
    expect(queue.live.size).toBe(1);
    queue.sqs.restore();

    // A function that reports a failed item keeps the message.
    agg.lambda.on(InvokeCommand).resolves({ StatusCode: 200, Payload: blob(JSON.stringify({ batchItemFailures: [{ itemIdentifier: shard[55].SequenceNumber }] })) });
    queue = mockQueue([onFailureBody(batchInfo(50, 60))]);
    const failed = await redrive(clients, { queueUrl: QUEUE, functionName: 'agg', sleep: async () => {} });
    expect(failed.map((o) => [o.outcome, o.deleted])).toStrictEqual([['failed', false]]);
    expect(queue.live.size).toBe(1);
    agg.lambda.on(InvokeCommand).resolves({ StatusCode: 200, FunctionError: 'Unhandled', Payload: blob('{"errorMessage":"boom"}') });
    queue.sqs.restore();
    queue = mockQueue([onFailureBody(batchInfo(50, 60))]);
    const crashed = await redrive(clients, { queueUrl: QUEUE, functionName: 'agg', sleep: async () => {} });
    expect(crashed.map((o) => [o.outcome, o.deleted])).toStrictEqual([['failed', false]]);
    expect(crashed[0].detail!).toMatch(/Unhandled.*boom/);
    for (const m of [kinesis, queue.sqs, agg.lambda]) m.restore();
  });
});

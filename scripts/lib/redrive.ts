import { chunkByLimits } from '../../lambda/support/chunk';
import { GetRecordsCommand, GetShardIteratorCommand, type _Record, type KinesisClient } from '@aws-sdk/client-kinesis';
import { GetFunctionConfigurationCommand, InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { ChangeMessageVisibilityCommand, DeleteMessageCommand, ReceiveMessageCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import type { KinesisStreamBatchResponse, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { realSleep, type Sleep } from '../../lambda/support/backoff';
import { REDRIVE_EVENT_FIELD, type AggregatorResponse } from '../../lambda/adapters/kinesis-handler';

/** GetRecords returns at most 10,000 records per call. @see https://docs.aws.amazon.com/kinesis/latest/APIReference/API_GetRecords.html */
export const MAX_GET_RECORDS = 10_000;
/** GetRecords allows 5 calls per second per shard. @see https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html */
export const GET_RECORDS_INTERVAL_MS = 200;
/**
 * A synchronous invocation's request payload is at most 6 MB. @see https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
 * A little is kept back for the event's envelope.
 */
export const MAX_INVOKE_PAYLOAD_BYTES = 6 * 1024 * 1024 - 64 * 1024;
/** Records per re-feed invocation: the deployed batch size's order of magnitude, well inside the payload limit. */
export const MAX_INVOKE_RECORDS = 500;
/** SQS receives at most 10 messages per call. @see https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ReceiveMessage.html */
export const MAX_RECEIVE_MESSAGES = 10;
/** How long a received message stays hidden while it is re-fed: longer than a redrive of one range takes. */
export const REDRIVE_VISIBILITY_SECONDS = 900;
/** Empty GetRecords answers tolerated before a range is judged to end early (the tip can lag behind a put). */
const MAX_EMPTY_READS = 5;

/**
 * What Lambda's event source mapping sends to a Kinesis on-failure destination: metadata only, the shard and the
 * sequence-number range of the batch it gave up on. The records themselves stay in the stream until they expire.
 * @see https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html
 */
export interface KinesisOnFailureRecord {
  readonly requestContext?: { requestId?: string; functionArn?: string; condition?: string; approximateInvokeCount?: number };
  readonly responseContext?: { statusCode?: number; executedVersion?: string; functionError?: string };
  readonly version?: string;
  readonly timestamp?: string;
  readonly KinesisBatchInfo: KinesisBatchInfo;
}

/** The range of a failed batch. */
export interface KinesisBatchInfo {
  readonly shardId: string;
  readonly startSequenceNumber: string;
  readonly endSequenceNumber: string;
  readonly approximateArrivalOfFirstRecord?: string;
  readonly approximateArrivalOfLastRecord?: string;
  readonly batchSize?: number;
  readonly streamArn: string;
}

const SEQ = /^\d{1,129}$/;

/** Parses an on-failure message body; returns a reason when it is not one. */
export function parseOnFailureMessage(body: string | undefined): KinesisOnFailureRecord | { error: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body ?? '');
  } catch {
    return { error: 'message body is not JSON' };
  }
  const info = (parsed as { KinesisBatchInfo?: Partial<KinesisBatchInfo> } | null)?.KinesisBatchInfo;
  if (!info) return { error: 'not a Kinesis on-failure record (no KinesisBatchInfo)' };
  if (typeof info.shardId !== 'string' || !info.shardId) return { error: 'KinesisBatchInfo.shardId is missing' };
  if (!SEQ.test(String(info.startSequenceNumber)) || !SEQ.test(String(info.endSequenceNumber))) {
    return { error: 'KinesisBatchInfo has no valid startSequenceNumber/endSequenceNumber' };
  }
  if (typeof info.streamArn !== 'string' || !/:stream\/.+/.test(info.streamArn)) return { error: 'KinesisBatchInfo.streamArn is missing' };
  if (BigInt(info.startSequenceNumber!) > BigInt(info.endSequenceNumber!)) return { error: 'startSequenceNumber is after endSequenceNumber' };
  return parsed as KinesisOnFailureRecord;
}

/**
 * The queue URL to call. Emulators write their own advertised host into the URL (`localhost:4566` and the like),
 * which is not where this process reaches them: with an endpoint set, the URL's origin is replaced by it.
 */
export function queueUrlFor(queueUrl: string, endpoint: string | undefined): string {
  if (!endpoint) return queueUrl;
  const url = new URL(queueUrl);
  const target = new URL(endpoint);
  url.protocol = target.protocol;
  url.host = target.host;
  return url.toString();
}

/** The stream name in a stream ARN (`arn:aws:kinesis:<region>:<account>:stream/<name>`). */
export function streamNameOf(streamArn: string): string {
  return streamArn.slice(streamArn.indexOf(':stream/') + ':stream/'.length);
}

/** Records re-read for a range, and whether the stream still held all of it. */
export interface RangeRead {
  readonly records: _Record[];
  /** Why the range is not (fully) recoverable; undefined when every record from start to end was read. */
  readonly problem?: string;
}

/**
 * Re-reads `[start, end]` of a shard: an iterator AT_SEQUENCE_NUMBER start, then GetRecords until a record past
 * `end` (sequence numbers compared as BigInt: they exceed a double's precision), the shard's end, or the stream's
 * tip. The range is complete when its first record is `start` and its last is `end`; anything else means records
 * expired from the stream (or never were there).
 */
export async function readRange(kinesis: KinesisClient, info: KinesisBatchInfo, sleep: Sleep = realSleep): Promise<RangeRead> {
  const start = BigInt(info.startSequenceNumber);
  const end = BigInt(info.endSequenceNumber);
  let iterator: string | undefined;
  try {
    const res = await kinesis.send(
      new GetShardIteratorCommand({
        StreamName: streamNameOf(info.streamArn),
        ShardId: info.shardId,
        ShardIteratorType: 'AT_SEQUENCE_NUMBER',
        StartingSequenceNumber: info.startSequenceNumber,
      }),
    );
    iterator = res.ShardIterator;
  } catch (e) {
    const err = e as Error;
    return { records: [], problem: `cannot read shard ${info.shardId} at ${info.startSequenceNumber} (${err.name}: ${err.message}): the shard or its records are gone` };
  }
  const records: _Record[] = [];
  let empty = 0;
  let reachedEnd = false;
  let first = true;
  while (iterator && !reachedEnd) {
    if (!first) await sleep(GET_RECORDS_INTERVAL_MS);
    first = false;
    let res;
    try {
      res = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: MAX_GET_RECORDS }));
    } catch (e) {
      const err = e as Error;
      return { records, problem: `reading shard ${info.shardId} failed after ${records.length} record(s) (${err.name}: ${err.message})` };
    }
    for (const r of res.Records ?? []) {
      const seq = BigInt(r.SequenceNumber!);
      if (seq < start) continue;
      if (seq > end) {
        reachedEnd = true;
        break;
      }
      records.push(r);
      if (seq === end) reachedEnd = true;
    }
    if ((res.Records ?? []).length === 0) {
      if (++empty >= MAX_EMPTY_READS || res.MillisBehindLatest === 0) break;
    } else {
      empty = 0;
    }
    iterator = res.NextShardIterator;
  }
  const firstSeq = records[0]?.SequenceNumber;
  const lastSeq = records.at(-1)?.SequenceNumber;
  if (records.length === 0) return { records, problem: `no records left in ${info.shardId} from ${info.startSequenceNumber} to ${info.endSequenceNumber}: expired from the stream` };
  if (BigInt(firstSeq!) !== start) return { records, problem: `records from ${info.startSequenceNumber} up to before ${firstSeq} expired from the stream` };
  if (BigInt(lastSeq!) !== end) return { records, problem: `the shard ends at ${lastSeq}, before ${info.endSequenceNumber}: the rest of the range is not in the stream` };
  return { records };
}

/**
 * The event the event source mapping would deliver for these records: the same shape, with the event id
 * `<shardId>:<sequenceNumber>` the aggregator takes the shard (its fence lane) from.
 */
export function kinesisEventFor(info: KinesisBatchInfo, records: readonly _Record[], invokeIdentityArn: string): KinesisStreamEvent {
  const region = info.streamArn.split(':')[3] ?? 'us-east-1';
  return {
    Records: records.map(
      (r): KinesisStreamRecord => ({
        eventID: `${info.shardId}:${r.SequenceNumber}`,
        eventName: 'aws:kinesis:record',
        eventSource: 'aws:kinesis',
        eventVersion: '1.0',
        invokeIdentityArn,
        awsRegion: region,
        eventSourceARN: info.streamArn,
        kinesis: {
          kinesisSchemaVersion: '1.0',
          partitionKey: r.PartitionKey!,
          sequenceNumber: r.SequenceNumber!,
          approximateArrivalTimestamp: r.ApproximateArrivalTimestamp ? r.ApproximateArrivalTimestamp.getTime() / 1000 : Date.now() / 1000,
          data: Buffer.from(r.Data ?? new Uint8Array()).toString('base64'),
        },
      }),
    ),
  };
}

/** Cuts records into invocations within {@link MAX_INVOKE_RECORDS} and {@link MAX_INVOKE_PAYLOAD_BYTES}. */
export function invokeChunks(records: readonly _Record[]): _Record[][] {
  // base64 grows data by 4/3; the per-record envelope is well under 1 KiB.
  return chunkByLimits(records, MAX_INVOKE_RECORDS, MAX_INVOKE_PAYLOAD_BYTES, (r) =>
    Math.ceil(((r.Data?.byteLength ?? 0) * 4) / 3) + Buffer.byteLength(r.PartitionKey ?? '') + 1024,
  );
}

/** What became of one on-failure message. */
export interface RedriveOutcome {
  readonly messageId: string;
  /** `redriven`: re-fed and deleted; `would-redrive`: dry run; `unrecoverable`: the stream no longer holds (all of)
   *  the range, message kept; `partial` (--accept-partial): what is left was re-fed, the message is kept as the record
   *  of what was lost; `refused`: the aggregator found that re-feeding the range would not be exact (see
   *  `detail`), message kept; `failed`: the function reported failures, message kept; `invalid`: not an on-failure
   *  record, message kept. */
  readonly outcome: 'redriven' | 'would-redrive' | 'unrecoverable' | 'partial' | 'refused' | 'failed' | 'invalid';
  readonly shardId?: string;
  readonly startSequenceNumber?: string;
  readonly endSequenceNumber?: string;
  /** Records re-read from the stream. */
  readonly records: number;
  /** Invocations made (or, in a dry run, that would be made). */
  readonly invocations: number;
  readonly deleted: boolean;
  readonly detail?: string;
  /** Dry run: the records that would be re-fed. */
  readonly preview?: readonly { sequenceNumber: string; partitionKey: string; data: string }[];
}

/** The clients a redrive uses, injected. */
export interface RedriveClients {
  readonly sqs: SQSClient;
  readonly kinesis: KinesisClient;
  readonly lambda: LambdaClient;
}

/** Options of {@link redrive}. */
export interface RedriveOptions {
  readonly queueUrl: string;
  readonly functionName: string;
  /** Read and report, invoke and delete nothing. */
  readonly dryRun?: boolean;
  /** Re-feed what is left of an incomplete range and delete its message, instead of keeping it. */
  readonly acceptPartial?: boolean;
  /** Stop after this many messages. */
  readonly maxMessages?: number;
  readonly onOutcome?: (o: RedriveOutcome) => void;
  readonly sleep?: Sleep;
}

function previewOf(records: readonly _Record[]) {
  return records.map((r) => {
    const bytes = Buffer.from(r.Data ?? new Uint8Array());
    return { sequenceNumber: r.SequenceNumber!, partitionKey: r.PartitionKey!, data: bytes.toString('utf8') };
  });
}

/**
 * Re-feeds the batches an on-failure queue names: each range is re-read from the stream and handed to the aggregator
 * as the event source mapping would have, in order, marked as a redrive. The aggregator re-applies a range only when
 * that is exact: its records were never applied in order (past the shard's applied mark), or it repaired the range
 * itself when the next batch noticed the skip. Otherwise (later records of the shard moved the windows past a range
 * skipped unseen) it refuses, and the message is kept with the reason. A message is deleted only when its whole range
 * was re-fed and counted; every other message is kept and made visible again at the end.
 */
export async function redrive(clients: RedriveClients, opts: RedriveOptions): Promise<RedriveOutcome[]> {
  const outcomes: RedriveOutcome[] = [];
  const kept: Message[] = [];
  let identityArn: string | undefined;
  const report = (o: RedriveOutcome) => {
    outcomes.push(o);
    opts.onOutcome?.(o);
  };
  try {
    for (;;) {
      const want = Math.min(MAX_RECEIVE_MESSAGES, (opts.maxMessages ?? Infinity) - outcomes.length);
      if (want <= 0) break;
      const res = await clients.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: opts.queueUrl, MaxNumberOfMessages: want, VisibilityTimeout: REDRIVE_VISIBILITY_SECONDS, WaitTimeSeconds: 1 }),
      );
      const messages = res.Messages ?? [];
      if (messages.length === 0) break;
      for (const m of messages) {
        const parsed = parseOnFailureMessage(m.Body);
        const base = { messageId: m.MessageId ?? '?', records: 0, invocations: 0, deleted: false };
        if ('error' in parsed) {
          kept.push(m);
          report({ ...base, outcome: 'invalid', detail: parsed.error });
          continue;
        }
        const info = parsed.KinesisBatchInfo;
        const range = { shardId: info.shardId, startSequenceNumber: info.startSequenceNumber, endSequenceNumber: info.endSequenceNumber };
        const read = await readRange(clients.kinesis, info, opts.sleep);
        const chunks = invokeChunks(read.records);
        if (opts.dryRun) {
          kept.push(m);
          report({ ...base, ...range, outcome: read.problem ? 'unrecoverable' : 'would-redrive', records: read.records.length, invocations: chunks.length, detail: read.problem, preview: previewOf(read.records) });
          continue;
        }
        if (read.problem && (!opts.acceptPartial || read.records.length === 0)) {
          kept.push(m);
          report({ ...base, ...range, outcome: 'unrecoverable', records: read.records.length, detail: `${read.problem}; message kept${read.records.length > 0 ? ' (--accept-partial re-feeds what is left, and keeps it)' : ''}` });
          continue;
        }
        identityArn ??= await functionRoleArn(clients.lambda, opts.functionName);
        let failure: InvokeFailure | undefined;
        let invocations = 0;
        for (const chunk of chunks) {
          invocations++;
          failure = await invokeAggregator(clients.lambda, opts.functionName, { ...kinesisEventFor(info, chunk, identityArn), [REDRIVE_EVENT_FIELD]: true } as KinesisStreamEvent);
          if (failure) break;
        }
        if (failure) {
          kept.push(m);
          report({ ...base, ...range, outcome: failure.refused ? 'refused' : 'failed', records: read.records.length, invocations, detail: `${failure.message}; message kept` });
          continue;
        }
        if (read.problem) {
          // What expired was never counted: the message stays as the record of that loss.
          kept.push(m);
          report({ ...base, ...range, outcome: 'partial', records: read.records.length, invocations, detail: `re-fed the ${read.records.length} record(s) left; ${read.problem}: those were never counted; message kept` });
          continue;
        }
        await clients.sqs.send(new DeleteMessageCommand({ QueueUrl: opts.queueUrl, ReceiptHandle: m.ReceiptHandle }));
        report({ ...base, ...range, outcome: 'redriven', records: read.records.length, invocations, deleted: true });
      }
    }
  } finally {
    // Kept messages become visible again now rather than after the visibility timeout, for the next attempt.
    for (const m of kept) {
      try {
        await clients.sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: opts.queueUrl, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0 }));
      } catch {
        // It reappears after the visibility timeout anyway.
      }
    }
  }
  return outcomes;
}

/** The function's execution role, which the event source mapping puts in `invokeIdentityArn`. */
async function functionRoleArn(lambda: LambdaClient, functionName: string): Promise<string> {
  try {
    return (await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: functionName }))).Role ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Why a re-feed failed; `refused` when the aggregator judged the range not exactly re-applicable. */
interface InvokeFailure {
  readonly message: string;
  readonly refused?: boolean;
}

/** Invokes the aggregator synchronously; returns why the re-feed failed, or undefined. */
async function invokeAggregator(lambda: LambdaClient, functionName: string, event: KinesisStreamEvent): Promise<InvokeFailure | undefined> {
  let res;
  try {
    res = await lambda.send(new InvokeCommand({ FunctionName: functionName, InvocationType: 'RequestResponse', Payload: Buffer.from(JSON.stringify(event)) }));
  } catch (e) {
    const err = e as Error;
    return { message: `invoking ${functionName} failed (${err.name}: ${err.message})` };
  }
  const text = res.Payload ? Buffer.from(res.Payload).toString('utf8') : '';
  if (res.FunctionError) return { message: `the function failed (${res.FunctionError}): ${text.slice(0, 500)}` };
  let body: AggregatorResponse | undefined;
  try {
    body = JSON.parse(text) as AggregatorResponse;
  } catch {
    return { message: `the function returned no batch response: ${text.slice(0, 200)}` };
  }
  if (body?.refused && body.refused.length > 0) {
    return { refused: true, message: `the aggregator refused the redrive: ${body.refused.map((r) => `${r.shardId}: ${r.reason}`).join('; ')}` };
  }
  const failures: KinesisStreamBatchResponse['batchItemFailures'] = body?.batchItemFailures ?? [];
  if (failures.length > 0) return { message: `the function reported ${failures.length} failed item(s) from ${failures[0].itemIdentifier}` };
  return undefined;
}

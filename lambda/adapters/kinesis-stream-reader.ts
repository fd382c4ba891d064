import type { GetRecordsCommand, GetShardIteratorCommand, KinesisClient } from '@aws-sdk/client-kinesis';
import type { KinesisStreamRecord } from 'aws-lambda';
import type { SourceRecord, StreamReader } from '../app/ports';
import { toSourceRecords } from './kinesis-records';
import { realSleep, type Sleep } from '../support/backoff';

/** GetRecords returns at most 10,000 records per call. @see https://docs.aws.amazon.com/kinesis/latest/APIReference/API_GetRecords.html */
export const MAX_GET_RECORDS = 10_000;
/** GetRecords allows 5 calls per second per shard, shared with the event source mapping. @see https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html */
export const GET_RECORDS_INTERVAL_MS = 200;
/** Empty answers tolerated before the range is judged not to reach its end (the tip can lag behind a put). */
const MAX_EMPTY_READS = 5;

/** The stream name in a stream ARN (`arn:aws:kinesis:<region>:<account>:stream/<name>`). */
function streamNameOf(streamArn: string): string {
  return streamArn.slice(streamArn.indexOf(':stream/') + ':stream/'.length);
}

function isTrimmedError(e: unknown): boolean {
  const name = (e as { name?: string })?.name;
  return name === 'InvalidArgumentException' || name === 'ResourceNotFoundException';
}

/**
 * The Kinesis commands the reader sends, given by the caller: a bundle can then take them from the client's own
 * modules instead of the package index, which brings every Kinesis command into it (see lambda/aggregator/lazy-adapters.ts).
 */
export interface StreamReaderCommands {
  readonly GetShardIteratorCommand: typeof GetShardIteratorCommand;
  readonly GetRecordsCommand: typeof GetRecordsCommand;
}

/**
 * Re-reads a range of a shard with GetShardIterator (AT_SEQUENCE_NUMBER) and GetRecords, for a range the event source
 * mapping skipped. Sequence numbers are compared as BigInt (they exceed a double's precision). When the first record
 * of the range has left the stream, it reads from the trim horizon and says the range was trimmed.
 */
export class KinesisStreamReader implements StreamReader {
  constructor(
    private readonly kinesis: KinesisClient,
    private readonly commands: StreamReaderCommands,
    private readonly sleep: Sleep = realSleep,
  ) {}

  async readRange(streamArn: string, shardId: string, fromSequenceNumber: string, beforeSequenceNumber: string): Promise<{ records: SourceRecord[]; trimmed: boolean }> {
    const { GetShardIteratorCommand, GetRecordsCommand } = this.commands;
    const from = BigInt(fromSequenceNumber);
    const before = BigInt(beforeSequenceNumber);
    const StreamName = streamNameOf(streamArn);
    let iterator: string | undefined;
    let trimmed = false;
    try {
      iterator = (
        await this.kinesis.send(
          new GetShardIteratorCommand({ StreamName, ShardId: shardId, ShardIteratorType: 'AT_SEQUENCE_NUMBER', StartingSequenceNumber: fromSequenceNumber }),
        )
      ).ShardIterator;
    } catch (e) {
      if (!isTrimmedError(e)) throw e;
      trimmed = true;
      iterator = (await this.kinesis.send(new GetShardIteratorCommand({ StreamName, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }))).ShardIterator;
    }
    const out: SourceRecord[] = [];
    let firstSeen: bigint | undefined;
    let empty = 0;
    let reached = false;
    for (let call = 0; iterator && !reached; call++) {
      if (call > 0) await this.sleep(GET_RECORDS_INTERVAL_MS);
      const res = await this.kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: MAX_GET_RECORDS }));
      for (const r of res.Records ?? []) {
        const seq = BigInt(r.SequenceNumber!);
        if (seq < from) continue;
        if (seq >= before) {
          reached = true;
          break;
        }
        firstSeen ??= seq;
        const delivered: KinesisStreamRecord = {
          eventID: `${shardId}:${r.SequenceNumber}`,
          eventName: 'aws:kinesis:record',
          eventSource: 'aws:kinesis',
          eventVersion: '1.0',
          invokeIdentityArn: '',
          awsRegion: '',
          eventSourceARN: streamArn,
          kinesis: {
            kinesisSchemaVersion: '1.0',
            partitionKey: r.PartitionKey!,
            sequenceNumber: r.SequenceNumber!,
            // Absent (an emulator may leave it out), NaN makes the decoder report no arrival time, so the event-time
            // bounds are not judged against 1970 and the repaired records are not all refused as far in the future.
            approximateArrivalTimestamp: (r.ApproximateArrivalTimestamp?.getTime() ?? Number.NaN) / 1000,
            data: Buffer.from(r.Data ?? new Uint8Array()).toString('base64'),
          },
        };
        out.push(...toSourceRecords(delivered));
      }
      if ((res.Records ?? []).length === 0) {
        if (++empty >= MAX_EMPTY_READS) break;
      } else {
        empty = 0;
      }
      iterator = res.NextShardIterator;
    }
    if (!reached) {
      // The batch that follows the range is in the stream, so the range must end before it: not reaching it means
      // the stream could not be read to there now. The batch fails and is retried.
      throw new Error(`re-reading ${shardId} from ${fromSequenceNumber}: did not reach ${beforeSequenceNumber}`);
    }
    // The mark is a record that was delivered, so the range starts with it unless it has left the stream.
    return { records: out, trimmed: trimmed || firstSeen !== from };
  }
}

import type { KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import type { RecordSink, ResultSink, SourceRecord } from '../../lambda/app/ports';
import { positionOf } from '../../lambda/domain/sequence';
import type { WindowResult } from '../../lambda/domain/window-result';

/** A results sink that keeps what it got and can be told to fail. */
export class MemoryResultSink implements ResultSink {
  readonly emitted: WindowResult[] = [];
  failNext = 0;
  async emit(results: readonly WindowResult[]) {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('injected emission failure');
    }
    this.emitted.push(...results);
  }
}

/** An entry of the errors or late-data sink, as the tests read it (see lambda/app/process-batch.ts). */
export interface SunkRecord {
  readonly reason: string;
  readonly shardId?: string;
  readonly sequenceNumber?: string;
  readonly payload?: string;
  readonly [field: string]: unknown;
}

/** A record sink that keeps objects by name (a rewrite replaces, as S3 does). */
export class MemoryRecordSink implements RecordSink {
  readonly objects = new Map<string, object[]>();
  async write(name: string, entries: readonly object[]) {
    this.objects.set(name, [...entries]);
  }
  all(): SunkRecord[] {
    return [...this.objects.values()].flat() as SunkRecord[];
  }
}

/** A Kinesis sequence number longer than 38 digits, as real ones are, for the i-th record of a shard. */
export function sequenceNumber(i: number): string {
  return `49650000000000000000000000000000000${String(i).padStart(21, '0')}`;
}

/** Source records (as the decoder yields them) for payloads, numbered from `first`. */
export function sourceRecords(payloads: readonly string[], partitionKeys: readonly string[], first = 0): SourceRecord[] {
  return payloads.map((payload, i) => {
    const seq = sequenceNumber(first + i);
    return {
      sequenceNumber: seq,
      subSequenceNumber: 0,
      position: positionOf(seq),
      partitionKey: partitionKeys[i],
      payload,
      payloadBase64: Buffer.from(payload).toString('base64'),
    };
  });
}

/** A Kinesis event as the event source mapping delivers it. */
export function kinesisEvent(
  shardId: string,
  records: readonly { data: string | Buffer; partitionKey: string; sequenceNumber: string }[],
): KinesisStreamEvent {
  return {
    Records: records.map(
      (r): KinesisStreamRecord => ({
        eventID: `${shardId}:${r.sequenceNumber}`,
        eventName: 'aws:kinesis:record',
        eventSource: 'aws:kinesis',
        eventVersion: '1.0',
        invokeIdentityArn: 'arn:aws:iam::000000000000:role/test',
        awsRegion: 'us-east-1',
        eventSourceARN: 'arn:aws:kinesis:us-east-1:000000000000:stream/test',
        kinesis: {
          kinesisSchemaVersion: '1.0',
          partitionKey: r.partitionKey,
          sequenceNumber: r.sequenceNumber,
          approximateArrivalTimestamp: Date.now() / 1000,
          data: Buffer.isBuffer(r.data) ? r.data.toString('base64') : Buffer.from(r.data).toString('base64'),
        },
      }),
    ),
  };
}

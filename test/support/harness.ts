import type { RecordSink, ResultSink, SourceRecord } from '../../lambda/app/ports';
import { positionOf } from '../../lambda/domain/sequence';
import type { WindowResult } from '../../lambda/domain/window-result';
import { sequenceNumber } from '../../fixtures/kinesis';

export { kinesisEvent, sequenceNumber } from '../../fixtures/kinesis';

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

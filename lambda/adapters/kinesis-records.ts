import { deaggregateSync, type UserRecord } from 'aws-kinesis-agg';
import type { KinesisStreamRecord } from 'aws-lambda';
import type { SourceRecord } from '../app/ports';
import { positionOf } from '../domain/sequence';

/** The first bytes of a KPL-aggregated record. @see https://github.com/awslabs/amazon-kinesis-producer/blob/master/aggregation-format.md */
const KPL_MAGIC = Buffer.from([0xf3, 0x89, 0x9a, 0xc2]);

/** The shard of a record: the event id is `<shardId>:<sequenceNumber>`. */
export function shardIdOf(record: KinesisStreamRecord): string {
  const i = record.eventID.lastIndexOf(':');
  return i > 0 ? record.eventID.slice(0, i) : record.eventID;
}

function plain(seq: string, partitionKey: string, data: string, bytes: Buffer): SourceRecord {
  return {
    sequenceNumber: seq,
    subSequenceNumber: 0,
    position: positionOf(seq, 0),
    partitionKey,
    payload: bytes.toString('utf8'),
    payloadBase64: data,
  };
}

/**
 * Turns a delivered Kinesis record into user records: one for a plain record, one per user record for a
 * KPL-aggregated one (their sub-sequence numbers order them inside the shard). A corrupt aggregate becomes one
 * record carrying the decode error, so that it reaches the errors sink instead of failing the batch.
 */
export function toSourceRecords(record: KinesisStreamRecord): SourceRecord[] {
  const { data, sequenceNumber: seq, partitionKey } = record.kinesis;
  const bytes = Buffer.from(data, 'base64');
  if (bytes.length < KPL_MAGIC.length + 16 || !bytes.subarray(0, 4).equals(KPL_MAGIC)) {
    return [plain(seq, partitionKey, data, bytes)];
  }
  let users: UserRecord[] = [];
  let failure: Error | undefined;
  deaggregateSync(record.kinesis, true, (err, userRecords) => {
    if (err) failure = err;
    else users = userRecords ?? [];
  });
  if (failure) {
    return [
      {
        sequenceNumber: seq,
        subSequenceNumber: 0,
        position: positionOf(seq, 0),
        partitionKey,
        payload: '',
        payloadBase64: data,
        decodeError: `invalid KPL aggregated record: ${failure.message}`,
      },
    ];
  }
  return users.map((u) => {
    const userBytes = Buffer.from(u.data, 'base64');
    return {
      sequenceNumber: seq,
      subSequenceNumber: u.subSequenceNumber,
      position: positionOf(seq, u.subSequenceNumber),
      partitionKey: u.partitionKey,
      payload: userBytes.toString('utf8'),
      payloadBase64: u.data,
    };
  });
}

/** Splits a delivery into its shards, keeping each shard's order. A Lambda batch holds one shard; a test may mix. */
export function groupByShard(records: readonly KinesisStreamRecord[]): Map<string, SourceRecord[]> {
  const lanes = new Map<string, SourceRecord[]>();
  for (const r of records) {
    const lane = shardIdOf(r);
    let list = lanes.get(lane);
    if (!list) lanes.set(lane, (list = []));
    for (const s of toSourceRecords(r)) list.push(s);
  }
  return lanes;
}

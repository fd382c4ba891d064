import { createHash } from 'node:crypto';

/**
 * A decoder of KPL-aggregated Kinesis records, the format of the Kinesis Producer Library:
 * the 4 magic bytes, a protobuf `AggregatedRecord`, and the MD5 digest of that protobuf (16 bytes).
 * @see https://github.com/awslabs/amazon-kinesis-producer/blob/master/aggregation-format.md
 *
 * Why not `aws-kinesis-agg`: it brings protobufjs (with its reflection and code generation) and async, about 90 KiB
 * of the aggregator's bundle, which every cold start compiled for a format most producers never send (P4). The
 * three messages below are all the format has. The tests check this decoder against `aws-kinesis-agg`'s own.
 *
 * ```proto
 * message AggregatedRecord { repeated string partition_key_table = 1; repeated string explicit_hash_key_table = 2; repeated Record records = 3; }
 * message Record { required uint64 partition_key_index = 1; optional uint64 explicit_hash_key_index = 2; required bytes data = 3; repeated Tag tags = 4; }
 * message Tag { required string key = 1; optional string value = 2; }
 * ```
 */

/** The first bytes of a KPL-aggregated record. */
export const KPL_MAGIC: readonly number[] = [0xf3, 0x89, 0x9a, 0xc2];
/** Length of the MD5 digest that ends an aggregated record. */
export const KPL_DIGEST_BYTES = 16;

/** One user record of an aggregate, in the order the aggregate holds them (its index is its sub-sequence number). */
export interface KplUserRecord {
  readonly partitionKey: string;
  readonly data: Buffer;
}

/** Whether the bytes start with the KPL magic and can hold a digest: what makes a record an aggregate. */
export function isKplAggregate(bytes: Uint8Array): boolean {
  return (
    bytes.length >= KPL_MAGIC.length + KPL_DIGEST_BYTES &&
    bytes[0] === KPL_MAGIC[0] &&
    bytes[1] === KPL_MAGIC[1] &&
    bytes[2] === KPL_MAGIC[2] &&
    bytes[3] === KPL_MAGIC[3]
  );
}

/** Protobuf wire types. */
const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const START_GROUP = 3;
const END_GROUP = 4;
const FIXED32 = 5;

/** A cursor over a protobuf message's bytes; every read checks the message's end. */
class Reader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  /** An unsigned varint. Values above 2^53 lose precision, which no table index reaches. */
  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new Error('index out of range: truncated varint');
      const b = this.buf[this.pos++];
      value += (b & 0x7f) * scale;
      if (b < 0x80) return value;
      scale *= 128;
    }
    throw new Error('invalid varint encoding');
  }

  /** The bounds of a length-delimited field's bytes, moving past them. */
  delimited(): [start: number, end: number] {
    const length = this.varint();
    const start = this.pos;
    if (length > this.end - start) throw new Error(`index out of range: ${start} + ${length} > ${this.end}`);
    this.pos = start + length;
    return [start, this.pos];
  }

  string(): string {
    const [start, end] = this.delimited();
    return this.buf.toString('utf8', start, end);
  }

  /** Skips a field of an unknown number, by its wire type (groups included, as protobuf allows). */
  skip(wireType: number, field: number): void {
    switch (wireType) {
      case VARINT:
        this.varint();
        return;
      case FIXED64:
        this.advance(8);
        return;
      case LENGTH_DELIMITED:
        this.delimited();
        return;
      case START_GROUP:
        for (;;) {
          const tag = this.varint();
          if ((tag & 7) === END_GROUP) {
            if (tag >>> 3 !== field) throw new Error('invalid end group tag');
            return;
          }
          this.skip(tag & 7, tag >>> 3);
        }
      case FIXED32:
        this.advance(4);
        return;
      default:
        throw new Error(`invalid wire type ${wireType} at offset ${this.pos}`);
    }
  }

  private advance(n: number): void {
    if (n > this.end - this.pos) throw new Error('index out of range');
    this.pos += n;
  }
}

/** A `Record` message: which partition key it uses, and its bytes (tags and explicit hash keys are not needed). */
function decodeRecord(buf: Buffer, start: number, end: number): { keyIndex: number; data: Buffer } {
  const r = new Reader(buf, start, end);
  let keyIndex: number | undefined;
  let data: Buffer | undefined;
  while (r.pos < end) {
    const tag = r.varint();
    const field = tag >>> 3;
    if (field === 1) keyIndex = r.varint();
    else if (field === 3) {
      const [s, e] = r.delimited();
      data = buf.subarray(s, e);
    } else r.skip(tag & 7, field);
  }
  if (keyIndex === undefined) throw new Error("missing required 'partition_key_index'");
  if (data === undefined) throw new Error("missing required 'data'");
  return { keyIndex, data };
}

/**
 * The user records of a KPL aggregate, in order.
 * @throws Error when the digest does not match, or the protobuf is malformed, or a record names a partition key the
 * aggregate does not hold
 */
export function decodeKplAggregate(bytes: Buffer): KplUserRecord[] {
  if (!isKplAggregate(bytes)) throw new Error('not a KPL aggregated record');
  const start = KPL_MAGIC.length;
  const end = bytes.length - KPL_DIGEST_BYTES;
  const digest = createHash('md5').update(bytes.subarray(start, end)).digest();
  if (!digest.equals(bytes.subarray(end))) throw new Error('Invalid record checksum');
  const r = new Reader(bytes, start, end);
  const keys: string[] = [];
  const records: { keyIndex: number; data: Buffer }[] = [];
  while (r.pos < end) {
    const tag = r.varint();
    const field = tag >>> 3;
    if (field === 1) keys.push(r.string());
    else if (field === 3) records.push(decodeRecord(bytes, ...r.delimited()));
    else r.skip(tag & 7, field);
  }
  return records.map((rec, i) => {
    const partitionKey = keys[rec.keyIndex];
    if (partitionKey === undefined) throw new Error(`record ${i}: partition_key_index ${rec.keyIndex} is not in the table of ${keys.length}`);
    return { partitionKey, data: rec.data };
  });
}

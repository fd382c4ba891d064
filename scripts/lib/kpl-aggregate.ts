import * as kinesisAgg from 'aws-kinesis-agg';

/** The part of aws-kinesis-agg's RecordAggregator this project uses (its typings do not declare the class). */
interface RecordAggregatorApi {
  addUserRecord(record: { partitionKey: string; data: Buffer }): void;
  checkIfUserRecordFits(record: { partitionKey: string; data: Buffer }): boolean;
  length(): number;
  build(): { partitionKey: string; data: Buffer };
}
const RecordAggregator = (kinesisAgg as unknown as { RecordAggregator: new () => RecordAggregatorApi }).RecordAggregator;

/** One aggregated Kinesis record. */
export interface KplAggregate {
  /** The partition key of its first user record: Kinesis routes the aggregate by it. */
  readonly partitionKey: string;
  readonly data: Buffer;
  /** How many user records it holds, taken in input order. */
  readonly count: number;
}

/**
 * Packs user records into KPL-format aggregated Kinesis records (magic bytes, protobuf, MD5), each within the 1 MiB
 * record limit. The aggregator de-aggregates them; each user record keeps its own sub-sequence number.
 */
export function aggregateKpl(records: readonly { partitionKey: string; data: string | Buffer }[]): KplAggregate[] {
  const out: KplAggregate[] = [];
  let agg = new RecordAggregator();
  for (const r of records) {
    const user = { partitionKey: r.partitionKey, data: Buffer.isBuffer(r.data) ? r.data : Buffer.from(r.data) };
    if (agg.length() > 0 && !agg.checkIfUserRecordFits(user)) {
      out.push(seal(agg));
      agg = new RecordAggregator();
    }
    agg.addUserRecord(user);
  }
  if (agg.length() > 0) out.push(seal(agg));
  return out;
}

/** build() empties the aggregator, so the count is read first. */
function seal(agg: RecordAggregatorApi): KplAggregate {
  const count = agg.length();
  return { ...agg.build(), count };
}

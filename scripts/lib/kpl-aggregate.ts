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

/** A key JavaScript orders first among an object's keys: a canonical array index (0 to 2^32 − 2). */
function isArrayIndex(key: string): boolean {
  if (!/^(?:0|[1-9]\d{0,9})$/.test(key)) return false;
  return Number(key) < 2 ** 32 - 1;
}

/**
 * Packs user records into KPL-format aggregated Kinesis records (magic bytes, protobuf, MD5), each within the 1 MiB
 * record limit. The aggregator de-aggregates them; each user record keeps its own sub-sequence number.
 *
 * aws-kinesis-agg keeps an aggregate's partition-key table in a plain object and writes it in `Object.keys` order, but
 * indexes records by insertion order. The two differ for array-index keys (`"7"`, which objects list first, in numeric
 * order), and a key named like an `Object.prototype` member (`__proto__`, `constructor`) never reaches the table. Such
 * records would be de-aggregated with another record's partition key, or none. So an aggregate is closed before a new
 * array-index key would break the order, and a record whose key the table cannot hold at all is sent on its own as a
 * plain record (its data as is), which the aggregator decodes like any other.
 */
export function aggregateKpl(records: readonly { partitionKey: string; data: string | Buffer }[]): KplAggregate[] {
  const out: KplAggregate[] = [];
  let agg = new RecordAggregator();
  // The aggregate's distinct keys so far, whether any is not an array index, and the largest array index among them.
  let keys = new Set<string>();
  let sawName = false;
  let lastIndex = -1;
  const flush = () => {
    if (agg.length() > 0) out.push(seal(agg));
    agg = new RecordAggregator();
    keys = new Set();
    sawName = false;
    lastIndex = -1;
  };
  for (const r of records) {
    const user = { partitionKey: r.partitionKey, data: Buffer.isBuffer(r.data) ? r.data : Buffer.from(r.data) };
    if (r.partitionKey in Object.prototype) {
      flush();
      out.push({ partitionKey: r.partitionKey, data: user.data, count: 1 });
      continue;
    }
    const key = r.partitionKey;
    const index = isArrayIndex(key) ? Number(key) : undefined;
    // Object.keys lists array indexes first, ascending: a new one after a name or a larger index would move.
    if (!keys.has(key) && index !== undefined && (sawName || index < lastIndex)) flush();
    if (agg.length() > 0 && !agg.checkIfUserRecordFits(user)) flush();
    if (!keys.has(key)) {
      keys.add(key);
      if (index === undefined) sawName = true;
      else lastIndex = index;
    }
    agg.addUserRecord(user);
  }
  flush();
  return out;
}

/** build() empties the aggregator, so the count is read first. */
function seal(agg: RecordAggregatorApi): KplAggregate {
  const count = agg.length();
  return { ...agg.build(), count };
}

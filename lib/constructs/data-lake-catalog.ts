import { Aws, Stack } from 'aws-cdk-lib';
import * as glue from 'aws-cdk-lib/aws-glue';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { AggregationSpec } from '../../lambda/domain/spec';
import { SINK_PREFIXES } from '../../lambda/contract/s3-prefixes';

/** The Hive SerDe for newline-delimited JSON that Athena supports. @see https://docs.aws.amazon.com/athena/latest/ug/openx-json-serde.html */
export const JSON_SERDE = 'org.openx.data.jsonserde.JsonSerDe';
const TEXT_INPUT_FORMAT = 'org.apache.hadoop.mapred.TextInputFormat';
const TEXT_OUTPUT_FORMAT = 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat';

/**
 * First year the hourly (Firehose) partitions are projected from. Partition projection enumerates the whole range
 * when a query has no time filter, so the range is kept to what this pipeline can have written.
 */
export const FIRST_PARTITION_YEAR = 2025;
/** Last projected year; queries beyond it find no partitions (raise it before then). */
export const LAST_PARTITION_YEAR = 2100;
/** First day of the daily (`dt=`) partitions of the errors and late-data sinks. */
export const FIRST_PARTITION_DATE = `${FIRST_PARTITION_YEAR}-01-01`;

/** Names of the catalog tables (unique within their database, which is per stack). */
export const CATALOG_TABLES = {
  raw: 'raw_events',
  results: 'window_results',
  errors: 'errors',
  late: 'late_events',
} as const;

/** Properties of {@link DataLakeCatalog}. */
export interface DataLakeCatalogProps {
  /** The data-lake bucket. */
  readonly bucket: s3.IBucket;
  /** Glue database name: lower case, digits and `_`, so Athena needs no quoting. */
  readonly databaseName: string;
  /** The validated spec: the raw table gets a column for each top-level field it reads. */
  readonly spec: AggregationSpec;
  /**
   * Key prefixes (each ending in "/") of the four datasets.
   * @default SINK_PREFIXES, the prefixes the stack's deliveries and the aggregator's sinks write
   */
  readonly prefixes?: { readonly raw: string; readonly results: string; readonly errors: string; readonly late: string };
}

type Column = glue.CfnTable.ColumnProperty;

/** A table's partition columns and its projection parameters. */
interface Partitioning {
  readonly partitionKeys: Column[];
  readonly parameters: Record<string, string>;
}

/**
 * The JSON keys that are not all lower case, by column name. Glue column names are lower case; with the SerDe's
 * case folding off (so that map keys such as `key['deviceId']` keep their case), each such column is mapped to its
 * JSON key with a `mapping.<column>` SerDe property.
 */
const CAMEL_CASE_KEYS = ['windowStart', 'windowEnd', 'topK', 'sessionId', 'eventTime', 'shardId', 'sequenceNumber', 'subSequenceNumber', 'partitionKey', 'payloadBase64'];

/** The hourly tables' partition columns, after Firehose's `year=/month=/day=/hour=` prefixes; no column may share a name. */
export const GLUE_PARTITION_COLUMNS: readonly string[] = ['year', 'month', 'day', 'hour'];

/** SerDe `mapping.*` properties for columns whose JSON key differs from the (lower-case) column name. */
export function serdeMappings(columns: readonly Column[], jsonKeys: readonly string[]): Record<string, string> {
  const byLower = new Map(jsonKeys.map((k) => [k.toLowerCase(), k]));
  const out: Record<string, string> = {};
  for (const c of columns) {
    const key = byLower.get(c.name);
    if (key && key !== c.name) out[`mapping.${c.name}`] = key;
  }
  return out;
}

/** Top-level JSON keys the spec reads (original case). */
export function specTopLevelKeys(spec: AggregationSpec): string[] {
  const paths = [spec.eventTime.field, ...spec.aggregations.flatMap((a) => [...a.groupBy, ...a.measures.flatMap((m) => ('field' in m && m.field ? [m.field] : []))])];
  return [...new Set(paths.map((p) => p.split('.')[0]))];
}

/** Columns of the errors sink entries (see lambda/app/process-batch.ts). */
const ERROR_COLUMNS: Column[] = [
  { name: 'reason', type: 'string' },
  { name: 'shardid', type: 'string' },
  { name: 'sequencenumber', type: 'string', comment: 'decimal string (up to 128 bits): compare as text of equal length' },
  { name: 'subsequencenumber', type: 'bigint' },
  { name: 'partitionkey', type: 'string' },
  { name: 'payload', type: 'string' },
  { name: 'payloadbase64', type: 'string' },
  {
    name: 'beforesequencenumber',
    type: 'string',
    comment: 'lost ranges (objects named lost-…): the first record after the range; sequencenumber is its first record',
  },
];

/** Columns of the late-data sink entries. */
const LATE_COLUMNS: Column[] = [
  { name: 'reason', type: 'string' },
  { name: 'aggregation', type: 'string' },
  { name: 'windowstart', type: 'string', comment: 'ISO-8601 UTC' },
  { name: 'windowend', type: 'string', comment: 'ISO-8601 UTC' },
  { name: 'watermark', type: 'string', comment: 'ISO-8601 UTC' },
  { name: 'eventtime', type: 'string', comment: 'ISO-8601 UTC' },
  { name: 'shardid', type: 'string' },
  { name: 'sequencenumber', type: 'string' },
  { name: 'subsequencenumber', type: 'bigint' },
  { name: 'partitionkey', type: 'string' },
  { name: 'payload', type: 'string' },
];

/** Columns of a window result (see lambda/domain/window-result.ts). */
const RESULT_COLUMNS: Column[] = [
  { name: 'id', type: 'string', comment: 'deterministic per (aggregation, key, window, version): deduplicate on it' },
  { name: 'aggregation', type: 'string' },
  { name: 'key', type: 'map<string,string>' },
  { name: 'windowstart', type: 'string', comment: 'ISO-8601 UTC' },
  { name: 'windowend', type: 'string', comment: 'ISO-8601 UTC' },
  { name: 'measures', type: 'map<string,double>' },
  {
    name: 'topk',
    type: 'map<string,array<struct<value:string,count:bigint,error:bigint>>>',
    comment: 'topK measures, most frequent first: the true count is between count and count + error',
  },
  { name: 'final', type: 'boolean' },
  { name: 'version', type: 'int' },
  { name: 'sessionid', type: 'string', comment: 'session and stagger windows: the window identity across versions and merges' },
  { name: 'supersedes', type: 'array<string>', comment: 'session windows: sessionIds this one absorbed' },
];

/**
 * The raw table's columns: one per top-level field the spec reads. Measure fields are numbers (double), topK fields
 * strings; group-by
 * fields are read as strings (OpenX coerces numbers and booleans); the event time is a string because it may be
 * epoch milliseconds or ISO-8601; a dotted path becomes its top-level field as a JSON string.
 */
export function rawColumns(spec: AggregationSpec): Column[] {
  const types = new Map<string, string>();
  const add = (path: string, type: string) => {
    const [top, ...rest] = path.split('.');
    const name = top.toLowerCase();
    const t = rest.length > 0 ? 'string' : type;
    // A field used both as a measure and elsewhere stays a string, which every JSON scalar can be read as.
    types.set(name, types.has(name) && types.get(name) !== t ? 'string' : t);
  };
  add(spec.eventTime.field, 'string');
  for (const a of spec.aggregations) {
    for (const g of a.groupBy) add(g, 'string');
    // A topK field may hold strings, numbers or booleans: a string column reads all three.
    for (const m of a.measures) if ('field' in m && m.field) add(m.field, m.op === 'topK' ? 'string' : 'double');
  }
  return [...types].map(([name, type]) => ({ name, type }));
}

/**
 * Glue Data Catalog database and tables over the data lake, with partition projection so that Athena can query
 * new partitions right after they are written, with no crawler and no `MSCK REPAIR TABLE`:
 *
 * - `raw_events` and `window_results`: Firehose's `year=/month=/day=/hour=` layout, projected as integer ranges;
 * - `errors` and `late_events`: the aggregator's `dt=YYYY-MM-DD/<shard>/` layout, projected as dates up to today
 *   (Athena reads the shard folders below each `dt=` location).
 *
 * Every table is newline-delimited JSON read with the OpenX SerDe, case-sensitive with `mapping.*` properties for
 * camel-case keys; `ignore.malformed.json` keeps one bad line from failing a query.
 */
export class DataLakeCatalog extends Construct {
  /** The Glue database. */
  readonly database: glue.CfnDatabase;
  /** The database name. */
  readonly databaseName: string;
  /** The tables by dataset. */
  readonly tables: Record<keyof typeof CATALOG_TABLES, glue.CfnTable>;
  private readonly bucket: s3.IBucket;

  constructor(scope: Construct, id: string, props: DataLakeCatalogProps) {
    super(scope, id);
    this.databaseName = props.databaseName;
    this.bucket = props.bucket;
    const prefixes = props.prefixes ?? SINK_PREFIXES;
    this.database = new glue.CfnDatabase(this, 'Database', {
      catalogId: Aws.ACCOUNT_ID,
      databaseInput: {
        name: props.databaseName,
        description: `Data lake of the ${Stack.of(this).stackName} streaming pipeline (partition projection, no crawler).`,
      },
    });
    this.tables = {
      raw: this.table(
        'RawEventsTable',
        CATALOG_TABLES.raw,
        'Every record put on the stream, as produced (GZIP, one JSON object per line); columns from the spec fields.',
        prefixes.raw,
        rawColumns(props.spec),
        this.hourly(prefixes.raw),
        true,
        specTopLevelKeys(props.spec),
      ),
      results: this.table(
        'WindowResultsTable',
        CATALOG_TABLES.results,
        'Window results (at least once: deduplicate by id, or keep the highest version per window).',
        prefixes.results,
        RESULT_COLUMNS,
        this.hourly(prefixes.results),
        true,
        CAMEL_CASE_KEYS,
      ),
      errors: this.table(
        'ErrorsTable',
        CATALOG_TABLES.errors,
        'Records the aggregator rejected, with the reason and the payload.',
        prefixes.errors,
        ERROR_COLUMNS,
        this.daily(prefixes.errors),
        false,
        CAMEL_CASE_KEYS,
      ),
      late: this.table(
        'LateEventsTable',
        CATALOG_TABLES.late,
        'Records later than their window end plus the allowed lateness.',
        prefixes.late,
        LATE_COLUMNS,
        this.daily(prefixes.late),
        false,
        CAMEL_CASE_KEYS,
      ),
    };
  }

  /** The S3 location of a prefix of the bucket. */
  private location(prefix: string): string {
    return `s3://${this.bucket.bucketName}/${prefix}`;
  }

  /** Firehose's hourly `year=/month=/day=/hour=` layout below `prefix`, projected as integer ranges. */
  private hourly(prefix: string): Partitioning {
    return {
      partitionKeys: GLUE_PARTITION_COLUMNS.map((name) => ({ name, type: 'string' })),
      parameters: {
        'projection.enabled': 'true',
        'projection.year.type': 'integer',
        'projection.year.range': `${FIRST_PARTITION_YEAR},${LAST_PARTITION_YEAR}`,
        'projection.month.type': 'integer',
        'projection.month.range': '1,12',
        'projection.month.digits': '2',
        'projection.day.type': 'integer',
        'projection.day.range': '1,31',
        'projection.day.digits': '2',
        'projection.hour.type': 'integer',
        'projection.hour.range': '0,23',
        'projection.hour.digits': '2',
        'storage.location.template': `${this.location(prefix)}year=\${year}/month=\${month}/day=\${day}/hour=\${hour}/`,
      },
    };
  }

  /** The aggregator's daily `dt=YYYY-MM-DD/` layout below `prefix`, projected as dates up to today. */
  private daily(prefix: string): Partitioning {
    return {
      partitionKeys: [{ name: 'dt', type: 'string', comment: 'UTC date the batch was processed, yyyy-MM-dd' }],
      parameters: {
        'projection.enabled': 'true',
        'projection.dt.type': 'date',
        'projection.dt.format': 'yyyy-MM-dd',
        'projection.dt.range': `${FIRST_PARTITION_DATE},NOW`,
        'projection.dt.interval': '1',
        'projection.dt.interval.unit': 'DAYS',
        'storage.location.template': `${this.location(prefix)}dt=\${dt}/`,
      },
    };
  }

  /** One JSON table over `prefix`, after the database exists. */
  private table(
    tableId: string,
    name: string,
    description: string,
    prefix: string,
    columns: Column[],
    partitioning: Partitioning,
    compressed: boolean,
    jsonKeys: readonly string[],
  ): glue.CfnTable {
    const t = new glue.CfnTable(this, tableId, {
      catalogId: Aws.ACCOUNT_ID,
      databaseName: this.databaseName,
      tableInput: {
        name,
        description,
        tableType: 'EXTERNAL_TABLE',
        partitionKeys: partitioning.partitionKeys,
        parameters: {
          classification: 'json',
          ...(compressed ? { compressionType: 'gzip' } : {}),
          ...partitioning.parameters,
        },
        storageDescriptor: {
          location: this.location(prefix),
          columns,
          inputFormat: TEXT_INPUT_FORMAT,
          outputFormat: TEXT_OUTPUT_FORMAT,
          serdeInfo: {
            serializationLibrary: JSON_SERDE,
            parameters: {
              // One bad line (the raw archive holds poison records too) must not fail a whole query.
              'ignore.malformed.json': 'true',
              'case.insensitive': 'false',
              ...serdeMappings(columns, jsonKeys),
            },
          },
        },
      },
    });
    t.node.addDependency(this.database);
    return t;
  }
}

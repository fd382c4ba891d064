/**
 * Key prefixes in the data-lake bucket: written by the stack (Firehose prefixes, lifecycle rules, catalog tables,
 * the aggregator's grants) and by the aggregator's sinks. No imports, so that the CDK app can use it freely.
 */
export const SINK_PREFIXES = {
  /** Raw events archived by the raw Firehose. */
  raw: 'raw/',
  /** Raw records the raw Firehose could not deliver. */
  rawErrors: 'raw-errors/',
  /** Window results delivered by the results Firehose. */
  results: 'results/',
  /** Results the results Firehose could not deliver. */
  resultsErrors: 'results-errors/',
  /** The aggregator's errors sink (records that cannot be parsed or aggregated). */
  errors: 'errors/',
  /** The aggregator's late-data sink (events behind the allowed lateness). */
  late: 'late/',
} as const;

// No imports: the CDK app reads these names for its alarms without loading the function's runtime libraries.

/**
 * Names of the aggregator's custom metrics (CloudWatch EMF, namespace POWERTOOLS_METRICS_NAMESPACE, one dimension
 * `service`). The monitoring construct builds its alarms and dashboard from this same table, so a renamed metric
 * cannot leave an alarm watching nothing.
 */
export const BATCH_METRICS = {
  /** User records delivered (KPL aggregates count each user record). */
  recordsIn: 'RecordsIn',
  /** Records sent to the errors sink (unparseable, no event time, missing fields). */
  badRecords: 'BadRecords',
  /** Records sent to the late-data sink (behind the watermark by more than the allowed lateness). */
  lateRecords: 'LateRecords',
  /** Window results emitted to the results Firehose. */
  windowsEmitted: 'WindowsEmitted',
  /** Conditional window writes to DynamoDB that succeeded. */
  windowWrites: 'DynamoDBWindowWrites',
  /** Conditional writes that lost a race (re-read and retried): redeliveries, or the closer. */
  writeConflicts: 'DynamoDBWriteConflicts',
  /** Records of a range the event source mapping skipped, re-read from the stream and applied (bounded retries only). */
  repairedRecords: 'RepairedSkippedRecords',
  /** Skipped ranges no longer in the stream, recorded as lost on the lane and in the errors sink (bounded retries only). */
  lostRanges: 'LostRecordRanges',
} as const;

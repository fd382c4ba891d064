import type { Logger } from '@aws-lambda-powertools/logger';
import type { KinesisStreamRecord } from 'aws-lambda';
import type { LogPort } from '../app/ports';

/** The keys every line logged while a lane is processed carries, so a log line leads back to its records. */
export const LANE_LOG_KEYS = ['shardId', 'firstSequenceNumber', 'lastSequenceNumber'] as const;

/**
 * LogPort on Powertools Logger: one structured JSON line per call, with the service name, cold start, the Lambda
 * request id (once {@link PowertoolsLog.addContext} is called) and, while a lane is processed, its shard and
 * sequence-number range, so that CloudWatch Logs Insights can filter by shard or find the batch of a record.
 */
export class PowertoolsLog implements LogPort {
  constructor(readonly logger: Logger) {}

  info(message: string, fields?: Record<string, unknown>): void {
    this.logger.info(message, fields ?? {});
  }

  warn(message: string, fields?: Record<string, unknown>): void {
    this.logger.warn(message, fields ?? {});
  }

  error(message: string, fields?: Record<string, unknown>): void {
    this.logger.error(message, fields ?? {});
  }

  /** Adds the shard and the delivered sequence-number range to every line until {@link endLane}. */
  beginLane(lane: string, records: readonly KinesisStreamRecord[]): void {
    this.logger.appendKeys({
      shardId: lane,
      firstSequenceNumber: records[0]?.kinesis.sequenceNumber,
      lastSequenceNumber: records[records.length - 1]?.kinesis.sequenceNumber,
    });
  }

  /** Removes the lane keys. */
  endLane(): void {
    this.logger.removeKeys([...LANE_LOG_KEYS]);
  }
}

import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { FirehoseClient } from '@aws-sdk/client-firehose';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { Logger } from '@aws-lambda-powertools/logger';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { BatchMetrics } from '../adapters/batch-metrics';
import { DynamoWindowStore } from '../adapters/dynamodb-window-store';
import { FirehoseResultSink } from '../adapters/firehose-result-sink';
import { realSleep } from '../adapters/backoff';
import { SKIP_DETECTION_AGE, SKIP_DETECTION_ENV, SKIP_DETECTION_RETRIES } from '../adapters/function-env';
import { createKinesisHandler } from '../adapters/kinesis-handler';
import { KinesisStreamReader } from '../adapters/kinesis-stream-reader';
import { PowertoolsLog } from '../adapters/powertools-log';
import { S3RecordSink } from '../adapters/s3-record-sink';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { WRITE_CONCURRENCY } from '../app/window-settlement';
import { PENDING_QUERY_CONCURRENCY } from '../adapters/dynamodb-window-store';
import { compileSpec } from '../domain/compiled-spec';
import { parseAggregationSpecJson } from '../domain/spec';

// Composition root: configuration comes from the environment the stack sets, and is checked once at init so that a
// misconfigured function fails loudly on its first invocation rather than misbehaving per record.
function required(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`aggregator: environment variable ${name} is required`);
  return v;
}

/** Sockets to DynamoDB: the window writes and the pending-index queries a batch keeps in flight at most. */
const DYNAMODB_SOCKETS = WRITE_CONCURRENCY + PENDING_QUERY_CONCURRENCY;

const spec = compileSpec(parseAggregationSpecJson(required('AGGREGATION_SPEC'), 'AGGREGATION_SPEC'));
const bucket = required('SINK_BUCKET_NAME');
const s3 = new S3Client({});
// Service name and metrics namespace come from POWERTOOLS_SERVICE_NAME and POWERTOOLS_METRICS_NAMESPACE, set by the
// stack next to the alarms that read these metrics.
const log = new PowertoolsLog(new Logger());
const metrics = new BatchMetrics(new Metrics());

export const handler = createKinesisHandler(
  {
    spec,
    store: new DynamoWindowStore(
      DynamoDBDocumentClient.from(
        // The SDK's default of 50 sockets would cap the window writes kept in flight (P9).
        new DynamoDBClient({ requestHandler: new NodeHttpHandler({ httpAgent: new HttpAgent({ keepAlive: true, maxSockets: DYNAMODB_SOCKETS }), httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: DYNAMODB_SOCKETS }) }) }),
        { marshallOptions: { removeUndefinedValues: true } },
      ),
      {
        tableName: required('WINDOW_TABLE_NAME'),
        retentionAfterCloseSeconds: process.env.WINDOW_RETENTION_SECONDS ? Number(process.env.WINDOW_RETENTION_SECONDS) : undefined,
      },
    ),
    results: new FirehoseResultSink(new FirehoseClient({}), { deliveryStreamName: required('RESULTS_DELIVERY_STREAM') }),
    errors: new S3RecordSink(s3, bucket, process.env.ERRORS_PREFIX ?? 'errors/'),
    late: new S3RecordSink(s3, bucket, process.env.LATE_PREFIX ?? 'late/'),
    log,
    pendingStaleAfterMs: process.env.PENDING_STALE_AFTER_MS ? Number(process.env.PENDING_STALE_AFTER_MS) : undefined,
    time: { now: Date.now, sleep: realSleep, random: Math.random },
    skipDetection: process.env[SKIP_DETECTION_ENV] === SKIP_DETECTION_RETRIES || process.env[SKIP_DETECTION_ENV] === SKIP_DETECTION_AGE,
    unseenSkipsPossible: process.env[SKIP_DETECTION_ENV] === SKIP_DETECTION_AGE,
    // GetRecords needs no HTTP/2 (only SubscribeToShard does), and HTTP/1.1 is what emulators speak.
    streamReader: new KinesisStreamReader(new KinesisClient({ requestHandler: new NodeHttpHandler() })),
  },
  Date.now,
  {
    beforeInvocation: (context) => {
      if (context) log.logger.addContext(context);
    },
    beforeBatch: (lane, records) => log.beginLane(lane, records),
    onBatch: (_lane, outcome) => metrics.record(outcome),
    afterInvocation: () => {
      log.endLane();
      metrics.flush();
    },
  },
);

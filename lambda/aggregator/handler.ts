import { KinesisClient } from '@aws-sdk/client-kinesis';
import { S3Client } from '@aws-sdk/client-s3';
import { Logger } from '@aws-lambda-powertools/logger';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { BatchMetrics } from '../adapters/batch-metrics';
import { sharedFunctionDeps } from '../adapters/function-deps';
import { readAggregatorEnv } from '../contract/env';
import { createKinesisHandler } from '../adapters/kinesis-handler';
import { KinesisStreamReader } from '../adapters/kinesis-stream-reader';
import { PowertoolsLog } from '../adapters/powertools-log';
import { S3RecordSink } from '../adapters/s3-record-sink';
import { WRITE_CONCURRENCY } from '../app/window-settlement';
import { PENDING_QUERY_CONCURRENCY } from '../adapters/dynamodb-window-store';

// Composition root: configuration comes from the environment the stack sets, and is checked once at init so that a
// misconfigured function fails loudly on its first invocation rather than misbehaving per record.
const env = readAggregatorEnv();
// Sockets to DynamoDB: the window writes and the pending-index queries a batch keeps in flight at most (the SDK's
// default of 50 would cap the writes in flight, P9).
const shared = sharedFunctionDeps(env, { dynamoDbSockets: WRITE_CONCURRENCY + PENDING_QUERY_CONCURRENCY });
const s3 = new S3Client({});
// Service name and metrics namespace come from POWERTOOLS_SERVICE_NAME and POWERTOOLS_METRICS_NAMESPACE, set by the
// stack next to the alarms that read these metrics.
const log = new PowertoolsLog(new Logger());
const metrics = new BatchMetrics(new Metrics());

export const handler = createKinesisHandler(
  {
    ...shared,
    errors: new S3RecordSink(s3, env.sinkBucketName, env.errorsPrefix),
    late: new S3RecordSink(s3, env.sinkBucketName, env.latePrefix),
    log,
    pendingStaleAfterMs: env.pendingStaleAfterMs,
    skipDetection: env.skipDetection,
    unseenSkipsPossible: env.unseenSkipsPossible,
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

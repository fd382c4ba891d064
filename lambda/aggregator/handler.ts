import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { BatchMetrics } from '../adapters/batch-metrics';
import { sharedFunctionDeps } from '../adapters/function-deps';
import { readAggregatorEnv } from '../contract/env';
import { createKinesisHandler } from '../adapters/kinesis-handler';
import { lazyRecordSink, lazyStreamReader } from '../adapters/lazy-ports';
import { PowertoolsLog } from '../adapters/powertools-log';
import { WRITE_CONCURRENCY } from '../app/window-settlement';
import { PENDING_QUERY_CONCURRENCY } from '../adapters/dynamodb-window-store';
import { loadLazyAdapters } from './load-lazy-adapters';

// Composition root: configuration comes from the environment the stack sets, and is checked once at init so that a
// misconfigured function fails loudly on its first invocation rather than misbehaving per record.
const env = readAggregatorEnv();
// Sockets to DynamoDB: the window writes and the pending-index queries a batch keeps in flight at most (the SDK's
// default of 50 would cap the writes in flight, P9).
const shared = sharedFunctionDeps(env, { dynamoDbSockets: WRITE_CONCURRENCY + PENDING_QUERY_CONCURRENCY });
// The S3 sinks and the reader of skipped ranges serve rare paths: their clients are loaded on first use, from a file
// of their own beside the bundle, which keeps them out of what the cold start compiles (P4).
const sink = (prefix: string) => lazyRecordSink(async () => (await loadLazyAdapters()).s3RecordSink(env.sinkBucketName, prefix));
// Service name and metrics namespace come from POWERTOOLS_SERVICE_NAME and POWERTOOLS_METRICS_NAMESPACE, set by the
// stack next to the alarms that read these metrics.
const log = new PowertoolsLog(new Logger());
const metrics = new BatchMetrics(new Metrics());

export const handler = createKinesisHandler(
  {
    ...shared,
    errors: sink(env.errorsPrefix),
    late: sink(env.latePrefix),
    log,
    pendingStaleAfterMs: env.pendingStaleAfterMs,
    skipDetection: env.skipDetection,
    unseenSkipsPossible: env.unseenSkipsPossible,
    streamReader: lazyStreamReader(async () => (await loadLazyAdapters()).kinesisStreamReader()),
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

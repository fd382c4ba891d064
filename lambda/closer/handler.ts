import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { FirehoseClient } from '@aws-sdk/client-firehose';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoWindowStore } from '../adapters/dynamodb-window-store';
import { FirehoseResultSink } from '../adapters/firehose-result-sink';
import type { Context } from 'aws-lambda';
import { realSleep } from '../adapters/backoff';
import { LANE_IDLE_TIMEOUT_MS_ENV } from '../adapters/function-env';
import { PowertoolsLog } from '../adapters/powertools-log';
import { DEADLINE_MARGIN_MS } from '../app/time';
import { closeIdleWindows } from '../app/close-idle-windows';
import { compileSpec } from '../domain/compiled-spec';
import { parseAggregationSpecJson } from '../domain/spec';

// Composition root of the scheduled idle-window closer; configuration is checked once at init.
function required(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`closer: environment variable ${name} is required`);
  return v;
}

const spec = compileSpec(parseAggregationSpecJson(required('AGGREGATION_SPEC'), 'AGGREGATION_SPEC'));
// The service name comes from POWERTOOLS_SERVICE_NAME, set by the stack.
const log = new PowertoolsLog(new Logger());
const deps = {
  spec,
  store: new DynamoWindowStore(
    DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } }),
    {
      tableName: required('WINDOW_TABLE_NAME'),
      retentionAfterCloseSeconds: process.env.WINDOW_RETENTION_SECONDS ? Number(process.env.WINDOW_RETENTION_SECONDS) : undefined,
    },
  ),
  results: new FirehoseResultSink(new FirehoseClient({}), { deliveryStreamName: required('RESULTS_DELIVERY_STREAM') }),
  log,
  pendingStaleAfterMs: process.env.PENDING_STALE_AFTER_MS ? Number(process.env.PENDING_STALE_AFTER_MS) : undefined,
  laneIdleTimeoutMs: process.env[LANE_IDLE_TIMEOUT_MS_ENV] ? Number(process.env[LANE_IDLE_TIMEOUT_MS_ENV]) : undefined,
  time: { now: Date.now, sleep: realSleep, random: Math.random },
};

/** Invoked by an EventBridge schedule; the event carries nothing it needs. */
export const handler = async (_event?: unknown, context?: Context): Promise<void> => {
  const now = Date.now();
  const remaining = typeof context?.getRemainingTimeInMillis === 'function' ? context.getRemainingTimeInMillis() : undefined;
  const stats = await closeIdleWindows(deps, now, remaining === undefined ? undefined : now + Math.max(remaining - DEADLINE_MARGIN_MS, remaining / 2));
  log.info('idle windows closed', { ...stats });
  // Failing the invocation makes the failure visible in the Errors metric; the next run retries it anyway.
  if (stats.emissionFailed) throw new Error('emitting window results failed; the windows stay pending');
};

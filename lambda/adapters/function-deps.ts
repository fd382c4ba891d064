import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { FirehoseClient } from '@aws-sdk/client-firehose';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { FunctionEnv } from '../contract/env';
import { compileSpec, type CompiledSpec } from '../domain/compiled-spec';
import { parseAggregationSpecJson } from '../domain/spec';
import { ENV } from '../contract/env';
import { realSleep } from '../support/backoff';
import { DynamoWindowStore } from './dynamodb-window-store';
import { DynamoKeyWindowStore } from './dynamodb-key-window-store';
import { FirehoseResultSink } from './firehose-result-sink';

/** What both functions build the same way from their environment: the spec, the window store and the results sink. */
export interface SharedFunctionDeps {
  /** The compiled aggregation spec. */
  readonly spec: CompiledSpec;
  /** The DynamoDB window store. */
  readonly store: DynamoWindowStore;
  /** The window sets of session and stagger aggregations, in the same table. */
  readonly keyStore: DynamoKeyWindowStore;
  /** The Firehose results sink. */
  readonly results: FirehoseResultSink;
  /** Real time. */
  readonly time: { now: () => number; sleep: typeof realSleep; random: () => number };
}

/** How a function's clients are sized. */
export interface SharedFunctionOptions {
  /**
   * Sockets kept to DynamoDB: at least the requests the function keeps in flight, or they queue for a socket.
   * @default the SDK's default (50)
   */
  readonly dynamoDbSockets?: number;
}

function dynamoDbClient(sockets: number | undefined): DynamoDBClient {
  if (sockets === undefined) return new DynamoDBClient({});
  return new DynamoDBClient({
    requestHandler: new NodeHttpHandler({
      httpAgent: new HttpAgent({ keepAlive: true, maxSockets: sockets }),
      httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: sockets }),
    }),
  });
}

/** Builds the adapters both handlers share from the environment the stack sets. */
export function sharedFunctionDeps(env: FunctionEnv, opts: SharedFunctionOptions = {}): SharedFunctionDeps {
  const doc = DynamoDBDocumentClient.from(dynamoDbClient(opts.dynamoDbSockets), { marshallOptions: { removeUndefinedValues: true } });
  const tableOptions = {
    tableName: env.windowTableName,
    retentionAfterCloseSeconds: env.windowRetentionSeconds,
    updateBatching: env.updateBatching,
    pendingKeySpread: env.pendingKeySpread,
    laneBuckets: env.laneBuckets,
  };
  const store = new DynamoWindowStore(doc, tableOptions);
  return {
    spec: compileSpec(parseAggregationSpecJson(env.aggregationSpecJson, ENV.aggregationSpec)),
    store,
    keyStore: new DynamoKeyWindowStore(doc, tableOptions, store),
    results: new FirehoseResultSink(new FirehoseClient({}), { deliveryStreamName: env.resultsDeliveryStream }),
    time: { now: Date.now, sleep: realSleep, random: Math.random },
  };
}

import * as fs from 'node:fs';
import * as path from 'node:path';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as firehose from 'aws-cdk-lib/aws-kinesisfirehose';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { KinesisEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { AGGREGATOR_TIMEOUT, lazyAdaptersHooks, PIPELINE_BUNDLING, PIPELINE_RUNTIME, windowTableAccessEnv } from './lambda-bundling';
import type { WindowStateTable } from './window-state-table';
import { AGGREGATOR_V8_FLAGS, DEFAULT_METRICS_NAMESPACE, ENV, SERVICE_NAMES, SKIP_DETECTION_AGE, SKIP_DETECTION_RETRIES, type UpdateBatching } from '../../lambda/contract/env';
import { SINK_PREFIXES } from '../../lambda/contract/s3-prefixes';
import { LAZY_ADAPTERS_MODULE } from '../../lambda/contract/bundle-layout';
import { CONFIG_DEFAULTS } from '../config/defaults';
import { INFINITE } from '../config/limits';

const REPO_ROOT = path.resolve(__dirname, '..', '..');

/**
 * Longest an SQS message can be kept. Failure records are metadata pointing into the stream, so they are kept as
 * long as possible to leave time for a redrive (which also needs the records still in the stream).
 * @see https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html
 */
export const MAX_SQS_RETENTION = Duration.days(14);

/** The Powertools service name: the `service` key of every log line and the `service` dimension of every metric. */
export const AGGREGATOR_SERVICE_NAME = SERVICE_NAMES.aggregator;

/**
 * Key actions a sender to a queue encrypted with a customer-managed key needs (the ESM sends with the function's
 * role). Listed instead of the L2's grant, which adds `kms:GenerateDataKey*` and `kms:ReEncrypt*` wildcards.
 * @see https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html
 */
export const QUEUE_SENDER_KEY_ACTIONS = ['kms:Decrypt', 'kms:GenerateDataKey'] as const;

/** Kinesis event-source settings; see the ESM documentation for each. */
export interface AggregatorEventSourceSettings {
  /**
   * Records per batch (BatchSize).
   * @default 500
   */
  readonly batchSize?: number;
  /**
   * How long to gather records before invoking (MaximumBatchingWindowInSeconds).
   * @default Duration.seconds(1)
   */
  readonly maxBatchingWindow?: Duration;
  /**
   * Concurrent batches per shard (ParallelizationFactor).
   * @default 1
   */
  readonly parallelizationFactor?: number;
  /**
   * Retries of a failing batch before it goes to the failure queue (MaximumRetryAttempts). -1 retries until the batch
   * succeeds, so nothing is ever skipped: only infrastructure failures fail a batch (bad records go to the errors
   * sink), and the iterator-age alarm says when a shard is stuck. A bound trades completeness for freshness: a batch
   * given up is detected by the next batch of its shard and re-read from the stream (see SKIP_DETECTION_ENV).
   * @default -1
   */
  readonly retryAttempts?: number;
  /**
   * Age after which a record is given up to the failure queue unprocessed (MaximumRecordAgeInSeconds). Undefined is
   * -1: never. Like a bounded `retryAttempts`, a bound trades completeness for freshness.
   * @default - infinite (-1)
   */
  readonly maxRecordAge?: Duration;

}

/** Properties of {@link WindowAggregator}. */
export interface WindowAggregatorProps extends AggregatorEventSourceSettings {
  /** The stream to consume. */
  readonly stream: kinesis.IStream;
  /** Window-state table. */
  readonly windowTable: WindowStateTable;
  /** Firehose delivery stream that receives window results by direct put. */
  readonly resultsStream: firehose.IDeliveryStream;
  /** Bucket for the errors and late-data sinks. */
  readonly sinkBucket: s3.IBucket;
  /** The validated aggregation spec as compact JSON (AGGREGATION_SPEC). */
  readonly aggregationSpecJson: string;
  /** How long window items outlive their end plus allowed lateness (their TTL). @default 7 days */
  readonly windowRetention?: Duration;
  /**
   * Key prefix of the errors sink (records that cannot be parsed or aggregated).
   * @default "errors/"
   */
  readonly errorsPrefix?: string;
  /**
   * Key prefix of the late-data sink (events behind the allowed lateness).
   * @default "late/"
   */
  readonly latePrefix?: string;
  /**
   * Handler source file. A `lazy-adapters.ts` beside it is built into a file of its own next to the bundle, which the
   * handler loads on first use (see `lazyAdaptersHooks`).
   * @default lambda/aggregator/handler.ts in this repository
   */
  readonly entry?: string;
  /**
   * Directory with the package-lock.json and node_modules that esbuild resolves from.
   * @default this repository's root
   */
  readonly projectRoot?: string;
  /**
   * Retention of the function's log group.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Removal policy of the log group and failure queue.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * CloudWatch namespace of the function's EMF metrics (POWERTOOLS_METRICS_NAMESPACE).
   * @default "WindowedPipeline"
   */
  readonly metricsNamespace?: string;
  /**
   * Customer-managed key for the failure queue.
   * @default - SSE-SQS
   */
  readonly queueEncryptionKey?: kms.IKey;
  /**
   * How the function sends its conditional DynamoDB updates (see `UPDATE_BATCHING_MODES`): the local emulator target
   * groups them into transactions; AWS stages send a request each.
   * @default 'single'
   */
  readonly updateBatching?: UpdateBatching;
  /**
   * Buckets per shard slot of the `pending` index (`PENDING_KEY_SPREAD`): part of the table layout, the same for both
   * functions of a deployment.
   * @default PENDING_KEY_SPREAD
   */
  readonly pendingKeySpread?: number;
  /**
   * Partitions of the lane items (`LANE_BUCKETS`): part of the table layout, the same for both functions.
   * @default LANE_BUCKETS
   */
  readonly laneBuckets?: number;
}

/**
 * The aggregator: a Node.js ARM64 function fed by a Kinesis event source mapping that bisects failing batches,
 * honours partial batch responses, bounds retries and record age, and sends what it gives up on to an encrypted,
 * TLS-only SQS queue. Its role is built here rather than by the L2 so that it carries no AWS-managed policy: logs
 * go only to its own log group, and each data grant names exact resources.
 */
export class WindowAggregator extends Construct {
  /** The function. */
  readonly function: nodejs.NodejsFunction;
  /** The ESM on-failure destination (metadata of batches given up on: shard and sequence-number range). */
  readonly failureQueue: sqs.Queue;
  /** The function's log group. */
  readonly logGroup: logs.LogGroup;
  /** The function's execution role. */
  readonly role: iam.Role;
  /** Key prefix of the errors sink. */
  readonly errorsPrefix: string;
  /** Key prefix of the late-data sink. */
  readonly latePrefix: string;

  constructor(scope: Construct, id: string, props: WindowAggregatorProps) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    this.errorsPrefix = props.errorsPrefix ?? SINK_PREFIXES.errors;
    this.latePrefix = props.latePrefix ?? SINK_PREFIXES.late;
    const projectRoot = props.projectRoot ?? REPO_ROOT;

    this.failureQueue = new sqs.Queue(this, 'FailureQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: MAX_SQS_RETENTION,
      removalPolicy,
    });
    if (props.queueEncryptionKey) {
      // Set on the L1 rather than through the L2's encryptionMasterKey, so that the L2's send grant (used by the
      // on-failure destination) does not add wildcard key actions; the exact ones are granted below.
      const cfnQueue = this.failureQueue.node.defaultChild as sqs.CfnQueue;
      cfnQueue.sqsManagedSseEnabled = undefined;
      cfnQueue.kmsMasterKeyId = props.queueEncryptionKey.keyArn;
    }

    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      retention: props.logRetention ?? CONFIG_DEFAULTS.logRetentionDays,
      removalPolicy,
    });

    this.role = new iam.Role(this, 'Role', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    this.logGroup.grantWrite(this.role);

    const entry = props.entry ?? path.join(projectRoot, 'lambda', 'aggregator', 'handler.ts');
    // The handler's lazily loaded adapters, built into a file of their own (lazyAdaptersHooks): an entry of the
    // caller's without them beside it gets the bundle alone.
    const lazyEntry = path.join(path.dirname(entry), `${LAZY_ADAPTERS_MODULE}.ts`);
    this.function = new nodejs.NodejsFunction(this, 'Function', {
      entry,
      handler: 'handler',
      projectRoot,
      depsLockFilePath: path.join(projectRoot, 'package-lock.json'),
      // The latest Node.js runtime the installed CDK knows (cdk-nag L1 flags older ones); >= 22 per the contract.
      runtime: PIPELINE_RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 1024,
      timeout: AGGREGATOR_TIMEOUT,
      role: this.role,
      logGroup: this.logGroup,
      environment: {
        [ENV.aggregationSpec]: props.aggregationSpecJson,
        [ENV.windowTableName]: props.windowTable.table.tableName,
        ...(props.windowRetention ? { [ENV.windowRetentionSeconds]: String(props.windowRetention.toSeconds()) } : {}),
        [ENV.resultsDeliveryStream]: props.resultsStream.deliveryStreamName,
        [ENV.sinkBucketName]: props.sinkBucket.bucketName,
        [ENV.errorsPrefix]: this.errorsPrefix,
        [ENV.latePrefix]: this.latePrefix,
        [ENV.nodeOptions]: ['--enable-source-maps', ...AGGREGATOR_V8_FLAGS].join(' '),
        [ENV.serviceName]: AGGREGATOR_SERVICE_NAME,
        [ENV.metricsNamespace]: props.metricsNamespace ?? DEFAULT_METRICS_NAMESPACE,
        ...windowTableAccessEnv(props),
      },
      bundling: fs.existsSync(lazyEntry) ? { ...PIPELINE_BUNDLING, commandHooks: lazyAdaptersHooks(lazyEntry) } : PIPELINE_BUNDLING,
    });

    const retryAttempts = props.retryAttempts ?? CONFIG_DEFAULTS.retryAttempts;
    if (props.maxRecordAge !== undefined) this.function.addEnvironment(ENV.skipDetection, SKIP_DETECTION_AGE);
    else if (retryAttempts !== INFINITE) this.function.addEnvironment(ENV.skipDetection, SKIP_DETECTION_RETRIES);
    this.function.addEventSource(
      new KinesisEventSource(props.stream, {
        startingPosition: lambda.StartingPosition.TRIM_HORIZON,
        batchSize: props.batchSize ?? CONFIG_DEFAULTS.batchSize,
        maxBatchingWindow: props.maxBatchingWindow ?? Duration.seconds(CONFIG_DEFAULTS.maxBatchingWindowSeconds),
        parallelizationFactor: props.parallelizationFactor ?? CONFIG_DEFAULTS.parallelizationFactor,
        bisectBatchOnError: true,
        reportBatchItemFailures: true,
        retryAttempts,
        maxRecordAge: props.maxRecordAge,
        onFailure: new SqsDlq(this.failureQueue),
      }),
    );
    if (props.maxRecordAge === undefined) {
      // The L2 takes a Duration, which cannot say -1; CloudFormation's default would be -1 too, but it is written out
      // so that the template states the guarantee.
      const mapping = this.function.node.children.find((c) => c instanceof lambda.EventSourceMapping);
      (mapping?.node.defaultChild as lambda.CfnEventSourceMapping | undefined)?.addPropertyOverride('MaximumRecordAgeInSeconds', INFINITE);
    }

    props.windowTable.grantWindowStateAccess(this.role);
    props.queueEncryptionKey?.grant(this.role, ...QUEUE_SENDER_KEY_ACTIONS);
    // SSE-KMS sink bucket: a single-part PutObject only needs a data key.
    props.sinkBucket.encryptionKey?.grant(this.role, 'kms:GenerateDataKey');
    firehose.DeliveryStreamGrants.fromDeliveryStream(props.resultsStream).putRecords(this.role);
    // Only PutObject, and only under the two sink prefixes (grantPut would add s3:Abort* and tagging/retention).
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:PutObject'],
        resources: [
          props.sinkBucket.arnForObjects(`${this.errorsPrefix}*`),
          props.sinkBucket.arnForObjects(`${this.latePrefix}*`),
        ],
      }),
    );
  }
}

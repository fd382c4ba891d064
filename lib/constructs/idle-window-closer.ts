import * as path from 'node:path';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as firehose from 'aws-cdk-lib/aws-kinesisfirehose';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { PENDING_STALE_AFTER, PIPELINE_BUNDLING, PIPELINE_RUNTIME, windowTableAccessEnv } from './lambda-bundling';
import type { WindowStateTable } from './window-state-table';
import { DEFAULT_LANE_IDLE_TIMEOUT_MS, ENV, SERVICE_NAMES, type UpdateBatching } from '../../lambda/contract/env';
import { CONFIG_DEFAULTS } from '../config/defaults';

const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** Properties of {@link IdleWindowCloser}. */
export interface IdleWindowCloserProps {
  /** Window-state table. */
  readonly windowTable: WindowStateTable;
  /** Firehose delivery stream that receives window results by direct put. */
  readonly resultsStream: firehose.IDeliveryStream;
  /** The validated aggregation spec as compact JSON (AGGREGATION_SPEC). */
  readonly aggregationSpecJson: string;
  /** How long window items outlive their end plus allowed lateness (their TTL). @default 7 days */
  readonly windowRetention?: Duration;
  /**
   * How often windows whose end plus allowed lateness has passed in processing time are fired.
   * @default Duration.minutes(1)
   */
  readonly interval?: Duration;
  /**
   * A window fires only when every shard that fed it has had no batch for this long.
   * @default - DEFAULT_LANE_IDLE_TIMEOUT_MS
   */
  readonly laneIdleTimeout?: Duration;
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
  /**
   * Retention of the function's log group.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Removal policy of the log group.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Directory with the package-lock.json and node_modules that esbuild resolves from.
   * @default this repository's root
   */
  readonly projectRoot?: string;
}

/**
 * A scheduled function that fires windows once their end plus allowed lateness has passed in processing time and
 * every shard that fed them has been idle (no batch) for the lane idle timeout, so that windows close even when a
 * shard stops receiving records, and emits versions a dead writer left pending. Its writes
 * are conditional like the aggregator's, so the two never fire a window twice.
 */
export class IdleWindowCloser extends Construct {
  /** The function. */
  readonly function: nodejs.NodejsFunction;
  /** The schedule. */
  readonly rule: events.Rule;
  /** The function's log group. */
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: IdleWindowCloserProps) {
    super(scope, id);
    const projectRoot = props.projectRoot ?? REPO_ROOT;
    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      retention: props.logRetention ?? CONFIG_DEFAULTS.logRetentionDays,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    const role = new iam.Role(this, 'Role', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    this.logGroup.grantWrite(role);

    this.function = new nodejs.NodejsFunction(this, 'Function', {
      entry: path.join(projectRoot, 'lambda', 'closer', 'handler.ts'),
      handler: 'handler',
      projectRoot,
      depsLockFilePath: path.join(projectRoot, 'package-lock.json'),
      runtime: PIPELINE_RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 512,
      timeout: Duration.seconds(60),
      role,
      logGroup: this.logGroup,
      // One closer at a time: overlapping runs would only race each other's conditional writes.
      reservedConcurrentExecutions: 1,
      environment: {
        [ENV.aggregationSpec]: props.aggregationSpecJson,
        [ENV.windowTableName]: props.windowTable.table.tableName,
        ...(props.windowRetention ? { [ENV.windowRetentionSeconds]: String(props.windowRetention.toSeconds()) } : {}),
        [ENV.resultsDeliveryStream]: props.resultsStream.deliveryStreamName,
        [ENV.pendingStaleAfterMs]: String(PENDING_STALE_AFTER.toMilliseconds()),
        [ENV.laneIdleTimeoutMs]: String(props.laneIdleTimeout?.toMilliseconds() ?? DEFAULT_LANE_IDLE_TIMEOUT_MS),
        [ENV.nodeOptions]: '--enable-source-maps',
        [ENV.serviceName]: SERVICE_NAMES.closer,
        ...windowTableAccessEnv(props),
      },
      bundling: PIPELINE_BUNDLING,
    });
    props.windowTable.grantWindowStateAccess(role);
    firehose.DeliveryStreamGrants.fromDeliveryStream(props.resultsStream).putRecords(role);

    this.rule = new events.Rule(this, 'Schedule', {
      schedule: events.Schedule.rate(props.interval ?? Duration.minutes(CONFIG_DEFAULTS.idleCloseIntervalMinutes)),
      targets: [new targets.LambdaFunction(this.function, { retryAttempts: 0 })],
    });
  }
}

import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type * as firehose from 'aws-cdk-lib/aws-kinesisfirehose';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { CONFIG_DEFAULTS } from '../config/defaults';
import { BATCH_METRICS } from '../../lambda/contract/metric-names';

/** Where the runbook of every alarm lives (alarm descriptions point at its sections). */
export const RUNBOOK = 'docs/operations.md';

/**
 * The DynamoDB operations the aggregator issues on the window-state table (see lambda/adapters/dynamodb-window-store.ts).
 * One throttle alarm each: the L2's all-operations helper is a metric-math sum, and a single metric per alarm keeps
 * every alarm deployable to the local emulator too (which rejects metric-math alarms).
 */
export const WINDOW_TABLE_OPERATIONS = ['GetItem', 'BatchGetItem', 'PutItem', 'UpdateItem', 'Query'] as const;

/** Properties of {@link PipelineMonitoring}. */
export interface PipelineMonitoringProps {
  /** The ingest stream (alarms use the `StreamName` dimension). */
  readonly stream: kinesis.IStream;
  /** The aggregator function (`FunctionName`). */
  readonly aggregator: lambda.IFunction;
  /**
   * The scheduled idle-window closer (`FunctionName`).
   * @default - no closer alarm
   */
  readonly closer?: lambda.IFunction;
  /** The event source mapping's on-failure queue (`QueueName`). */
  readonly failureQueue: sqs.IQueue;
  /** The window-state table (`TableName`, `Operation`). */
  readonly table: dynamodb.Table;
  /** The Firehose delivery streams to watch (`DeliveryStreamName`), by a short label used in IDs and titles. */
  readonly deliveryStreams: Readonly<Record<string, firehose.IDeliveryStream>>;
  /** Namespace of the aggregator's EMF metrics (POWERTOOLS_METRICS_NAMESPACE). */
  readonly metricsNamespace: string;
  /** The aggregator's Powertools service name, which Powertools emits as the `service` dimension. */
  readonly serviceName: string;
  /**
   * The iterator-age alarms fire above this age.
   * @default Duration.minutes(5)
   */
  readonly iteratorAgeThreshold?: Duration;
  /**
   * The iterator-age alarms fire after this many consecutive breaching 1-minute periods.
   * @default 3
   */
  readonly iteratorAgeEvaluationPeriods?: number;
  /**
   * The bad-records alarm fires when more records than this go to the errors sink in 5 minutes.
   * @default 100
   */
  readonly badRecordsThreshold?: number;
  /**
   * The Firehose freshness alarms fire when the oldest record not yet in S3 is older than this. Keep it above the
   * buffering interval.
   * @default Duration.minutes(15)
   */
  readonly deliveryFreshnessThreshold?: Duration;
  /**
   * An existing topic every alarm notifies (on ALARM and on OK).
   * @default - none, unless createAlarmTopic
   */
  readonly alarmTopic?: sns.ITopic;
  /**
   * Create a KMS-encrypted, TLS-only topic that every alarm notifies. Not with alarmTopic.
   * @default false
   */
  readonly createAlarmTopic?: boolean;
  /**
   * Subscribe this e-mail address to the created topic (it must confirm the subscription).
   * @default - no subscription
   */
  readonly alarmEmail?: string;
  /**
   * Removal policy of the created topic's key.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** An alarm of this construct with what it watches, for tests and the runbook. */
export interface PipelineAlarm {
  /** Construct id, also the runbook section. */
  readonly id: string;
  readonly alarm: cloudwatch.Alarm;
}

/**
 * The pipeline's CloudWatch alarms and dashboard. Every metric comes from an L2 metric helper (or, for the EMF
 * metrics, the same namespace and `service` dimension the function publishes with), so each alarm carries the
 * dimension its namespace needs: `StreamName` (Kinesis), `FunctionName` (Lambda), `QueueName` (SQS),
 * `DeliveryStreamName` (Firehose), `TableName` + `Operation` (DynamoDB). An alarm on a metric without its dimension
 * watches an empty series and never fires.
 *
 * Missing data is treated as not breaching everywhere: these metrics are only emitted while there is traffic, and an
 * idle pipeline is not an incident.
 */
export class PipelineMonitoring extends Construct {
  /** Every alarm, in creation order. */
  readonly alarms: PipelineAlarm[] = [];
  /** The dashboard. */
  readonly dashboard: cloudwatch.Dashboard;
  /** The topic the alarms notify, when there is one. */
  readonly alarmTopic?: sns.ITopic;
  /** The key of the created topic. */
  readonly alarmTopicKey?: kms.Key;

  constructor(scope: Construct, id: string, props: PipelineMonitoringProps) {
    super(scope, id);
    if (props.alarmTopic && props.createAlarmTopic) {
      throw new Error('PipelineMonitoring: give alarmTopic or createAlarmTopic, not both');
    }
    if (props.alarmEmail && !props.createAlarmTopic) {
      throw new Error('PipelineMonitoring: alarmEmail needs createAlarmTopic');
    }
    if (props.createAlarmTopic) {
      const created = this.createTopic(props.removalPolicy ?? RemovalPolicy.RETAIN);
      this.alarmTopic = created.topic;
      this.alarmTopicKey = created.key;
      if (props.alarmEmail) created.topic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
    } else {
      this.alarmTopic = props.alarmTopic;
    }

    this.addAlarms(props);
    this.dashboard = this.createDashboard(props);
  }

  /** One alarm per failure mode, in the order of the runbook (docs/operations.md). */
  private addAlarms(props: PipelineMonitoringProps): void {
    const { stream, aggregator, failureQueue, table } = props;
    const iteratorAge = props.iteratorAgeThreshold ?? Duration.minutes(CONFIG_DEFAULTS.iteratorAgeAlarmMinutes);
    const iteratorPeriods = props.iteratorAgeEvaluationPeriods ?? CONFIG_DEFAULTS.iteratorAgeAlarmPeriods;
    const freshness = props.deliveryFreshnessThreshold ?? Duration.seconds(CONFIG_DEFAULTS.deliveryFreshnessAlarmSeconds);
    const oneMinute = Duration.minutes(1);
    const fiveMinutes = Duration.minutes(5);
    const iteratorAgeMs = iteratorAge.toMilliseconds();
    this.addAlarm('AggregatorIteratorAge', {
      metric: aggregator.metric('IteratorAge', { statistic: cloudwatch.Stats.MAXIMUM, period: oneMinute }),
      threshold: iteratorAgeMs,
      evaluationPeriods: iteratorPeriods,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      alarmDescription: `The aggregator is more than ${iteratorAge.toHumanString()} behind the stream, or a shard is stuck behind a failing batch (retried until it succeeds by default): results are late, and records are lost if it stays stuck past the stream's retention.`,
    });
    this.addAlarm('StreamIteratorAge', {
      metric: stream.metricGetRecordsIteratorAgeMilliseconds({ statistic: cloudwatch.Stats.MAXIMUM, period: oneMinute }),
      threshold: iteratorAgeMs,
      evaluationPeriods: iteratorPeriods,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      alarmDescription: `The slowest consumer of the stream (aggregator or raw archive) is more than ${iteratorAge.toHumanString()} behind.`,
    });
    this.addAlarm('AggregatorErrors', {
      metric: aggregator.metricErrors({ statistic: cloudwatch.Stats.SUM, period: fiveMinutes }),
      threshold: 0,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      alarmDescription: 'The aggregator threw (batches are retried, bisected, then sent to the failure queue).',
    });
    if (props.closer) {
      this.addAlarm('CloserErrors', {
        metric: props.closer.metricErrors({ statistic: cloudwatch.Stats.SUM, period: fiveMinutes }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        alarmDescription: 'The idle closer failed: windows of quiet shards are not firing, or fired versions are not being emitted.',
      });
    }
    this.addAlarm('AggregatorThrottles', {
      metric: aggregator.metricThrottles({ statistic: cloudwatch.Stats.SUM, period: fiveMinutes }),
      threshold: 0,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      alarmDescription: 'Invocations of the aggregator were throttled: it needs shards × parallelization factor concurrency.',
    });
    this.addAlarm('FailureQueueDepth', {
      metric: failureQueue.metricApproximateNumberOfMessagesVisible({ statistic: cloudwatch.Stats.MAXIMUM, period: oneMinute }),
      threshold: 0,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      alarmDescription: 'Batches were given up on (retries or record age exhausted): redrive them while the stream still retains the records.',
    });
    this.addAlarm('BadRecords', {
      metric: this.emf(props, BATCH_METRICS.badRecords),
      threshold: props.badRecordsThreshold ?? CONFIG_DEFAULTS.badRecordsAlarmThreshold,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      alarmDescription: 'Many records went to the errors sink (invalid JSON, no event time, missing fields): a producer or the spec changed.',
    });
    this.addAlarm('LostRecords', {
      metric: this.emf(props, BATCH_METRICS.lostRanges),
      threshold: 0,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      alarmDescription:
        'A range the event source mapping gave up on (bounded retries) had left the stream before it could be re-read: those records were never counted. The range is in the errors sink as errors/dt=<day>/<shard>/lost-<from>-<before>.',
    });
    for (const [label, deliveryStream] of Object.entries(props.deliveryStreams)) {
      const name = capitalize(label);
      this.addAlarm(`${name}DeliveryFreshness`, {
        metric: deliveryStream.metric('DeliveryToS3.DataFreshness', { statistic: cloudwatch.Stats.MAXIMUM, period: fiveMinutes }),
        threshold: freshness.toSeconds(),
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        alarmDescription: `Firehose "${label}" holds records older than ${freshness.toHumanString()} that are not in S3 yet.`,
      });
      this.addAlarm(`${name}DeliverySuccess`, {
        metric: deliveryStream.metric('DeliveryToS3.Success', { statistic: cloudwatch.Stats.AVERAGE, period: fiveMinutes }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        alarmDescription: `Firehose "${label}" failed some S3 deliveries (it retries, then writes them under its error prefix).`,
      });
    }
    for (const operation of WINDOW_TABLE_OPERATIONS) {
      this.addAlarm(`WindowTableThrottles${operation}`, {
        metric: table.metricThrottledRequestsForOperation(operation, { statistic: cloudwatch.Stats.SUM, period: fiveMinutes }),
        threshold: 0,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        alarmDescription: `DynamoDB throttled ${operation} requests on the window-state table (a hot key, or a sudden burst on on-demand capacity).`,
      });
    }
    // Sustained rather than momentary: producers and consumers retry a throttled call.
    this.addAlarm('StreamReadThrottles', {
      metric: stream.metricReadProvisionedThroughputExceeded({ statistic: cloudwatch.Stats.SUM, period: oneMinute }),
      threshold: 0,
      evaluationPeriods: 3,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      alarmDescription: 'Reads of the stream are throttled (2 MB/s per shard shared by all consumers).',
    });
    this.addAlarm('StreamWriteThrottles', {
      metric: stream.metricWriteProvisionedThroughputExceeded({ statistic: cloudwatch.Stats.SUM, period: oneMinute }),
      threshold: 0,
      evaluationPeriods: 3,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      alarmDescription: 'Producers are throttled (1 MB/s or 1,000 records/s per shard, or a hot partition key).',
    });
  }

  /** The dashboard: alarm status first, then the stream, the aggregator, its own metrics, the table and Firehose. */
  private createDashboard(props: PipelineMonitoringProps): cloudwatch.Dashboard {
    const { stream, aggregator, failureQueue, table } = props;
    const oneMinute = Duration.minutes(1);
    const fiveMinutes = Duration.minutes(5);
    const deliveries = Object.entries(props.deliveryStreams);
    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', { defaultInterval: Duration.hours(3) });
    const widget = (title: string, left: cloudwatch.IMetric[], right?: cloudwatch.IMetric[]) =>
      new cloudwatch.GraphWidget({ title, left, right, width: 8, height: 6 });
    dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms.map((a) => a.alarm), width: 24, height: 4 }),
    );
    dashboard.addWidgets(
      widget('Stream: incoming records', [stream.metricIncomingRecords({ statistic: cloudwatch.Stats.SUM, period: oneMinute })]),
      widget('Iterator age (ms)', [
        aggregator.metric('IteratorAge', { statistic: cloudwatch.Stats.MAXIMUM, period: oneMinute, label: 'aggregator' }),
        stream.metricGetRecordsIteratorAgeMilliseconds({ statistic: cloudwatch.Stats.MAXIMUM, period: oneMinute, label: 'stream (slowest consumer)' }),
      ]),
      widget('Stream throttling', [
        stream.metricReadProvisionedThroughputExceeded({ statistic: cloudwatch.Stats.SUM, period: oneMinute, label: 'read' }),
        stream.metricWriteProvisionedThroughputExceeded({ statistic: cloudwatch.Stats.SUM, period: oneMinute, label: 'write' }),
      ]),
    );
    dashboard.addWidgets(
      widget(
        'Aggregator: invocations, errors, throttles',
        [
          aggregator.metricInvocations({ statistic: cloudwatch.Stats.SUM, period: oneMinute }),
          aggregator.metricErrors({ statistic: cloudwatch.Stats.SUM, period: oneMinute }),
          aggregator.metricThrottles({ statistic: cloudwatch.Stats.SUM, period: oneMinute }),
        ],
      ),
      widget('Aggregator: duration (ms)', [
        aggregator.metricDuration({ statistic: cloudwatch.Stats.percentile(99), period: oneMinute, label: 'p99' }),
        aggregator.metricDuration({ statistic: cloudwatch.Stats.AVERAGE, period: oneMinute, label: 'average' }),
      ]),
      widget('Failure queue: visible messages', [
        failureQueue.metricApproximateNumberOfMessagesVisible({ statistic: cloudwatch.Stats.MAXIMUM, period: oneMinute }),
      ]),
    );
    const emfMinute = (name: string, label: string) => this.emf(props, name, label).with({ period: oneMinute });
    dashboard.addWidgets(
      widget(
        'Records (per minute)',
        [emfMinute(BATCH_METRICS.recordsIn, 'in'), emfMinute(BATCH_METRICS.badRecords, 'bad'), emfMinute(BATCH_METRICS.lateRecords, 'late')],
        [emfMinute(BATCH_METRICS.repairedRecords, 'skipped, re-read'), emfMinute(BATCH_METRICS.lostRanges, 'skipped ranges lost')],
      ),
      widget(
        'Windows and DynamoDB writes (per minute)',
        [emfMinute(BATCH_METRICS.windowsEmitted, 'windows emitted'), emfMinute(BATCH_METRICS.windowWrites, 'window writes')],
        [emfMinute(BATCH_METRICS.writeConflicts, 'write conflicts (retried)')],
      ),
      widget('Window table: throttled requests', [
        table.metricThrottledRequestsForOperations({
          operations: [...WINDOW_TABLE_OPERATIONS] as dynamodb.Operation[],
          period: oneMinute,
        }),
      ]),
    );
    dashboard.addWidgets(
      widget(
        'Firehose: data freshness (s)',
        deliveries.map(([label, d]) => d.metric('DeliveryToS3.DataFreshness', { statistic: cloudwatch.Stats.MAXIMUM, period: fiveMinutes, label })),
      ),
      widget(
        'Firehose: delivery success',
        deliveries.map(([label, d]) => d.metric('DeliveryToS3.Success', { statistic: cloudwatch.Stats.AVERAGE, period: fiveMinutes, label })),
      ),
      widget(
        'Firehose: incoming records',
        deliveries.map(([label, d]) => d.metricIncomingRecords({ statistic: cloudwatch.Stats.SUM, period: fiveMinutes, label })),
      ),
    );
    return dashboard;
  }

  /**
   * One of the aggregator's EMF metrics, summed over 5 minutes. No label on alarm metrics: a labelled metric is
   * rendered as a `Metrics` (math) alarm, which the emulator rejects.
   */
  private emf(props: PipelineMonitoringProps, name: string, label?: string): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: props.metricsNamespace,
      metricName: name,
      dimensionsMap: { service: props.serviceName },
      statistic: cloudwatch.Stats.SUM,
      period: Duration.minutes(5),
      label,
    });
  }

  private addAlarm(id: string, props: Omit<cloudwatch.AlarmProps, 'treatMissingData' | 'datapointsToAlarm'>): void {
    const alarm = new cloudwatch.Alarm(this, id, {
      ...props,
      datapointsToAlarm: props.evaluationPeriods,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: `${props.alarmDescription} Runbook: ${RUNBOOK}#${id.toLowerCase()}`,
    });
    if (this.alarmTopic) {
      const action = new SnsAction(this.alarmTopic);
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
    }
    this.alarms.push({ id, alarm });
  }

  /**
   * A topic CloudWatch can publish to although it is encrypted: the AWS-managed aws/sns key does not let the
   * CloudWatch service use it, so the topic gets its own rotated key whose policy does, limited to this account.
   */
  private createTopic(removalPolicy: RemovalPolicy): { topic: sns.Topic; key: kms.Key } {
    const { account, partition, region } = Stack.of(this);
    const key = new kms.Key(this, 'AlarmTopicKey', {
      description: 'Encrypts the pipeline alarm topic; usable by CloudWatch alarms of this account',
      enableKeyRotation: true,
      removalPolicy,
    });
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': account } },
      }),
    );
    const topic = new sns.Topic(this, 'AlarmTopic', { masterKey: key, enforceSSL: true });
    topic.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [topic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': account },
          ArnLike: { 'aws:SourceArn': `arn:${partition}:cloudwatch:${region}:${account}:alarm:*` },
        },
      }),
    );
    return { topic, key };
  }
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';

import { App, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { BATCH_METRICS } from '../../lambda/adapters/batch-metric-names';
import { loadConfig, type PipelineConfig } from '../../lib/config';
import { CATALOG_TABLES, JSON_SERDE, rawColumns } from '../../lib/constructs/data-lake-catalog';
import { WINDOW_TABLE_OPERATIONS } from '../../lib/constructs/pipeline-monitoring';
import { HIVE_TIME_PARTITIONS, PipelineStack, STABLE_LOGICAL_IDS } from '../../lib/stacks/pipeline-stack';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const readSpec = (p: string) => readFileSync(path.resolve(REPO_ROOT, p), 'utf8');
const CDK_JSON_CONTEXT = JSON.parse(readFileSync(path.join(REPO_ROOT, 'cdk.json'), 'utf8')).context as Record<string, unknown>;

/** Unbundled syntheses (esbuild is exercised by pipeline-stack.test.ts); each is shared by the tests below. */
function synth(raw: Record<string, unknown>) {
  const config = loadConfig(raw, readSpec);
  const app = new App({ context: { ...CDK_JSON_CONTEXT, 'aws:cdk:bundling-stacks': [] } });
  const stack = new PipelineStack(app, `Ops-${config.stage}`, { config });
  // As in bin/app.ts: an unacknowledged cdk-nag finding makes synthesis throw.
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { config, stack, template: Template.fromStack(stack) };
}

const dev = synth({});
/** Production-like: customer-managed key, created alarm topic with an e-mail subscription, custom thresholds. */
const prod = synth({
  stage: 'prod',
  encryptionKey: 'customer-managed',
  alarmEmail: 'oncall@example.com',
  iteratorAgeAlarmMinutes: '10',
  iteratorAgeAlarmPeriods: '5',
  badRecordsAlarmThreshold: '7',
  deliveryFreshnessAlarmSeconds: '1200',
  rawExpirationDays: '400',
  resultsExpirationDays: '730',
  errorsExpirationDays: '30',
  lateExpirationDays: '60',
  metricsNamespace: 'Team/Pipeline',
});
const EXISTING_TOPIC = 'arn:aws:sns:us-east-1:123456789012:oncall';
const existingTopic = synth({ stage: 'qa', alarmTopicArn: EXISTING_TOPIC, glueCatalog: 'false' });

type Resource = { Type: string; Properties?: any; DeletionPolicy?: string };
type Statement = { Effect: string; Action: string | string[]; Resource?: unknown; Principal?: any; Condition?: any };
const asArray = <T>(v: T | T[]): T[] => (Array.isArray(v) ? v : [v]);
const resources = (t: Template) => (t.toJSON() as { Resources: Record<string, Resource> }).Resources;
const getAtt = (id: string, attr = 'Arn') => ({ 'Fn::GetAtt': [id, attr] });

function only(t: Template, type: string, filter: (r: Resource) => boolean = () => true): { id: string; resource: Resource } {
  const entries = Object.entries(resources(t)).filter(([, r]) => r.Type === type && filter(r));
  assert.equal(entries.length, 1, `exactly one ${type}`);
  return { id: entries[0]![0], resource: entries[0]![1] };
}

/** The alarm created by PipelineMonitoring under construct id `id` (logical IDs are `Monitoring<id><hash>`). */
function alarm(t: Template, id: string): any {
  const entries = Object.entries(resources(t)).filter(
    ([logicalId, r]) => r.Type === 'AWS::CloudWatch::Alarm' && new RegExp(`^Monitoring${id}[0-9A-F]{8}$`).test(logicalId),
  );
  assert.equal(entries.length, 1, `alarm ${id}`);
  return entries[0]![1].Properties;
}

const aggregatorId = (t: Template) =>
  only(t, 'AWS::Lambda::Function', (r) => r.Properties.Environment?.Variables?.POWERTOOLS_SERVICE_NAME === 'aggregator').id;
const deliveryId = (t: Template, type: 'DirectPut' | 'KinesisStreamAsSource') =>
  only(t, 'AWS::KinesisFirehose::DeliveryStream', (r) => r.Properties.DeliveryStreamType === type).id;
const queueId = (t: Template) => only(t, 'AWS::SQS::Queue').id;

/** What each alarm must watch: namespace, metric, dimensions, statistic, period, threshold and comparison. */
function expectedAlarms(t: Template, config: PipelineConfig) {
  const fn = { Name: 'FunctionName', Value: { Ref: aggregatorId(t) } };
  const closer = {
    Name: 'FunctionName',
    Value: { Ref: only(t, 'AWS::Lambda::Function', (r) => r.Properties.Environment?.Variables?.POWERTOOLS_SERVICE_NAME === 'closer').id },
  };
  const stream = { Name: 'StreamName', Value: { Ref: STABLE_LOGICAL_IDS.stream } };
  const table = { Name: 'TableName', Value: { Ref: STABLE_LOGICAL_IDS.windowTable } };
  const iteratorMs = config.iteratorAgeAlarmMinutes * 60_000;
  const periods = config.iteratorAgeAlarmPeriods;
  const alarms: Record<string, object> = {
    AggregatorIteratorAge: { Namespace: 'AWS/Lambda', MetricName: 'IteratorAge', Dimensions: [fn], Statistic: 'Maximum', Period: 60, Threshold: iteratorMs, ComparisonOperator: 'GreaterThanThreshold', EvaluationPeriods: periods, DatapointsToAlarm: periods },
    StreamIteratorAge: { Namespace: 'AWS/Kinesis', MetricName: 'GetRecords.IteratorAgeMilliseconds', Dimensions: [stream], Statistic: 'Maximum', Period: 60, Threshold: iteratorMs, ComparisonOperator: 'GreaterThanThreshold', EvaluationPeriods: periods },
    AggregatorErrors: { Namespace: 'AWS/Lambda', MetricName: 'Errors', Dimensions: [fn], Statistic: 'Sum', Period: 300, Threshold: 0, ComparisonOperator: 'GreaterThanThreshold' },
    CloserErrors: { Namespace: 'AWS/Lambda', MetricName: 'Errors', Dimensions: [closer], Statistic: 'Sum', Period: 300, Threshold: 0, ComparisonOperator: 'GreaterThanThreshold' },
    AggregatorThrottles: { Namespace: 'AWS/Lambda', MetricName: 'Throttles', Dimensions: [fn], Statistic: 'Sum', Period: 300, Threshold: 0, ComparisonOperator: 'GreaterThanThreshold' },
    FailureQueueDepth: { Namespace: 'AWS/SQS', MetricName: 'ApproximateNumberOfMessagesVisible', Dimensions: [{ Name: 'QueueName', Value: getAtt(queueId(t), 'QueueName') }], Statistic: 'Maximum', Period: 60, Threshold: 0, ComparisonOperator: 'GreaterThanThreshold' },
    BadRecords: { Namespace: config.metricsNamespace, MetricName: BATCH_METRICS.badRecords, Dimensions: [{ Name: 'service', Value: 'aggregator' }], Statistic: 'Sum', Period: 300, Threshold: config.badRecordsAlarmThreshold, ComparisonOperator: 'GreaterThanThreshold' },
    LostRecords: { Namespace: config.metricsNamespace, MetricName: BATCH_METRICS.lostRanges, Dimensions: [{ Name: 'service', Value: 'aggregator' }], Statistic: 'Sum', Threshold: 0, ComparisonOperator: 'GreaterThanThreshold' },
    StreamReadThrottles: { Namespace: 'AWS/Kinesis', MetricName: 'ReadProvisionedThroughputExceeded', Dimensions: [stream], Statistic: 'Sum', Period: 60, Threshold: 0, EvaluationPeriods: 3, DatapointsToAlarm: 3 },
    StreamWriteThrottles: { Namespace: 'AWS/Kinesis', MetricName: 'WriteProvisionedThroughputExceeded', Dimensions: [stream], Statistic: 'Sum', Period: 60, Threshold: 0, EvaluationPeriods: 3 },
  };
  for (const [label, type] of [['Results', 'DirectPut'], ['Raw', 'KinesisStreamAsSource']] as const) {
    const dim = [{ Name: 'DeliveryStreamName', Value: { Ref: deliveryId(t, type) } }];
    alarms[`${label}DeliveryFreshness`] = { Namespace: 'AWS/Firehose', MetricName: 'DeliveryToS3.DataFreshness', Dimensions: dim, Statistic: 'Maximum', Period: 300, Threshold: config.deliveryFreshnessAlarmSeconds, ComparisonOperator: 'GreaterThanThreshold' };
    alarms[`${label}DeliverySuccess`] = { Namespace: 'AWS/Firehose', MetricName: 'DeliveryToS3.Success', Dimensions: dim, Statistic: 'Average', Period: 300, Threshold: 1, ComparisonOperator: 'LessThanThreshold' };
  }
  for (const op of WINDOW_TABLE_OPERATIONS) {
    alarms[`WindowTableThrottles${op}`] = { Namespace: 'AWS/DynamoDB', MetricName: 'ThrottledRequests', Dimensions: Match.arrayEquals([{ Name: 'Operation', Value: op }, table]), Statistic: 'Sum', Period: 300, Threshold: 0, ComparisonOperator: 'GreaterThanThreshold' };
  }
  return alarms;
}

describe('alarms', () => {
  for (const [name, s] of [['default', dev], ['production-like', prod]] as const) {
    test(`${name}: each alarm watches the right metric with its namespace's dimension and threshold`, () => {
      const expected = expectedAlarms(s.template, s.config);
      for (const [id, props] of Object.entries(expected)) {
        const actual = alarm(s.template, id);
        assert.ok(Match.objectLike(props).test(actual).isSuccess, `${id}: ${JSON.stringify(actual)}`);
        assert.equal(actual.TreatMissingData, 'notBreaching', id);
        assert.match(actual.AlarmDescription, /Runbook: docs\/operations\.md#/, id);
      }
      s.template.resourceCountIs('AWS::CloudWatch::Alarm', Object.keys(expected).length);
    });
  }

  test('no alarm uses metric math or lacks dimensions (the emulator and CloudWatch both need a plain metric)', () => {
    for (const r of Object.values(resources(dev.template)).filter((x) => x.Type === 'AWS::CloudWatch::Alarm')) {
      assert.equal(r.Properties.Metrics, undefined);
      assert.ok(r.Properties.MetricName && r.Properties.Namespace);
      assert.ok(Array.isArray(r.Properties.Dimensions) && r.Properties.Dimensions.length > 0, r.Properties.MetricName);
    }
  });

  test('the EMF alarm reads the namespace and service the function publishes with', () => {
    for (const s of [dev, prod]) {
      const fn = resources(s.template)[aggregatorId(s.template)]!.Properties.Environment.Variables;
      const bad = alarm(s.template, 'BadRecords');
      assert.equal(bad.Namespace, fn.POWERTOOLS_METRICS_NAMESPACE);
      assert.deepEqual(bad.Dimensions, [{ Name: 'service', Value: fn.POWERTOOLS_SERVICE_NAME }]);
    }
    assert.equal(prod.config.metricsNamespace, 'Team/Pipeline');
  });

  test('without a topic configured, alarms have no actions', () => {
    for (const r of Object.values(resources(dev.template)).filter((x) => x.Type === 'AWS::CloudWatch::Alarm')) {
      assert.equal(r.Properties.AlarmActions, undefined);
    }
    dev.template.resourceCountIs('AWS::SNS::Topic', 0);
  });

  test('with an existing topic ARN, every alarm notifies it on ALARM and OK', () => {
    existingTopic.template.resourceCountIs('AWS::SNS::Topic', 0);
    for (const r of Object.values(resources(existingTopic.template)).filter((x) => x.Type === 'AWS::CloudWatch::Alarm')) {
      assert.deepEqual(r.Properties.AlarmActions, [EXISTING_TOPIC]);
      assert.deepEqual(r.Properties.OKActions, [EXISTING_TOPIC]);
    }
    assert.equal((existingTopic.template.toJSON().Outputs as any).AlarmTopicArn.Value, EXISTING_TOPIC);
  });

  test('a created topic is KMS-encrypted with a rotated key CloudWatch may use, TLS-only, and subscribed', () => {
    const topic = only(prod.template, 'AWS::SNS::Topic');
    const keyId = topic.resource.Properties.KmsMasterKeyId['Fn::GetAtt'][0] as string;
    const key = resources(prod.template)[keyId]!;
    assert.equal(key.Properties.EnableKeyRotation, true);
    const cwKey = (key.Properties.KeyPolicy.Statement as Statement[]).find((s) => s.Principal?.Service === 'cloudwatch.amazonaws.com');
    assert.deepEqual(asArray(cwKey!.Action).sort(), ['kms:Decrypt', 'kms:GenerateDataKey']);
    prod.template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'oncall@example.com', TopicArn: { Ref: topic.id } });
    const policy = only(prod.template, 'AWS::SNS::TopicPolicy').resource.Properties.PolicyDocument.Statement as Statement[];
    assert.ok(policy.some((s) => s.Effect === 'Deny' && s.Condition?.Bool?.['aws:SecureTransport'] === 'false'));
    const publish = policy.find((s) => s.Effect === 'Allow' && s.Principal?.Service === 'cloudwatch.amazonaws.com');
    assert.deepEqual(publish?.Action, 'sns:Publish');
    assert.deepEqual(publish?.Resource, { Ref: topic.id });
    for (const r of Object.values(resources(prod.template)).filter((x) => x.Type === 'AWS::CloudWatch::Alarm')) {
      assert.deepEqual(r.Properties.AlarmActions, [{ Ref: topic.id }]);
    }
  });
});

describe('dashboard', () => {
  test('one dashboard, generated name, showing every alarm and the pipeline metrics', () => {
    const { id, resource } = only(dev.template, 'AWS::CloudWatch::Dashboard');
    assert.equal(resource.Properties.DashboardName, undefined);
    const body = JSON.stringify(resource.Properties.DashboardBody);
    const alarmIds = Object.entries(resources(dev.template)).filter(([, r]) => r.Type === 'AWS::CloudWatch::Alarm').map(([k]) => k);
    for (const alarmId of alarmIds) assert.ok(body.includes(alarmId), alarmId);
    for (const metric of [...Object.values(BATCH_METRICS), 'IteratorAge', 'GetRecords.IteratorAgeMilliseconds', 'DeliveryToS3.DataFreshness', 'ThrottledRequests']) {
      assert.ok(body.includes(metric), metric);
    }
    assert.deepEqual((dev.template.toJSON().Outputs as any).DashboardName.Value, { Ref: id });
  });
});

describe('encryption keys', () => {
  test('default: AWS-managed keys only, no KMS key resource and no KMS permissions', () => {
    dev.template.resourceCountIs('AWS::KMS::Key', 0);
    const statements = Object.values(resources(dev.template))
      .filter((r) => r.Type === 'AWS::IAM::Policy')
      .flatMap((r) => r.Properties.PolicyDocument.Statement as Statement[]);
    assert.ok(!statements.some((s) => asArray(s.Action).some((a) => a.startsWith('kms:'))));
  });

  test('customer-managed: one rotated key, pinned, encrypting stream, queue, bucket and table', () => {
    const key = resources(prod.template)[STABLE_LOGICAL_IDS.dataKey]!;
    assert.equal(key.Type, 'AWS::KMS::Key');
    assert.equal(key.Properties.EnableKeyRotation, true);
    assert.equal(key.DeletionPolicy, 'Retain');
    const keyArn = getAtt(STABLE_LOGICAL_IDS.dataKey);
    prod.template.hasResourceProperties('AWS::Kinesis::Stream', { StreamEncryption: { EncryptionType: 'KMS', KeyId: keyArn } });
    prod.template.hasResourceProperties('AWS::DynamoDB::Table', { SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: keyArn } });
    prod.template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          { BucketKeyEnabled: true, ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: keyArn } },
        ],
      },
    });
    prod.template.hasResourceProperties('AWS::SQS::Queue', { KmsMasterKeyId: keyArn, SqsManagedSseEnabled: Match.absent() });
  });

  test('customer-managed: each role gets exactly the key actions its service needs, on that key only', () => {
    const json = resources(prod.template);
    const keyActionsOf = (roleId: string) => {
      const statements = Object.values(json)
        .filter((r) => r.Type === 'AWS::IAM::Policy' && r.Properties.Roles.some((x: { Ref: string }) => x.Ref === roleId))
        .flatMap((r) => r.Properties.PolicyDocument.Statement as Statement[])
        .filter((s) => asArray(s.Action).some((a) => a.startsWith('kms:')));
      for (const s of statements) assert.deepEqual(s.Resource, getAtt(STABLE_LOGICAL_IDS.dataKey));
      return [...new Set(statements.flatMap((s) => asArray(s.Action)))].sort();
    };
    const roleOf = (logicalId: string) => json[logicalId]!.Properties.Role?.['Fn::GetAtt']?.[0] as string;
    // Stream reads and queue sends (Decrypt, GenerateDataKey), table access (+ Encrypt, DescribeKey), sink writes.
    assert.deepEqual(keyActionsOf(roleOf(aggregatorId(prod.template))), ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey']);
    for (const type of ['DirectPut', 'KinesisStreamAsSource'] as const) {
      const roleId = json[deliveryId(prod.template, type)]!.Properties.ExtendedS3DestinationConfiguration.RoleARN['Fn::GetAtt'][0];
      assert.deepEqual(keyActionsOf(roleId), ['kms:Decrypt', 'kms:GenerateDataKey']);
    }
  });

  test('no IAM statement anywhere has a wildcard action, KMS included', () => {
    for (const s of [dev, prod, existingTopic]) {
      for (const r of Object.values(resources(s.template)).filter((x) => x.Type === 'AWS::IAM::Policy')) {
        for (const st of r.Properties.PolicyDocument.Statement as Statement[]) {
          for (const a of asArray(st.Action)) assert.ok(!a.includes('*'), `${a} in ${s.config.stage}`);
        }
      }
    }
  });

  test('cdk-nag: zero unacknowledged findings with the customer-managed key and created topic', () => {
    const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(prod.stack);
    assert.deepEqual(report.violations, []);
  });
});

describe('stage-aware protection', () => {
  test('prod: termination protection, retained stateful resources, versioned bucket', () => {
    assert.equal(prod.stack.terminationProtection, true);
    prod.template.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Retain', Properties: Match.objectLike({ VersioningConfiguration: { Status: 'Enabled' } }) });
    prod.template.hasResource('AWS::Kinesis::Stream', { DeletionPolicy: 'Retain' });
  });

  test('dev: no termination protection, destroyable, unversioned', () => {
    assert.equal(dev.stack.terminationProtection, false);
    dev.template.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Delete', Properties: Match.objectLike({ VersioningConfiguration: Match.absent() }) });
  });
});

describe('S3 lifecycle', () => {
  const rules = (t: Template) =>
    only(t, 'AWS::S3::Bucket').resource.Properties.LifecycleConfiguration.Rules as { Id: string; Prefix?: string; [k: string]: unknown }[];
  const byPrefix = (t: Template, prefix: string) => rules(t).find((r) => r.Prefix === prefix);

  test('defaults: raw to STANDARD_IA at 30 d and GLACIER_IR at 90 d, kept; errors and late data expire after 90 d', () => {
    assert.deepEqual(byPrefix(dev.template, 'raw/'), {
      Id: 'raw-lifecycle',
      Prefix: 'raw/',
      Status: 'Enabled',
      Transitions: [
        { StorageClass: 'STANDARD_IA', TransitionInDays: 30 },
        { StorageClass: 'GLACIER_IR', TransitionInDays: 90 },
      ],
    });
    for (const prefix of ['errors/', 'late/', 'raw-errors/', 'results-errors/']) {
      assert.equal(byPrefix(dev.template, prefix)?.ExpirationInDays, 90, prefix);
    }
    assert.equal(byPrefix(dev.template, 'results/'), undefined, 'results are kept by default');
    assert.ok(rules(dev.template).some((r) => (r.AbortIncompleteMultipartUpload as any)?.DaysAfterInitiation === 1));
    assert.ok(!rules(dev.template).some((r) => r.NoncurrentVersionExpiration), 'no versions to expire when unversioned');
  });

  test('configured expiry days, and noncurrent versions expire when versioned', () => {
    assert.equal(byPrefix(prod.template, 'raw/')?.ExpirationInDays, 400);
    assert.equal(byPrefix(prod.template, 'results/')?.ExpirationInDays, 730);
    assert.equal(byPrefix(prod.template, 'errors/')?.ExpirationInDays, 30);
    assert.equal(byPrefix(prod.template, 'late/')?.ExpirationInDays, 60);
    assert.ok(rules(prod.template).some((r) => (r.NoncurrentVersionExpiration as any)?.NoncurrentDays === 30));
  });
});

describe('Glue Data Catalog', () => {
  const tables = () => Object.values(resources(dev.template)).filter((r) => r.Type === 'AWS::Glue::Table').map((r) => r.Properties);
  const tableNamed = (name: string) => tables().find((t) => t.TableInput.Name === name)!;
  const bucketLocation = (suffix: string) => ({ 'Fn::Join': ['', ['s3://', { Ref: STABLE_LOGICAL_IDS.bucket }, `/${suffix}`]] });

  test('a database named from the stack, pinned, output, and four tables in it', () => {
    const db = resources(dev.template)[STABLE_LOGICAL_IDS.glueDatabase]!;
    assert.equal(db.Type, 'AWS::Glue::Database');
    assert.equal(db.Properties.DatabaseInput.Name, 'windowedpipeline_dev');
    assert.deepEqual(db.Properties.CatalogId, { Ref: 'AWS::AccountId' });
    assert.equal((dev.template.toJSON().Outputs as any).GlueDatabaseName.Value, 'windowedpipeline_dev');
    assert.deepEqual(tables().map((t) => t.TableInput.Name).sort(), Object.values(CATALOG_TABLES).sort());
    for (const t of tables()) {
      assert.equal(t.DatabaseName, 'windowedpipeline_dev');
      assert.equal(t.TableInput.TableType, 'EXTERNAL_TABLE');
      assert.equal(t.TableInput.StorageDescriptor.SerdeInfo.SerializationLibrary, JSON_SERDE);
      assert.equal(t.TableInput.StorageDescriptor.SerdeInfo.Parameters['ignore.malformed.json'], 'true');
      assert.equal(t.TableInput.Parameters['projection.enabled'], 'true');
    }
  });

  test("raw and results: hourly projection whose location template matches Firehose's prefix", () => {
    // The same layout as HIVE_TIME_PARTITIONS with each !{timestamp:...} replaced by its partition column.
    const hive = HIVE_TIME_PARTITIONS.replace(/(\w+)=!\{timestamp:\w+\}/g, (_m, col: string) => `${col}=\${${col}}`);
    assert.equal(hive, 'year=${year}/month=${month}/day=${day}/hour=${hour}/');
    for (const [name, prefix] of [[CATALOG_TABLES.raw, 'raw/'], [CATALOG_TABLES.results, 'results/']] as const) {
      const input = tableNamed(name).TableInput;
      assert.deepEqual(input.PartitionKeys.map((k: { Name: string }) => k.Name), ['year', 'month', 'day', 'hour']);
      assert.deepEqual(input.Parameters['storage.location.template'], bucketLocation(`${prefix}${hive}`));
      assert.deepEqual(input.StorageDescriptor.Location, bucketLocation(prefix));
      assert.equal(input.Parameters['projection.month.digits'], '2');
      assert.equal(input.Parameters['projection.hour.range'], '0,23');
      assert.equal(input.Parameters.compressionType, 'gzip');
    }
  });

  test('errors and late: daily dt= date projection up to today', () => {
    for (const [name, prefix] of [[CATALOG_TABLES.errors, 'errors/'], [CATALOG_TABLES.late, 'late/']] as const) {
      const input = tableNamed(name).TableInput;
      assert.deepEqual(input.PartitionKeys.map((k: { Name: string }) => k.Name), ['dt']);
      assert.equal(input.Parameters['projection.dt.type'], 'date');
      assert.equal(input.Parameters['projection.dt.format'], 'yyyy-MM-dd');
      assert.match(input.Parameters['projection.dt.range'], /^\d{4}-\d{2}-\d{2},NOW$/);
      assert.deepEqual(input.Parameters['storage.location.template'], bucketLocation(`${prefix}dt=\${dt}/`));
    }
  });

  test('columns: results and sink entries by their JSON fields, raw by the spec fields', () => {
    const cols = (name: string) => tableNamed(name).TableInput.StorageDescriptor.Columns.map((c: { Name: string; Type: string }) => `${c.Name}:${c.Type}`);
    assert.deepEqual(cols(CATALOG_TABLES.results), [
      'id:string', 'aggregation:string', 'key:map<string,string>', 'windowstart:string', 'windowend:string',
      'measures:map<string,double>', 'final:boolean', 'version:int',
    ]);
    assert.ok(cols(CATALOG_TABLES.errors).includes('payloadbase64:string'));
    assert.ok(cols(CATALOG_TABLES.late).includes('eventtime:string'));
    assert.deepEqual(cols(CATALOG_TABLES.raw), ['ts:string', 'deviceid:string', 'temperature:double', 'site:string']);
    // Case-sensitive SerDe (map keys keep their case), with camel-case JSON keys mapped to lower-case columns.
    const serde = (name: string) => tableNamed(name).TableInput.StorageDescriptor.SerdeInfo.Parameters;
    assert.equal(serde(CATALOG_TABLES.raw)['case.insensitive'], 'false');
    assert.equal(serde(CATALOG_TABLES.raw)['mapping.deviceid'], 'deviceId');
    assert.equal(serde(CATALOG_TABLES.raw)['mapping.site'], undefined);
    assert.equal(serde(CATALOG_TABLES.results)['mapping.windowstart'], 'windowStart');
    assert.equal(serde(CATALOG_TABLES.errors)['mapping.payloadbase64'], 'payloadBase64');
    assert.equal(serde(CATALOG_TABLES.late)['mapping.eventtime'], 'eventTime');
    assert.deepEqual(
      rawColumns({
        eventTime: { field: 'meta.ts' },
        aggregations: [{ name: 'a', groupBy: ['k'], window: { type: 'tumbling', sizeSeconds: 60 }, allowedLatenessSeconds: 0, measures: [{ name: 's', op: 'sum', field: 'k' }] }],
      } as never),
      [{ name: 'meta', type: 'string' }, { name: 'k', type: 'string' }],
    );
  });

  test('the raw archive is newline-delimited (Firehose appends the delimiter); results are already', () => {
    const raw = resources(dev.template)[deliveryId(dev.template, 'KinesisStreamAsSource')]!.Properties.ExtendedS3DestinationConfiguration;
    assert.deepEqual(raw.ProcessingConfiguration, { Enabled: true, Processors: [{ Type: 'AppendDelimiterToRecord' }] });
    const results = resources(dev.template)[deliveryId(dev.template, 'DirectPut')]!.Properties.ExtendedS3DestinationConfiguration;
    assert.equal(results.ProcessingConfiguration, undefined);
  });

  test('glueCatalog=false leaves the catalog out', () => {
    existingTopic.template.resourceCountIs('AWS::Glue::Database', 0);
    existingTopic.template.resourceCountIs('AWS::Glue::Table', 0);
    assert.equal((existingTopic.template.toJSON().Outputs as any).GlueDatabaseName, undefined);
  });
});

import { readFileSync } from 'node:fs';
import * as path from 'node:path';

import { App, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { BATCH_METRICS } from '../../lambda/contract/metric-names';
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
  expect(entries.length).toBe(1);
  return { id: entries[0][0], resource: entries[0][1] };
}

/** The alarm created by PipelineMonitoring under construct id `id` (logical IDs are `Monitoring<id><hash>`). */
function alarm(t: Template, id: string): any {
  const entries = Object.entries(resources(t)).filter(
    ([logicalId, r]) => r.Type === 'AWS::CloudWatch::Alarm' && new RegExp(`^Monitoring${id}[0-9A-F]{8}$`).test(logicalId),
  );
  expect(entries.length).toBe(1);
  return entries[0][1].Properties;
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
        expect(Match.objectLike(props).test(actual).isSuccess).toBe(true);
        expect(actual.TreatMissingData).toBe('notBreaching');
        expect(actual.AlarmDescription).toMatch(/Runbook: docs\/operations\.md#/);
      }
      s.template.resourceCountIs('AWS::CloudWatch::Alarm', Object.keys(expected).length);
    });
  }

  test('no alarm uses metric math or lacks dimensions (the emulator and CloudWatch both need a plain metric)', () => {
    for (const r of Object.values(resources(dev.template)).filter((x) => x.Type === 'AWS::CloudWatch::Alarm')) {
      expect(r.Properties.Metrics).toBe(undefined);
      expect(r.Properties.MetricName && r.Properties.Namespace).toBeTruthy();
      expect(Array.isArray(r.Properties.Dimensions) && r.Properties.Dimensions.length > 0).toBe(true);
    }
  });

  test('the EMF alarm reads the namespace and service the function publishes with', () => {
    for (const s of [dev, prod]) {
      const fn = resources(s.template)[aggregatorId(s.template)].Properties.Environment.Variables;
      const bad = alarm(s.template, 'BadRecords');
      expect(bad.Namespace).toBe(fn.POWERTOOLS_METRICS_NAMESPACE);
      expect(bad.Dimensions).toStrictEqual([{ Name: 'service', Value: fn.POWERTOOLS_SERVICE_NAME }]);
    }
    expect(prod.config.metricsNamespace).toBe('Team/Pipeline');
  });

  test('without a topic configured, alarms have no actions', () => {
    for (const r of Object.values(resources(dev.template)).filter((x) => x.Type === 'AWS::CloudWatch::Alarm')) {
      expect(r.Properties.AlarmActions).toBe(undefined);
    }
    dev.template.resourceCountIs('AWS::SNS::Topic', 0);
  });

  test('with an existing topic ARN, every alarm notifies it on ALARM and OK', () => {
    existingTopic.template.resourceCountIs('AWS::SNS::Topic', 0);
    for (const r of Object.values(resources(existingTopic.template)).filter((x) => x.Type === 'AWS::CloudWatch::Alarm')) {
      expect(r.Properties.AlarmActions).toStrictEqual([EXISTING_TOPIC]);
      expect(r.Properties.OKActions).toStrictEqual([EXISTING_TOPIC]);
    }
    expect((existingTopic.template.toJSON().Outputs).AlarmTopicArn.Value).toBe(EXISTING_TOPIC);
  });

  test('a created topic is KMS-encrypted with a rotated key CloudWatch may use, TLS-only, and subscribed', () => {
    const topic = only(prod.template, 'AWS::SNS::Topic');
    const keyId = topic.resource.Properties.KmsMasterKeyId['Fn::GetAtt'][0] as string;
    const key = resources(prod.template)[keyId];
    expect(key.Properties.EnableKeyRotation).toBe(true);
    const cwKey = (key.Properties.KeyPolicy.Statement as Statement[]).find((s) => s.Principal?.Service === 'cloudwatch.amazonaws.com');
    expect(asArray(cwKey!.Action).sort()).toStrictEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
    prod.template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'oncall@example.com', TopicArn: { Ref: topic.id } });
    const policy = only(prod.template, 'AWS::SNS::TopicPolicy').resource.Properties.PolicyDocument.Statement as Statement[];
    expect(policy.some((s) => s.Effect === 'Deny' && s.Condition?.Bool?.['aws:SecureTransport'] === 'false')).toBe(true);
    const publish = policy.find((s) => s.Effect === 'Allow' && s.Principal?.Service === 'cloudwatch.amazonaws.com');
    expect(publish?.Action).toStrictEqual('sns:Publish');
    expect(publish?.Resource).toStrictEqual({ Ref: topic.id });
    for (const r of Object.values(resources(prod.template)).filter((x) => x.Type === 'AWS::CloudWatch::Alarm')) {
      expect(r.Properties.AlarmActions).toStrictEqual([{ Ref: topic.id }]);
    }
  });
});

describe('dashboard', () => {
  test('one dashboard, generated name, showing every alarm and the pipeline metrics', () => {
    const { id, resource } = only(dev.template, 'AWS::CloudWatch::Dashboard');
    expect(resource.Properties.DashboardName).toBe(undefined);
    const body = JSON.stringify(resource.Properties.DashboardBody);
    const alarmIds = Object.entries(resources(dev.template)).filter(([, r]) => r.Type === 'AWS::CloudWatch::Alarm').map(([k]) => k);
    for (const alarmId of alarmIds) expect(body).toContain(alarmId);
    for (const metric of [...Object.values(BATCH_METRICS), 'IteratorAge', 'GetRecords.IteratorAgeMilliseconds', 'DeliveryToS3.DataFreshness', 'ThrottledRequests']) {
      expect(body).toContain(metric);
    }
    expect((dev.template.toJSON().Outputs).DashboardName.Value).toStrictEqual({ Ref: id });
  });
});

describe('encryption keys', () => {
  test('default: AWS-managed keys only, no KMS key resource and no KMS permissions', () => {
    dev.template.resourceCountIs('AWS::KMS::Key', 0);
    const statements = Object.values(resources(dev.template))
      .filter((r) => r.Type === 'AWS::IAM::Policy')
      .flatMap((r) => r.Properties.PolicyDocument.Statement as Statement[]);
    expect(statements.some((s) => asArray(s.Action).some((a) => a.startsWith('kms:')))).toBe(false);
  });

  test('customer-managed: one rotated key, pinned, encrypting stream, queue, bucket and table', () => {
    const key = resources(prod.template)[STABLE_LOGICAL_IDS.dataKey];
    expect(key.Type).toBe('AWS::KMS::Key');
    expect(key.Properties.EnableKeyRotation).toBe(true);
    expect(key.DeletionPolicy).toBe('Retain');
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
      for (const s of statements) expect(s.Resource).toStrictEqual(getAtt(STABLE_LOGICAL_IDS.dataKey));
      return [...new Set(statements.flatMap((s) => asArray(s.Action)))].sort();
    };
    const roleOf = (logicalId: string) => json[logicalId].Properties.Role?.['Fn::GetAtt']?.[0] as string;
    // Stream reads and queue sends (Decrypt, GenerateDataKey), table access (+ Encrypt, DescribeKey), sink writes.
    expect(keyActionsOf(roleOf(aggregatorId(prod.template)))).toStrictEqual(['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey']);
    for (const type of ['DirectPut', 'KinesisStreamAsSource'] as const) {
      const roleId = json[deliveryId(prod.template, type)].Properties.ExtendedS3DestinationConfiguration.RoleARN['Fn::GetAtt'][0];
      expect(keyActionsOf(roleId)).toStrictEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
    }
  });

  test('no IAM statement anywhere has a wildcard action, KMS included', () => {
    for (const s of [dev, prod, existingTopic]) {
      for (const r of Object.values(resources(s.template)).filter((x) => x.Type === 'AWS::IAM::Policy')) {
        for (const st of r.Properties.PolicyDocument.Statement as Statement[]) {
          for (const a of asArray(st.Action)) expect(a.includes('*')).toBe(false);
        }
      }
    }
  });

  test('cdk-nag: zero unacknowledged findings with the customer-managed key and created topic', () => {
    const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(prod.stack);
    expect(report.violations).toStrictEqual([]);
  });
});

describe('stage-aware protection', () => {
  test('prod: termination protection, retained stateful resources, versioned bucket', () => {
    expect(prod.stack.terminationProtection).toBe(true);
    prod.template.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Retain', Properties: Match.objectLike({ VersioningConfiguration: { Status: 'Enabled' } }) });
    prod.template.hasResource('AWS::Kinesis::Stream', { DeletionPolicy: 'Retain' });
  });

  test('dev: no termination protection, destroyable, unversioned', () => {
    expect(dev.stack.terminationProtection).toBe(false);
    dev.template.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Delete', Properties: Match.objectLike({ VersioningConfiguration: Match.absent() }) });
  });
});

describe('S3 lifecycle', () => {
  const rules = (t: Template) =>
    only(t, 'AWS::S3::Bucket').resource.Properties.LifecycleConfiguration.Rules as { Id: string; Prefix?: string; [k: string]: unknown }[];
  const byPrefix = (t: Template, prefix: string) => rules(t).find((r) => r.Prefix === prefix);

  test('defaults: raw to STANDARD_IA at 30 d and GLACIER_IR at 90 d, kept; errors and late data expire after 90 d', () => {
    expect(byPrefix(dev.template, 'raw/')).toStrictEqual({
      Id: 'raw-lifecycle',
      Prefix: 'raw/',
      Status: 'Enabled',
      Transitions: [
        { StorageClass: 'STANDARD_IA', TransitionInDays: 30 },
        { StorageClass: 'GLACIER_IR', TransitionInDays: 90 },
      ],
    });
    for (const prefix of ['errors/', 'late/', 'raw-errors/', 'results-errors/']) {
      expect(byPrefix(dev.template, prefix)?.ExpirationInDays).toBe(90);
    }
    expect(byPrefix(dev.template, 'results/')).toBe(undefined);
    expect(rules(dev.template).some((r) => (r.AbortIncompleteMultipartUpload as any)?.DaysAfterInitiation === 1)).toBe(true);
    expect(rules(dev.template).filter((r) => r.NoncurrentVersionExpiration !== undefined)).toStrictEqual([]);
  });

  test('configured expiry days, and noncurrent versions expire when versioned', () => {
    expect(byPrefix(prod.template, 'raw/')?.ExpirationInDays).toBe(400);
    expect(byPrefix(prod.template, 'results/')?.ExpirationInDays).toBe(730);
    expect(byPrefix(prod.template, 'errors/')?.ExpirationInDays).toBe(30);
    expect(byPrefix(prod.template, 'late/')?.ExpirationInDays).toBe(60);
    expect(rules(prod.template).some((r) => (r.NoncurrentVersionExpiration as any)?.NoncurrentDays === 30)).toBe(true);
  });
});

describe('Glue Data Catalog', () => {
  const tables = () => Object.values(resources(dev.template)).filter((r) => r.Type === 'AWS::Glue::Table').map((r) => r.Properties);
  const tableNamed = (name: string) => tables().find((t) => t.TableInput.Name === name)!;
  const bucketLocation = (suffix: string) => ({ 'Fn::Join': ['', ['s3://', { Ref: STABLE_LOGICAL_IDS.bucket }, `/${suffix}`]] });

  test('a database named from the stack, pinned, output, and four tables in it', () => {
    const db = resources(dev.template)[STABLE_LOGICAL_IDS.glueDatabase];
    expect(db.Type).toBe('AWS::Glue::Database');
    expect(db.Properties.DatabaseInput.Name).toBe('windowedpipeline_dev');
    expect(db.Properties.CatalogId).toStrictEqual({ Ref: 'AWS::AccountId' });
    expect((dev.template.toJSON().Outputs).GlueDatabaseName.Value).toBe('windowedpipeline_dev');
    expect(tables().map((t) => t.TableInput.Name).sort()).toStrictEqual(Object.values(CATALOG_TABLES).sort());
    for (const t of tables()) {
      expect(t.DatabaseName).toBe('windowedpipeline_dev');
      expect(t.TableInput.TableType).toBe('EXTERNAL_TABLE');
      expect(t.TableInput.StorageDescriptor.SerdeInfo.SerializationLibrary).toBe(JSON_SERDE);
      expect(t.TableInput.StorageDescriptor.SerdeInfo.Parameters['ignore.malformed.json']).toBe('true');
      expect(t.TableInput.Parameters['projection.enabled']).toBe('true');
    }
  });

  test("raw and results: hourly projection whose location template matches Firehose's prefix", () => {
    // The same layout as HIVE_TIME_PARTITIONS with each !{timestamp:...} replaced by its partition column.
    const hive = HIVE_TIME_PARTITIONS.replace(/(\w+)=!\{timestamp:\w+\}/g, (_m, col: string) => `${col}=\${${col}}`);
    expect(hive).toBe('year=${year}/month=${month}/day=${day}/hour=${hour}/');
    for (const [name, prefix] of [[CATALOG_TABLES.raw, 'raw/'], [CATALOG_TABLES.results, 'results/']] as const) {
      const input = tableNamed(name).TableInput;
      expect(input.PartitionKeys.map((k: { Name: string }) => k.Name)).toStrictEqual(['year', 'month', 'day', 'hour']);
      expect(input.Parameters['storage.location.template']).toStrictEqual(bucketLocation(`${prefix}${hive}`));
      expect(input.StorageDescriptor.Location).toStrictEqual(bucketLocation(prefix));
      expect(input.Parameters['projection.month.digits']).toBe('2');
      expect(input.Parameters['projection.hour.range']).toBe('0,23');
      expect(input.Parameters.compressionType).toBe('gzip');
    }
  });

  test('errors and late: daily dt= date projection up to today', () => {
    for (const [name, prefix] of [[CATALOG_TABLES.errors, 'errors/'], [CATALOG_TABLES.late, 'late/']] as const) {
      const input = tableNamed(name).TableInput;
      expect(input.PartitionKeys.map((k: { Name: string }) => k.Name)).toStrictEqual(['dt']);
      expect(input.Parameters['projection.dt.type']).toBe('date');
      expect(input.Parameters['projection.dt.format']).toBe('yyyy-MM-dd');
      expect(input.Parameters['projection.dt.range']).toMatch(/^\d{4}-\d{2}-\d{2},NOW$/);
      expect(input.Parameters['storage.location.template']).toStrictEqual(bucketLocation(`${prefix}dt=\${dt}/`));
    }
  });

  test('columns: results and sink entries by their JSON fields, raw by the spec fields', () => {
    const cols = (name: string) => tableNamed(name).TableInput.StorageDescriptor.Columns.map((c: { Name: string; Type: string }) => `${c.Name}:${c.Type}`);
    expect(cols(CATALOG_TABLES.results)).toStrictEqual([
      'id:string', 'aggregation:string', 'key:map<string,string>', 'windowstart:string', 'windowend:string',
      'measures:map<string,double>', 'topk:map<string,array<struct<value:string,count:bigint,error:bigint>>>',
      'final:boolean', 'version:int', 'sessionid:string', 'supersedes:array<string>',
    ]);
    expect(cols(CATALOG_TABLES.errors)).toContain('payloadbase64:string');
    expect(cols(CATALOG_TABLES.late)).toContain('eventtime:string');
    expect(cols(CATALOG_TABLES.raw)).toStrictEqual(['ts:string', 'deviceid:string', 'temperature:double', 'site:string']);
    // Case-sensitive SerDe (map keys keep their case), with camel-case JSON keys mapped to lower-case columns.
    const serde = (name: string) => tableNamed(name).TableInput.StorageDescriptor.SerdeInfo.Parameters;
    expect(serde(CATALOG_TABLES.raw)['case.insensitive']).toBe('false');
    expect(serde(CATALOG_TABLES.raw)['mapping.deviceid']).toBe('deviceId');
    expect(serde(CATALOG_TABLES.raw)['mapping.site']).toBe(undefined);
    expect(serde(CATALOG_TABLES.results)['mapping.windowstart']).toBe('windowStart');
    expect(serde(CATALOG_TABLES.results)['mapping.topk']).toBe('topK');
    expect(serde(CATALOG_TABLES.results)['mapping.sessionid']).toBe('sessionId');
    expect(serde(CATALOG_TABLES.errors)['mapping.payloadbase64']).toBe('payloadBase64');
    expect(serde(CATALOG_TABLES.late)['mapping.eventtime']).toBe('eventTime');
    expect(rawColumns({
        eventTime: { field: 'meta.ts' },
        aggregations: [{ name: 'a', groupBy: ['k'], window: { type: 'tumbling', sizeSeconds: 60 }, allowedLatenessSeconds: 0, measures: [{ name: 's', op: 'sum', field: 'k' }] }],
      } as never)).toStrictEqual([{ name: 'meta', type: 'string' }, { name: 'k', type: 'string' }]);
  });

  test('the raw archive is newline-delimited (Firehose appends the delimiter); results are already', () => {
    const raw = resources(dev.template)[deliveryId(dev.template, 'KinesisStreamAsSource')].Properties.ExtendedS3DestinationConfiguration;
    expect(raw.ProcessingConfiguration).toStrictEqual({ Enabled: true, Processors: [{ Type: 'AppendDelimiterToRecord' }] });
    const results = resources(dev.template)[deliveryId(dev.template, 'DirectPut')].Properties.ExtendedS3DestinationConfiguration;
    expect(results.ProcessingConfiguration).toBe(undefined);
  });

  test('glueCatalog=false leaves the catalog out', () => {
    existingTopic.template.resourceCountIs('AWS::Glue::Database', 0);
    existingTopic.template.resourceCountIs('AWS::Glue::Table', 0);
    expect((existingTopic.template.toJSON().Outputs).GlueDatabaseName).toBe(undefined);
  });
});

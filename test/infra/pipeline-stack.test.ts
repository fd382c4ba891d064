import { readFileSync } from 'node:fs';
import * as path from 'node:path';

import { App, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { loadConfig } from '../../lib/config';
import { DataLakeBucket } from '../../lib/constructs/data-lake-bucket';
import { staticPrefixRoot } from '../../lib/constructs/s3-delivery-stream';
import { HIVE_TIME_PARTITIONS, PipelineStack, STABLE_LOGICAL_IDS } from '../../lib/stacks/pipeline-stack';
import { LAZY_ADAPTERS_FILE } from '../../lambda/contract/bundle-layout';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const readSpec = (p: string) => readFileSync(path.resolve(REPO_ROOT, p), 'utf8');
/** The feature flags `cdk synth` applies from cdk.json; a bare `new App()` would synthesize a different template. */
const CDK_JSON_CONTEXT = JSON.parse(readFileSync(path.join(REPO_ROOT, 'cdk.json'), 'utf8')).context as Record<string, unknown>;

/** Builds a pipeline stack; `bundle: false` skips esbuild for syntheses that only check configuration wiring. */
function synth(raw: Record<string, unknown>, options: { bundle: boolean; nagPlugin?: boolean }) {
  const config = loadConfig(raw, readSpec);
  const context = options.bundle ? CDK_JSON_CONTEXT : { ...CDK_JSON_CONTEXT, 'aws:cdk:bundling-stacks': [] };
  const app = new App({ context });
  const stack = new PipelineStack(app, `Test-${config.stage}`, { config });
  // As in bin/app.ts: an unacknowledged cdk-nag finding makes synthesis throw.
  if (options.nagPlugin) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { config, stack, template: Template.fromStack(stack) };
}

// Synthesized once per file: the default configuration, really bundled with esbuild as `cdk synth` does.
const dflt = synth({}, { bundle: true });
const t = dflt.template;

// A second, unbundled synthesis with every setting moved off its default (the local-emulator switches included),
// to prove each value is wired through rather than coinciding with a CDK default.
const ALT_RAW = {
  stage: 'qa',
  removalPolicy: 'retain',
  autoDeleteObjects: 'false',
  streamMode: 'provisioned',
  shardCount: '3',
  retentionHours: '48',
  batchSize: '1234',
  maxBatchingWindowSeconds: '5',
  parallelizationFactor: '1',
  spec: 'specs/site-partitioned.json',
  idleCloseIntervalMinutes: '5',
  retryAttempts: '3',
  maxRecordAgeSeconds: '7200',
  firehoseErrorLogging: 'false',
  logRetentionDays: '7',
  resultsBufferSeconds: '30',
  rawBufferSeconds: '120',
  bufferSizeMiB: '16',
};
const alt = synth(ALT_RAW, { bundle: false, nagPlugin: true });

type Resource = { Type: string; Properties?: any; DeletionPolicy?: string; UpdateReplacePolicy?: string };
type Statement = { Effect: string; Action: string | string[]; Resource?: unknown; Condition?: unknown };

function deliveryStreams(template: Template) {
  const all = template.findResources('AWS::KinesisFirehose::DeliveryStream') as Record<string, Resource>;
  const find = (type: string) => {
    const entries = Object.entries(all).filter(([, r]) => r.Properties.DeliveryStreamType === type);
    expect(entries.length).toBe(1);
    return { id: entries[0][0], props: entries[0][1].Properties };
  };
  return { results: find('DirectPut'), raw: find('KinesisStreamAsSource') };
}

function onlyResource(template: Template, type: string): { id: string; resource: Resource } {
  const entries = Object.entries(template.findResources(type) as Record<string, Resource>);
  expect(entries.length).toBe(1);
  return { id: entries[0][0], resource: entries[0][1] };
}

function allStatements(template: Template): Statement[] {
  const json = template.toJSON() as { Resources: Record<string, Resource> };
  const out: Statement[] = [];
  for (const r of Object.values(json.Resources)) {
    const p = r.Properties ?? {};
    if (p.PolicyDocument) out.push(...p.PolicyDocument.Statement);
    for (const inline of p.Policies ?? []) out.push(...inline.PolicyDocument.Statement);
  }
  return out;
}

/** A pipeline function by its Powertools service name (other functions, such as auto-delete's, have none). */
function pipelineFunction(template: Template, service: string): { id: string; resource: Resource } {
  const entries = Object.entries(template.findResources('AWS::Lambda::Function') as Record<string, Resource>).filter(
    ([, r]) => r.Properties.Environment?.Variables?.POWERTOOLS_SERVICE_NAME === service,
  );
  expect(entries.length).toBe(1);
  return { id: entries[0][0], resource: entries[0][1] };
}
const aggregatorFunction = (template: Template) => pipelineFunction(template, 'aggregator');

const asArray = <T>(v: T | T[]): T[] => (Array.isArray(v) ? v : [v]);
const getAtt = (id: string, attr = 'Arn') => ({ 'Fn::GetAtt': [id, attr] });
const objectArn = (suffix: string) => ({ 'Fn::Join': ['', [getAtt(STABLE_LOGICAL_IDS.bucket), suffix]] });

describe('stable logical IDs', () => {
  test('stateful resources and the event source mapping keep pinned logical IDs', () => {
    const json = t.toJSON() as { Resources: Record<string, Resource> };
    expect(json.Resources[STABLE_LOGICAL_IDS.stream]?.Type).toBe('AWS::Kinesis::Stream');
    expect(json.Resources[STABLE_LOGICAL_IDS.windowTable]?.Type).toBe('AWS::DynamoDB::Table');
    expect(json.Resources[STABLE_LOGICAL_IDS.bucket]?.Type).toBe('AWS::S3::Bucket');
    expect(json.Resources[STABLE_LOGICAL_IDS.eventSourceMapping]?.Type).toBe('AWS::Lambda::EventSourceMapping');
  });

  test('no stateful resource has a hard-coded physical name', () => {
    t.hasResourceProperties('AWS::Kinesis::Stream', { Name: Match.absent() });
    t.hasResourceProperties('AWS::DynamoDB::Table', { TableName: Match.absent() });
    t.hasResourceProperties('AWS::S3::Bucket', { BucketName: Match.absent() });
    t.hasResourceProperties('AWS::SQS::Queue', { QueueName: Match.absent() });
    t.hasResourceProperties('AWS::Lambda::Function', { FunctionName: Match.absent() });
  });
});

describe('Kinesis stream', () => {
  test('on-demand, 24 h retention, encrypted with the AWS-managed aws/kinesis key', () => {
    t.hasResourceProperties('AWS::Kinesis::Stream', {
      StreamModeDetails: { StreamMode: 'ON_DEMAND' },
      ShardCount: Match.absent(),
      RetentionPeriodHours: 24,
      StreamEncryption: { EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis' },
    });
  });

  test('provisioned mode, shard count and retention follow the config', () => {
    alt.template.hasResourceProperties('AWS::Kinesis::Stream', {
      StreamModeDetails: { StreamMode: 'PROVISIONED' },
      ShardCount: 3,
      RetentionPeriodHours: 48,
      StreamEncryption: { EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis' },
    });
  });
});

describe('event source mapping', () => {
  test('every ESM property is set from the defaults', () => {
    t.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: getAtt(STABLE_LOGICAL_IDS.stream),
      StartingPosition: 'TRIM_HORIZON',
      BisectBatchOnFunctionError: true,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      MaximumRetryAttempts: -1,
      MaximumRecordAgeInSeconds: -1,
      ParallelizationFactor: 1,
      BatchSize: 500,
      MaximumBatchingWindowInSeconds: 1,
      DestinationConfig: { OnFailure: { Destination: getAtt(onlyResource(t, 'AWS::SQS::Queue').id) } },
      TumblingWindowInSeconds: Match.absent(),
    });
  });

  test('every ESM property follows the config', () => {
    alt.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      StartingPosition: 'TRIM_HORIZON',
      BisectBatchOnFunctionError: true,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      MaximumRetryAttempts: 3,
      MaximumRecordAgeInSeconds: 7200,
      ParallelizationFactor: 1,
      BatchSize: 1234,
      MaximumBatchingWindowInSeconds: 5,
      DestinationConfig: { OnFailure: { Destination: getAtt(onlyResource(alt.template, 'AWS::SQS::Queue').id) } },
    });
  });
});

describe('aggregator function', () => {
  const fn = aggregatorFunction(t).resource;

  test('Node.js >= 22 on ARM64 with 1024 MB and a 60 s timeout', () => {
    expect(fn.Properties.Runtime).toMatch(/^nodejs(2[2-9]|[3-9]\d)\.x$/);
    expect(fn.Properties.Architectures).toStrictEqual(['arm64']);
    expect(fn.Properties.MemorySize).toBe(1024);
    expect(fn.Properties.Timeout).toBe(60);
    expect(fn.Properties.Handler).toBe('index.handler');
  });

  test('sets exactly the contract environment variables', () => {
    const { results } = deliveryStreams(t);
    expect(fn.Properties.Environment.Variables).toStrictEqual({
      AGGREGATION_SPEC: dflt.config.aggregationSpecJson,
      WINDOW_TABLE_NAME: { Ref: STABLE_LOGICAL_IDS.windowTable },
      WINDOW_RETENTION_SECONDS: String(7 * 86_400),
      RESULTS_DELIVERY_STREAM: { Ref: results.id },
      SINK_BUCKET_NAME: { Ref: STABLE_LOGICAL_IDS.bucket },
      ERRORS_PREFIX: 'errors/',
      LATE_PREFIX: 'late/',
      NODE_OPTIONS: '--enable-source-maps --max-semi-space-size=64',
      POWERTOOLS_SERVICE_NAME: 'aggregator',
      POWERTOOLS_METRICS_NAMESPACE: 'WindowedPipeline/dev',
    });
  });

  test('logs to its own log group with the configured retention', () => {
    for (const [template, days] of [
      [t, 30],
      [alt.template, 7],
    ] as const) {
      const logGroupId = aggregatorFunction(template).resource.Properties.LoggingConfig.LogGroup.Ref as string;
      const logGroup = (template.toJSON() as { Resources: Record<string, Resource> }).Resources[logGroupId];
      expect(logGroup.Type).toBe('AWS::Logs::LogGroup');
      expect(logGroup.Properties.RetentionInDays).toBe(days);
    }
  });

  test('its role carries no AWS-managed policy', () => {
    const roleId = fn.Properties.Role['Fn::GetAtt'][0] as string;
    const role = (t.toJSON() as { Resources: Record<string, Resource> }).Resources[roleId];
    expect(role.Properties.ManagedPolicyArns).toBe(undefined);
  });
});

describe('aggregator bundle', () => {
  test("the rare paths' SDK clients are a file of their own beside the bundle, which the cold start does not compile", () => {
    const key = String(aggregatorFunction(t).resource.Properties.Code.S3Key);
    const dir = path.join((dflt.stack.node.root as App).outdir, `asset.${key.replace(/\.zip$/, '')}`);
    const bundle = readFileSync(path.join(dir, 'index.js'), 'utf8');
    const lazy = readFileSync(path.join(dir, LAZY_ADAPTERS_FILE), 'utf8');
    // The S3 sink's and the Kinesis reader's operations: in the lazy file only.
    for (const operation of ['PutObject', 'GetShardIterator']) {
      expect(lazy).toContain(operation);
      expect(bundle).not.toContain(operation);
    }
  });
});

describe('idle window closer', () => {
  const { id, resource: fn } = pipelineFunction(t, 'closer');

  test('a bundled Node.js >= 22 ARM64 function, one at a time, with the spec, table and results stream', () => {
    const { results } = deliveryStreams(t);
    expect(fn.Properties.Runtime).toMatch(/^nodejs(2[2-9]|[3-9]\d)\.x$/);
    expect(fn.Properties.Architectures).toStrictEqual(['arm64']);
    expect(fn.Properties.ReservedConcurrentExecutions).toBe(1);
    expect(fn.Properties.Environment.Variables).toStrictEqual({
      AGGREGATION_SPEC: dflt.config.aggregationSpecJson,
      WINDOW_TABLE_NAME: { Ref: STABLE_LOGICAL_IDS.windowTable },
      WINDOW_RETENTION_SECONDS: String(7 * 86_400),
      RESULTS_DELIVERY_STREAM: { Ref: results.id },
      PENDING_STALE_AFTER_MS: String(2 * aggregatorFunction(t).resource.Properties.Timeout * 1000),
      LANE_IDLE_TIMEOUT_MS: String(dflt.config.laneIdleTimeoutSeconds * 1000),
      NODE_OPTIONS: '--enable-source-maps',
      POWERTOOLS_SERVICE_NAME: 'closer',
    });
  });

  test('an EventBridge schedule invokes it at the configured interval', () => {
    for (const [template, fnId, rate] of [
      [t, id, 'rate(1 minute)'],
      [alt.template, pipelineFunction(alt.template, 'closer').id, 'rate(5 minutes)'],
    ] as const) {
      template.hasResourceProperties('AWS::Events::Rule', {
        ScheduleExpression: rate,
        State: 'ENABLED',
        Targets: [Match.objectLike({ Arn: getAtt(fnId) })],
      });
      template.hasResourceProperties('AWS::Lambda::Permission', {
        Action: 'lambda:InvokeFunction',
        Principal: 'events.amazonaws.com',
        FunctionName: getAtt(fnId),
      });
    }
  });

  test('its role writes the window table and the results stream, and nothing in S3 or SQS', () => {
    const roleId = fn.Properties.Role['Fn::GetAtt'][0];
    const json = t.toJSON() as { Resources: Record<string, Resource> };
    const actions = Object.values(json.Resources)
      .filter((r) => r.Type === 'AWS::IAM::Policy' && r.Properties.Roles.some((x: { Ref: string }) => x.Ref === roleId))
      .flatMap((r) => r.Properties.PolicyDocument.Statement as Statement[])
      .flatMap((st) => asArray(st.Action));
    expect(actions).toEqual(expect.arrayContaining(['dynamodb:UpdateItem', 'dynamodb:Query']));
    expect(actions).toContain('firehose:PutRecordBatch');
    expect(actions.some((a) => a.startsWith('s3:') || a.startsWith('sqs:'))).toBe(false);
  });
});

describe('window-state table', () => {
  test('pk/sk keys, pending GSI, TTL, PITR, on-demand, AWS-managed KMS encryption', () => {
    t.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: Match.arrayWith([
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
        { AttributeName: 'pendingAgg', AttributeType: 'S' },
        { AttributeName: 'fireAt', AttributeType: 'N' },
      ]),
      GlobalSecondaryIndexes: [
        {
          IndexName: 'pending',
          KeySchema: [
            { AttributeName: 'pendingAgg', KeyType: 'HASH' },
            { AttributeName: 'fireAt', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'KEYS_ONLY' },
        },
      ],
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      BillingMode: 'PAY_PER_REQUEST',
      SSESpecification: { SSEEnabled: true },
    });
  });

  test('destroyed with a dev stage, retained and deletion-protected when retained', () => {
    t.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Delete', Properties: Match.objectLike({ DeletionProtectionEnabled: Match.absent() }) });
    alt.template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: Match.objectLike({ DeletionProtectionEnabled: true }),
    });
  });
});

describe('data-lake bucket', () => {
  test('public access blocked, SSE-S3, multipart uploads aborted after a day', () => {
    t.hasResourceProperties('AWS::S3::Bucket', {
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 }, Status: 'Enabled' }),
        ]),
      },
    });
  });

  test('the bucket policy denies every non-TLS request', () => {
    t.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: STABLE_LOGICAL_IDS.bucket },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Principal: { AWS: '*' },
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });

  test('objects are auto-deleted only when configured (and the custom resource disappears otherwise)', () => {
    t.resourceCountIs('Custom::S3AutoDeleteObjects', 1);
    t.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Delete' });
    alt.template.resourceCountIs('Custom::S3AutoDeleteObjects', 0);
    // Only the aggregator and the idle closer: no auto-delete provider function.
    alt.template.resourceCountIs('AWS::Lambda::Function', 2);
    alt.template.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Retain' });
  });

  test('auto-delete with a retained bucket is refused by the construct', () => {
    const stack = new Stack(new App(), 'Guard');
    expect(() => new DataLakeBucket(stack, 'B', { removalPolicy: RemovalPolicy.RETAIN, autoDeleteObjects: true })).toThrow(/autoDeleteObjects requires removalPolicy DESTROY/);
  });
});

describe('Firehose delivery streams', () => {
  const { results, raw } = deliveryStreams(t);
  const hive = HIVE_TIME_PARTITIONS;

  test('results: direct put, GZIP, Hive prefixes, 60 s / 5 MiB buffering, AWS-owned key', () => {
    const s3 = results.props.ExtendedS3DestinationConfiguration;
    expect(s3.BucketARN).toStrictEqual(getAtt(STABLE_LOGICAL_IDS.bucket));
    expect(s3.Prefix).toBe(`results/${hive}`);
    expect(s3.ErrorOutputPrefix).toBe(`results-errors/!{firehose:error-output-type}/${hive}`);
    expect(s3.CompressionFormat).toBe('GZIP');
    expect(s3.BufferingHints).toStrictEqual({ IntervalInSeconds: 60, SizeInMBs: 5 });
    expect(results.props.DeliveryStreamEncryptionConfigurationInput).toStrictEqual({ KeyType: 'AWS_OWNED_CMK' });
    expect(results.props.KinesisStreamSourceConfiguration).toBe(undefined);
  });

  test('raw: reads the Kinesis stream, GZIP, Hive prefixes, 300 s / 5 MiB buffering', () => {
    expect(raw.props.KinesisStreamSourceConfiguration.KinesisStreamARN).toStrictEqual(getAtt(STABLE_LOGICAL_IDS.stream));
    const s3 = raw.props.ExtendedS3DestinationConfiguration;
    expect(s3.BucketARN).toStrictEqual(getAtt(STABLE_LOGICAL_IDS.bucket));
    expect(s3.Prefix).toBe(`raw/${hive}`);
    expect(s3.ErrorOutputPrefix).toBe(`raw-errors/!{firehose:error-output-type}/${hive}`);
    expect(s3.CompressionFormat).toBe('GZIP');
    expect(s3.BufferingHints).toStrictEqual({ IntervalInSeconds: 300, SizeInMBs: 5 });
  });

  test('error logging is on by default, into log groups with retention', () => {
    for (const stream of [results, raw]) {
      const logging = stream.props.ExtendedS3DestinationConfiguration.CloudWatchLoggingOptions;
      expect(logging.Enabled).toBe(true);
      const logGroup = (t.toJSON() as { Resources: Record<string, Resource> }).Resources[logging.LogGroupName.Ref];
      expect(logGroup.Properties.RetentionInDays).toBe(30);
    }
    t.resourceCountIs('AWS::Logs::LogStream', 2);
  });

  test('error logging off (local target): explicitly disabled and no AWS::Logs::LogStream at all', () => {
    const altStreams = deliveryStreams(alt.template);
    for (const stream of [altStreams.results, altStreams.raw]) {
      expect(stream.props.ExtendedS3DestinationConfiguration.CloudWatchLoggingOptions).toStrictEqual({ Enabled: false });
    }
    alt.template.resourceCountIs('AWS::Logs::LogStream', 0);
    expect(altStreams.results.props.ExtendedS3DestinationConfiguration.BufferingHints).toStrictEqual({
      IntervalInSeconds: 30,
      SizeInMBs: 16,
    });
    expect(altStreams.raw.props.ExtendedS3DestinationConfiguration.BufferingHints).toStrictEqual({
      IntervalInSeconds: 120,
      SizeInMBs: 16,
    });
  });

  test("each Firehose role reaches only its own prefixes and, for raw, the stream", () => {
    const json = t.toJSON() as { Resources: Record<string, Resource> };
    const policyOf = (roleArn: { 'Fn::GetAtt': [string, string] }) => {
      const roleId = roleArn['Fn::GetAtt'][0];
      const policies = Object.values(json.Resources).filter(
        (r) => r.Type === 'AWS::IAM::Policy' && r.Properties.Roles.some((x: { Ref: string }) => x.Ref === roleId),
      );
      expect(policies.length).toBe(1);
      return policies[0].Properties.PolicyDocument.Statement as Statement[];
    };
    const objectResources = (statements: Statement[]) =>
      statements.filter((s) => asArray(s.Action).includes('s3:PutObject')).flatMap((s) => asArray(s.Resource));

    const resultsStatements = policyOf(results.props.ExtendedS3DestinationConfiguration.RoleARN);
    expect(new Set(objectResources(resultsStatements).map((r) => JSON.stringify(r)))).toStrictEqual(new Set([objectArn('/results/*'), objectArn('/results-errors/*')].map((r) => JSON.stringify(r))));
    const rawStatements = policyOf(raw.props.ExtendedS3DestinationConfiguration.RoleARN);
    expect(new Set(objectResources(rawStatements).map((r) => JSON.stringify(r)))).toStrictEqual(new Set([objectArn('/raw/*'), objectArn('/raw-errors/*')].map((r) => JSON.stringify(r))));
    expect(rawStatements.some((s) => asArray(s.Action).includes('kinesis:GetRecords'))).toBe(true);
    expect(resultsStatements.some((s) => asArray(s.Action).some((a) => a.startsWith('kinesis:')))).toBe(false);
    for (const s of [...resultsStatements, ...rawStatements]) {
      expect(asArray(s.Action).includes('s3:DeleteObject')).toBe(false);
    }
  });

  test('staticPrefixRoot cuts a prefix at the last "/" before the first expression', () => {
    expect(staticPrefixRoot(`raw/${hive}`)).toBe('raw/');
    expect(staticPrefixRoot('raw-errors/!{firehose:error-output-type}/x/')).toBe('raw-errors/');
    expect(staticPrefixRoot('a/b/c/')).toBe('a/b/c/');
    expect(staticPrefixRoot('!{timestamp:yyyy}/')).toBe('');
  });
});

describe('failure queue', () => {
  test('SSE-SQS encrypted, 14-day retention, TLS-only', () => {
    t.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true, MessageRetentionPeriod: 1_209_600 });
    t.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 'sqs:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });
});

describe('IAM', () => {
  for (const [name, template] of [
    ['default', t],
    ['alternative', alt.template],
  ] as const) {
    test(`${name} config: no Allow statement has a wildcard action ("*" or "service:*") or resource "*"`, () => {
      const statements = allStatements(template);
      expect(statements.length).toBeGreaterThan(5);
      for (const s of statements.filter((x) => x.Effect === 'Allow')) {
        for (const action of asArray(s.Action)) {
          expect(action !== '*' && !/^[\w-]+:\*$/.test(action)).toBe(true);
        }
        expect(asArray(s.Resource).includes('*')).toBe(false);
      }
    });
  }

  test('the aggregator gets exactly its least-privilege grants', () => {
    const fn = aggregatorFunction(t).resource;
    const roleId = fn.Properties.Role['Fn::GetAtt'][0] as string;
    const json = t.toJSON() as { Resources: Record<string, Resource> };
    const policy = Object.values(json.Resources).find(
      (r) => r.Type === 'AWS::IAM::Policy' && r.Properties.Roles.some((x: { Ref: string }) => x.Ref === roleId),
    )!;
    const own: Statement[] = policy.Properties.PolicyDocument.Statement;
    expect(own.every((s) => s.Effect === 'Allow')).toBe(true);

    const byAction = (action: string) => own.filter((s) => asArray(s.Action).includes(action));
    const { results } = deliveryStreams(t);

    expect(byAction('s3:PutObject').flatMap((s) => asArray(s.Resource))).toStrictEqual([
      objectArn('/errors/*'),
      objectArn('/late/*'),
    ]);
    expect(own.some((s) => asArray(s.Action).some((a) => a.startsWith('s3:') && a !== 's3:PutObject'))).toBe(false);

    const firehose = byAction('firehose:PutRecordBatch');
    expect(firehose.length).toBe(1);
    expect(asArray(firehose[0].Action).sort()).toStrictEqual(['firehose:PutRecord', 'firehose:PutRecordBatch']);
    expect(firehose[0].Resource).toStrictEqual(getAtt(results.id));

    const dynamo = byAction('dynamodb:UpdateItem');
    expect(dynamo.length).toBe(1);
    for (const a of ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:PutItem']) {
      expect(asArray(dynamo[0].Action)).toContain(a);
    }
    expect(asArray(dynamo[0].Action).includes('dynamodb:Scan')).toBe(false);
    expect(dynamo[0].Resource).toStrictEqual([
      getAtt(STABLE_LOGICAL_IDS.windowTable),
      { 'Fn::Join': ['', [getAtt(STABLE_LOGICAL_IDS.windowTable), '/index/pending']] },
    ]);

    const sqsSend = byAction('sqs:SendMessage');
    expect(sqsSend.length).toBe(1);
    expect(sqsSend[0].Resource).toStrictEqual(getAtt(onlyResource(t, 'AWS::SQS::Queue').id));
  });
});

describe('outputs and tags', () => {
  test('every contract output is present', () => {
    const outputs = t.toJSON().Outputs as Record<string, { Value: unknown; Export?: unknown }>;
    expect(Object.keys(outputs).sort()).toStrictEqual([
      'AggregationSpec',
      'AggregatorFunctionName',
      'BucketName',
      'DashboardName',
      'ErrorsPrefix',
      'FailureQueueUrl',
      'GlueDatabaseName',
      'IdleCloserFunctionName',
      'LatePrefix',
      'RawDeliveryStreamName',
      'RawPrefix',
      'ResultsDeliveryStreamName',
      'ResultsPrefix',
      'StreamArn',
      'StreamName',
      'WindowTableName',
    ]);
    const { results, raw } = deliveryStreams(t);
    expect(outputs.StreamName.Value).toStrictEqual({ Ref: STABLE_LOGICAL_IDS.stream });
    expect(outputs.StreamArn.Value).toStrictEqual(getAtt(STABLE_LOGICAL_IDS.stream));
    expect(outputs.WindowTableName.Value).toStrictEqual({ Ref: STABLE_LOGICAL_IDS.windowTable });
    expect(outputs.BucketName.Value).toStrictEqual({ Ref: STABLE_LOGICAL_IDS.bucket });
    expect(outputs.ResultsDeliveryStreamName.Value).toStrictEqual({ Ref: results.id });
    expect(outputs.RawDeliveryStreamName.Value).toStrictEqual({ Ref: raw.id });
    expect(outputs.FailureQueueUrl.Value).toStrictEqual({ Ref: onlyResource(t, 'AWS::SQS::Queue').id });
    expect(outputs.AggregatorFunctionName.Value).toStrictEqual({ Ref: aggregatorFunction(t).id });
    expect(outputs.IdleCloserFunctionName.Value).toStrictEqual({ Ref: pipelineFunction(t, 'closer').id });
    expect(outputs.RawPrefix.Value).toBe('raw/');
    expect(outputs.ResultsPrefix.Value).toBe('results/');
    expect(outputs.ErrorsPrefix.Value).toBe('errors/');
    expect(outputs.LatePrefix.Value).toBe('late/');
    expect(outputs.AggregationSpec.Value).toBe(dflt.config.aggregationSpecJson);
    expect(Object.values(outputs).every((o) => o.Export === undefined)).toBe(true);
  });

  test('resources are tagged with the stage', () => {
    const stageTag = (stage: string) => Match.arrayWith([{ Key: 'stage', Value: stage }]);
    for (const type of ['AWS::Kinesis::Stream', 'AWS::DynamoDB::Table', 'AWS::S3::Bucket', 'AWS::Lambda::Function', 'AWS::SQS::Queue']) {
      t.hasResourceProperties(type, { Tags: stageTag('dev') });
      alt.template.hasResourceProperties(type, { Tags: stageTag('qa') });
    }
  });
});

describe('cdk-nag AwsSolutions', () => {
  // Rule and construct path of each finding, so that a failure reads as a list of what to fix.
  const describeViolations = (violations: { ruleName: string; violatingResources: { constructPath?: string }[] }[]) =>
    violations.map((v) => `${v.ruleName} @ ${v.violatingResources.map((r) => r.constructPath).join(', ')}`);

  test('default config: zero unacknowledged errors or warnings', () => {
    const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(dflt.stack);
    expect(describeViolations(report.violations)).toStrictEqual([]);
  });

  test('alternative (local-emulator-like) config: zero unacknowledged errors or warnings', () => {
    const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(alt.stack);
    expect(describeViolations(report.violations)).toStrictEqual([]);
  });

  test('the validation plugin really fails synthesis on an unacknowledged finding (control)', () => {
    const app = new App();
    const stack = new Stack(app, 'NagControl');
    new sqs.Queue(stack, 'PlainQueue', { encryption: sqs.QueueEncryption.UNENCRYPTED });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    // The framework throws with the report (or a pointer to the report file, depending on the version).
    let message = '';
    try {
      app.synth();
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/AwsSolutions-SQS2/);
    const reportPath = /found in: (\S+validation-report\.json)/.exec(message)?.[1];
    expect(reportPath).toBeDefined();
    expect(readFileSync(reportPath!, 'utf8')).toMatch(/AwsSolutions-SQS2/);
  });
});

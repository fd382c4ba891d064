import { readFileSync } from 'node:fs';
import * as path from 'node:path';

import {
  CONFIG_KEYS,
  ConfigError,
  DEFAULT_SPEC_PATH,
  loadConfig,
  MAX_SPEC_ENV_BYTES,
  parseSettings,
  parseSpec,
  type PipelineSettings,
} from '../../lib/config';
import { thrownBy } from '../support/expect-error';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const readSpec = (p: string) => readFileSync(path.resolve(REPO_ROOT, p), 'utf8');

/** Asserts that `fn` throws a ConfigError whose message names `field` and contains each of `parts`. */
function assertConfigError(fn: () => unknown, field: string, ...parts: string[]): void {
  const e = thrownBy(fn, ConfigError);
  expect(e.fields).toContain(field);
  expect(e.message).toMatch(new RegExp(`Invalid config "${field}"`));
  for (const part of parts) expect(e.message).toContain(part);
}

describe('parseSettings defaults', () => {
  test('an empty context gives the documented defaults', () => {
    const expected: PipelineSettings = {
      stage: 'dev',
      removalPolicy: 'destroy',
      autoDeleteObjects: true,
      streamMode: 'on-demand',
      shardCount: 1,
      retentionHours: 24,
      batchSize: 500,
      maxBatchingWindowSeconds: 1,
      parallelizationFactor: 1,
      retryAttempts: -1,
      maxRecordAgeSeconds: -1,
      laneIdleTimeoutSeconds: 60,
      spec: DEFAULT_SPEC_PATH,
      firehoseErrorLogging: true,
      dynamoDbUpdateBatching: 'single',
      pendingKeySpread: 32,
      laneBuckets: 8,
      logRetentionDays: 30,
      resultsBufferSeconds: 60,
      rawBufferSeconds: 300,
      bufferSizeMiB: 5,
      idleCloseIntervalMinutes: 1,
      encryptionKey: 'aws-managed',
      bucketVersioning: false,
      noncurrentVersionExpirationDays: 30,
      rawInfrequentAccessDays: 30,
      rawGlacierDays: 90,
      rawExpirationDays: 0,
      resultsExpirationDays: 0,
      errorsExpirationDays: 90,
      lateExpirationDays: 90,
      terminationProtection: false,
      glueCatalog: true,
      glueDatabaseName: 'windowedpipeline_dev',
      metricsNamespace: 'WindowedPipeline/dev',
      iteratorAgeAlarmMinutes: 5,
      iteratorAgeAlarmPeriods: 3,
      badRecordsAlarmThreshold: 100,
      deliveryFreshnessAlarmSeconds: 900,
      createAlarmTopic: false,
    };
    expect(parseSettings({})).toStrictEqual(expected);
  });

  test('stage "prod" retains data and does not auto-delete objects by default', () => {
    const s = parseSettings({ stage: 'prod' });
    expect(s.removalPolicy).toBe('retain');
    expect(s.autoDeleteObjects).toBe(false);
  });

  test('stage "prod" turns on termination protection and bucket versioning; both can be overridden', () => {
    const prod = parseSettings({ stage: 'prod' });
    expect(prod.terminationProtection).toBe(true);
    expect(prod.bucketVersioning).toBe(true);
    const relaxed = parseSettings({ stage: 'prod', terminationProtection: 'false', bucketVersioning: 'false' });
    expect(relaxed.terminationProtection).toBe(false);
    expect(relaxed.bucketVersioning).toBe(false);
    expect(parseSettings({ terminationProtection: 'true' }).terminationProtection).toBe(true);
  });

  test('the Glue database name and metrics namespace derive from the name prefix and stage', () => {
    const s = parseSettings({ namePrefix: 'Orders-Pipeline', stage: 'qa-2' });
    expect(s.glueDatabaseName).toBe('orders_pipeline_qa_2');
    expect(s.metricsNamespace).toBe('Orders-Pipeline/qa-2');
    const explicit = parseSettings({ glueDatabaseName: 'lake', metricsNamespace: 'Team/Pipeline' });
    expect(explicit.glueDatabaseName).toBe('lake');
    expect(explicit.metricsNamespace).toBe('Team/Pipeline');
  });

  test('an explicit removalPolicy wins over the stage default', () => {
    expect(parseSettings({ stage: 'prod', removalPolicy: 'destroy' }).removalPolicy).toBe('destroy');
    expect(parseSettings({ stage: 'dev', removalPolicy: 'retain' }).removalPolicy).toBe('retain');
  });

  test('the local target can turn off auto-delete and Firehose logging', () => {
    const s = parseSettings({ autoDeleteObjects: 'false', firehoseErrorLogging: 'false' });
    expect(s.autoDeleteObjects).toBe(false);
    expect(s.firehoseErrorLogging).toBe(false);
    expect(s.removalPolicy).toBe('destroy');
  });

  test('undefined values (absent context keys) fall back to defaults', () => {
    const raw = Object.fromEntries(CONFIG_KEYS.map((k) => [k, undefined]));
    expect(parseSettings(raw).batchSize).toBe(500);
  });

  test('unknown keys are ignored', () => {
    expect(parseSettings({ '@aws-cdk/core:someFlag': true }).stage).toBe('dev');
  });

  test('CONFIG_KEYS lists every setting bin/app.ts must read from context', () => {
    // alarmTopicArn excludes alarmEmail, so the optional keys are collected from two settings.
    const settingKeys = [
      ...new Set([
        ...Object.keys(parseSettings({ namePrefix: 'X', alarmEmail: 'ops@example.com' })),
        ...Object.keys(parseSettings({ alarmTopicArn: 'arn:aws:sns:eu-west-1:123456789012:ops' })),
      ]),
    ].sort();
    expect([...CONFIG_KEYS].sort()).toStrictEqual(settingKeys);
  });
});

describe('parseSettings coercion', () => {
  test('-c strings become integers and booleans', () => {
    const s = parseSettings({
      batchSize: '1000',
      maxBatchingWindowSeconds: '0',
      retryAttempts: ' 3 ',
      firehoseErrorLogging: 'false',
      streamMode: 'provisioned',
      shardCount: '+4',
    });
    expect(s.batchSize).toBe(1000);
    expect(s.maxBatchingWindowSeconds).toBe(0);
    expect(s.retryAttempts).toBe(3);
    expect(s.firehoseErrorLogging).toBe(false);
    expect(s.shardCount).toBe(4);
  });

  test('cdk.json JSON values are accepted as they are', () => {
    const s = parseSettings({ batchSize: 1000, firehoseErrorLogging: false, logRetentionDays: 7 });
    expect(s.batchSize).toBe(1000);
    expect(s.firehoseErrorLogging).toBe(false);
    expect(s.logRetentionDays).toBe(7);
  });
});

describe('parseSettings rejects each bad field, naming it and its allowed range', () => {
  const cases: [field: string, value: unknown, expected: string][] = [
    ['batchSize', '0', 'must be an integer 1–10000 (got 0)'],
    ['batchSize', 10_001, 'must be an integer 1–10000'],
    ['batchSize', '1.5', 'must be an integer 1–10000'],
    ['batchSize', '1e3', 'must be an integer 1–10000'],
    ['batchSize', 'abc', 'must be an integer 1–10000'],
    ['batchSize', '', 'must be an integer 1–10000'],
    ['maxBatchingWindowSeconds', '-1', 'must be an integer 0–300'],
    ['maxBatchingWindowSeconds', '301', 'must be an integer 0–300'],
    ['parallelizationFactor', '0', 'must be an integer 1–10'],
    ['parallelizationFactor', '11', 'must be an integer 1–10'],
    ['retryAttempts', '-2', 'must be -1 (infinite) or an integer 0–10000'],
    ['retryAttempts', '10001', 'must be -1 (infinite) or an integer 0–10000'],
    ['maxRecordAgeSeconds', '-2', 'must be -1 (infinite) or an integer 60–604800'],
    ['maxRecordAgeSeconds', '59', 'must be -1 (infinite) or an integer 60–604800'],
    ['maxRecordAgeSeconds', '604801', 'must be -1 (infinite) or an integer 60–604800'],
    ['retentionHours', '23', 'must be an integer 24–8760'],
    ['retentionHours', '8761', 'must be an integer 24–8760'],
    ['streamMode', 'ondemand', 'must be one of "on-demand", "provisioned"'],
    ['removalPolicy', 'delete', 'must be one of "destroy", "retain"'],
    ['stage', 'Prod', 'must match'],
    ['stage', '', 'must match'],
    ['namePrefix', '1abc', 'must match'],
    ['firehoseErrorLogging', 'yes', 'must be true or false'],
    ['firehoseErrorLogging', '1', 'must be true or false'],
    ['autoDeleteObjects', 'TRUE', 'must be true or false'],
    ['logRetentionDays', '2', 'must be one of the CloudWatch Logs retention values 1, 3, 5'],
    ['logRetentionDays', 'forever', 'must be one of the CloudWatch Logs retention values'],
    ['resultsBufferSeconds', '901', 'must be an integer 0–900'],
    ['rawBufferSeconds', '-1', 'must be an integer 0–900'],
    ['bufferSizeMiB', '0', 'must be an integer 1–128'],
    ['bufferSizeMiB', '129', 'must be an integer 1–128'],
    ['spec', '', 'must be a file path'],
    ['idleCloseIntervalMinutes', '0', 'must be an integer 1–1440'],
    ['idleCloseIntervalMinutes', '1441', 'must be an integer 1–1440'],
    ['encryptionKey', 'cmk', 'must be one of "aws-managed", "customer-managed"'],
    ['bucketVersioning', 'on', 'must be true or false'],
    ['noncurrentVersionExpirationDays', '-1', 'must be an integer 0–36500'],
    ['rawInfrequentAccessDays', '36501', 'must be an integer 0–36500'],
    ['rawInfrequentAccessDays', '29', 'must be 0 (never) or at least 30'],
    ['rawGlacierDays', '1.5', 'must be an integer 0–36500'],
    ['rawGlacierDays', '59', 'at least rawInfrequentAccessDays + 30 (60)'],
    ['rawExpirationDays', '90', 'more than the last raw transition (90 days)'],
    ['resultsExpirationDays', 'never', 'must be an integer 0–36500'],
    ['errorsExpirationDays', '-5', 'must be an integer 0–36500'],
    ['lateExpirationDays', 'x', 'must be an integer 0–36500'],
    ['terminationProtection', 'yes', 'must be true or false'],
    ['glueCatalog', '0', 'must be true or false'],
    ['glueDatabaseName', 'My-Db', 'must match'],
    ['metricsNamespace', 'AWS/Lambda', 'must match'],
    ['metricsNamespace', 'has space', 'must match'],
    ['iteratorAgeAlarmMinutes', '0', 'must be an integer 1–1440'],
    ['iteratorAgeAlarmPeriods', '61', 'must be an integer 1–60'],
    ['badRecordsAlarmThreshold', '-1', 'must be an integer 0–1000000000'],
    ['deliveryFreshnessAlarmSeconds', '59', 'must be an integer 60–86400'],
    ['deliveryFreshnessAlarmSeconds', '300', 'more than the longest Firehose buffering interval (300 s)'],
    ['createAlarmTopic', 'maybe', 'must be true or false'],
    ['alarmEmail', 'ops', 'must be an e-mail address'],
    ['alarmTopicArn', 'ops-topic', 'must be an SNS topic ARN'],
    ['alarmTopicArn', 'arn:aws:sqs:us-east-1:123456789012:q', 'must be an SNS topic ARN'],
  ];
  for (const [field, value, expected] of cases) {
    test(`${field}=${JSON.stringify(value)}`, () => assertConfigError(() => parseSettings({ [field]: value }), field, expected));
  }

  test('shardCount is range-checked in provisioned mode', () => {
    assertConfigError(() => parseSettings({ streamMode: 'provisioned', shardCount: '0' }), 'shardCount', '1–500');
    assertConfigError(() => parseSettings({ streamMode: 'provisioned', shardCount: '501' }), 'shardCount', '1–500');
  });

  test('shardCount with an on-demand stream is an error, not silently ignored', () => {
    assertConfigError(() => parseSettings({ shardCount: '4' }), 'shardCount', 'streamMode is "on-demand"');
  });

  test('autoDeleteObjects cannot be combined with a retained bucket', () => {
    assertConfigError(
      () => parseSettings({ stage: 'prod', autoDeleteObjects: 'true' }),
      'autoDeleteObjects',
      'removalPolicy is "retain"',
    );
  });

  test('maxRecordAgeSeconds may not outlive the stream retention', () => {
    assertConfigError(() => parseSettings({ maxRecordAgeSeconds: '90000' }), 'maxRecordAgeSeconds', 'retentionHours');
    expect(parseSettings({ maxRecordAgeSeconds: '90000', retentionHours: '48' }).maxRecordAgeSeconds).toBe(90_000);
  });

  test('alarmTopicArn excludes a created topic, and alarmEmail needs one', () => {
    const arn = 'arn:aws:sns:us-east-1:123456789012:ops';
    assertConfigError(() => parseSettings({ alarmTopicArn: arn, createAlarmTopic: 'true' }), 'alarmTopicArn', 'cannot be combined');
    assertConfigError(() => parseSettings({ alarmTopicArn: arn, alarmEmail: 'a@b.co' }), 'alarmTopicArn', 'cannot be combined');
    assertConfigError(() => parseSettings({ alarmEmail: 'a@b.co', createAlarmTopic: 'false' }), 'alarmEmail', 'createAlarmTopic is false');
    const email = parseSettings({ alarmEmail: 'a@b.co' });
    expect(email.createAlarmTopic).toBe(true);
    expect(email.alarmEmail).toBe('a@b.co');
    const existing = parseSettings({ alarmTopicArn: arn });
    expect(existing.createAlarmTopic).toBe(false);
    expect(existing.alarmTopicArn).toBe(arn);
  });

  test('lifecycle days may be 0 (never) independently, and follow the S3 transition minimums otherwise', () => {
    const s = parseSettings({ rawInfrequentAccessDays: '0', rawGlacierDays: '30', rawExpirationDays: '31' });
    expect([s.rawInfrequentAccessDays, s.rawGlacierDays, s.rawExpirationDays]).toStrictEqual([0, 30, 31]);
    const none = parseSettings({ rawInfrequentAccessDays: '0', rawGlacierDays: '0', rawExpirationDays: '1' });
    expect(none.rawExpirationDays).toBe(1);
    assertConfigError(() => parseSettings({ rawExpirationDays: '60' }), 'rawExpirationDays', '90 days');
  });

  test('the freshness alarm must sit above the buffering intervals', () => {
    expect(parseSettings({ rawBufferSeconds: '60', deliveryFreshnessAlarmSeconds: '120' }).deliveryFreshnessAlarmSeconds).toBe(120);
    assertConfigError(
      () => parseSettings({ resultsBufferSeconds: '900', rawBufferSeconds: '60' }),
      'deliveryFreshnessAlarmSeconds',
      '(900 s)',
    );
  });

  test('several bad fields are all reported', () => {
    const e = thrownBy(() => parseSettings({ batchSize: '0', parallelizationFactor: '99' }), ConfigError);
    expect(e.fields).toEqual(expect.arrayContaining(['batchSize', 'parallelizationFactor']));
    expect(e.message).toMatch(/"batchSize"[\s\S]*\n[\s\S]*"parallelizationFactor"/);
  });
});

describe('co-partitioning', () => {
  const demo = JSON.parse(readSpec(DEFAULT_SPEC_PATH));
  const withSpec = (spec: unknown) => () => JSON.stringify(spec);

  test('parallelizationFactor above 1 needs a declared partition key', () => {
    assertConfigError(() => loadConfig({ parallelizationFactor: '2' }, withSpec(demo)), 'parallelizationFactor', 'does not declare "partitionKey"');
  });

  test('parallelizationFactor above 1 is refused even for a co-partitioned spec, with the reason', () => {
    const spec = {
      ...demo,
      partitionKey: ['site'],
      aggregations: demo.aggregations.map((a: { groupBy: string[] }) => ({ ...a, groupBy: [...new Set(['site', ...a.groupBy])] })),
    };
    expect(() => loadConfig({ parallelizationFactor: '10' }, withSpec(spec))).toThrow(/only 1 is supported.*one watermark\s+and one fence per shard/s);
  });

  test('parallelizationFactor above 1 names the aggregations whose group-by lacks the partition key', () => {
    const spec = { ...demo, partitionKey: ['deviceId'] };
    assertConfigError(() => loadConfig({ parallelizationFactor: '4' }, withSpec(spec)), 'parallelizationFactor', 'site_events_5m', 'deviceId');
  });

  test('parallelizationFactor 1 needs no partition key', () => {
    expect(loadConfig({}, withSpec(demo)).parallelizationFactor).toBe(1);
  });
});

describe('spec validation', () => {
  test('the default spec loads and is passed on as compact JSON', () => {
    const config = loadConfig({}, readSpec);
    expect(config.spec).toBe(DEFAULT_SPEC_PATH);
    expect(config.aggregationSpec.aggregations.length).toBeGreaterThan(0);
    expect(config.aggregationSpecJson).toBe(JSON.stringify(config.aggregationSpec));
    expect(config.aggregationSpecJson.includes('\n')).toBe(false);
  });

  test('a missing spec file names the spec field and the path', () => {
    assertConfigError(() => loadConfig({ spec: 'bad.json' }, readSpec), 'spec', 'cannot read "bad.json"');
  });

  test('invalid JSON names the spec field', () => {
    assertConfigError(() => parseSpec('{ nope', 'specs/x.json'), 'spec', 'specs/x.json', 'not JSON');
  });

  test('an invalid spec names the spec field and each failing spec field by path', () => {
    const text = JSON.stringify({
      eventTime: { field: 'ts' },
      aggregations: [
        {
          name: 'a',
          groupBy: ['k'],
          window: { type: 'hopping', sizeSeconds: 60, hopSeconds: 7 },
          measures: [{ name: 'n', op: 'count' }],
        },
      ],
    });
    assertConfigError(() => loadConfig({ spec: 's.json' }, () => text), 'spec', 'aggregations[0].window.hopSeconds');
  });

  test(`a spec over ${MAX_SPEC_ENV_BYTES} bytes of compact JSON fails with the limit in the message`, () => {
    const measures = Array.from({ length: 32 }, (_, i) => ({ name: `measure_${i}`, op: 'sum', field: `field_${i}` }));
    const aggregations = Array.from({ length: 3 }, (_, i) => ({
      name: `agg_${i}`,
      groupBy: ['k'],
      window: { type: 'tumbling', sizeSeconds: 60 },
      measures,
    }));
    const text = JSON.stringify({ eventTime: { field: 'ts' }, aggregations });
    expect(Buffer.byteLength(text)).toBeGreaterThan(MAX_SPEC_ENV_BYTES);
    assertConfigError(() => parseSpec(text, 'big.json'), 'spec', String(MAX_SPEC_ENV_BYTES), 'AGGREGATION_SPEC');
  });
});

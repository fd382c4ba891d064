import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
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

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const readSpec = (p: string) => readFileSync(path.resolve(REPO_ROOT, p), 'utf8');

/** Asserts that `fn` throws a ConfigError whose message names `field` and contains each of `parts`. */
function assertConfigError(fn: () => unknown, field: string, ...parts: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    assert.ok(e.fields.includes(field), `fields ${JSON.stringify(e.fields)} should include ${field}`);
    assert.match(e.message, new RegExp(`Invalid config "${field}"`));
    for (const part of parts) assert.ok(e.message.includes(part), `"${e.message}" should include "${part}"`);
    return true;
  });
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
      retryAttempts: 10,
      maxRecordAgeSeconds: 3600,
      spec: DEFAULT_SPEC_PATH,
      firehoseErrorLogging: true,
      logRetentionDays: 30,
      resultsBufferSeconds: 60,
      rawBufferSeconds: 300,
      bufferSizeMiB: 5,
      idleCloseIntervalMinutes: 1,
    };
    assert.deepEqual(parseSettings({}), expected);
  });

  test('stage "prod" retains data and does not auto-delete objects by default', () => {
    const s = parseSettings({ stage: 'prod' });
    assert.equal(s.removalPolicy, 'retain');
    assert.equal(s.autoDeleteObjects, false);
  });

  test('an explicit removalPolicy wins over the stage default', () => {
    assert.equal(parseSettings({ stage: 'prod', removalPolicy: 'destroy' }).removalPolicy, 'destroy');
    assert.equal(parseSettings({ stage: 'dev', removalPolicy: 'retain' }).removalPolicy, 'retain');
  });

  test('the local target can turn off auto-delete and Firehose logging', () => {
    const s = parseSettings({ autoDeleteObjects: 'false', firehoseErrorLogging: 'false' });
    assert.equal(s.autoDeleteObjects, false);
    assert.equal(s.firehoseErrorLogging, false);
    assert.equal(s.removalPolicy, 'destroy');
  });

  test('undefined values (absent context keys) fall back to defaults', () => {
    const raw = Object.fromEntries(CONFIG_KEYS.map((k) => [k, undefined]));
    assert.equal(parseSettings(raw).batchSize, 500);
  });

  test('unknown keys are ignored', () => {
    assert.equal(parseSettings({ '@aws-cdk/core:someFlag': true }).stage, 'dev');
  });

  test('CONFIG_KEYS lists every setting bin/app.ts must read from context', () => {
    const settingKeys = Object.keys(parseSettings({ namePrefix: 'X' })).sort();
    assert.deepEqual([...CONFIG_KEYS].sort(), settingKeys);
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
    assert.equal(s.batchSize, 1000);
    assert.equal(s.maxBatchingWindowSeconds, 0);
    assert.equal(s.retryAttempts, 3);
    assert.equal(s.firehoseErrorLogging, false);
    assert.equal(s.shardCount, 4);
  });

  test('cdk.json JSON values are accepted as they are', () => {
    const s = parseSettings({ batchSize: 1000, firehoseErrorLogging: false, logRetentionDays: 7 });
    assert.equal(s.batchSize, 1000);
    assert.equal(s.firehoseErrorLogging, false);
    assert.equal(s.logRetentionDays, 7);
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
    ['retryAttempts', '-1', 'must be an integer 0–10000'],
    ['retryAttempts', '10001', 'must be an integer 0–10000'],
    ['maxRecordAgeSeconds', '-1', 'must be an integer 60–604800'],
    ['maxRecordAgeSeconds', '59', 'must be an integer 60–604800'],
    ['maxRecordAgeSeconds', '604801', 'must be an integer 60–604800'],
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
    assert.equal(parseSettings({ maxRecordAgeSeconds: '90000', retentionHours: '48' }).maxRecordAgeSeconds, 90_000);
  });

  test('several bad fields are all reported', () => {
    assert.throws(
      () => parseSettings({ batchSize: '0', parallelizationFactor: '99' }),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.fields.includes('batchSize') &&
        e.fields.includes('parallelizationFactor') &&
        /"batchSize"[\s\S]*\n[\s\S]*"parallelizationFactor"/.test(e.message),
    );
  });
});

describe('co-partitioning', () => {
  const demo = JSON.parse(readSpec(DEFAULT_SPEC_PATH));
  const withSpec = (spec: unknown) => () => JSON.stringify(spec);

  test('parallelizationFactor above 1 needs a declared partition key', () => {
    assertConfigError(() => loadConfig({ parallelizationFactor: '2' }, withSpec(demo)), 'parallelizationFactor', 'does not declare "partitionKey"');
  });

  test('parallelizationFactor above 1 names the aggregations whose group-by lacks the partition key', () => {
    const spec = { ...demo, partitionKey: ['deviceId'] };
    assertConfigError(() => loadConfig({ parallelizationFactor: '4' }, withSpec(spec)), 'parallelizationFactor', 'site_events_5m', 'deviceId');
  });

  test('a co-partitioned spec may run batches of a shard in parallel', () => {
    const spec = {
      ...demo,
      partitionKey: ['site'],
      aggregations: demo.aggregations.map((a: { groupBy: string[] }) => ({ ...a, groupBy: [...new Set(['site', ...a.groupBy])] })),
    };
    assert.equal(loadConfig({ parallelizationFactor: '10' }, withSpec(spec)).parallelizationFactor, 10);
  });

  test('parallelizationFactor 1 needs no partition key', () => {
    assert.equal(loadConfig({}, withSpec(demo)).parallelizationFactor, 1);
  });
});

describe('spec validation', () => {
  test('the default spec loads and is passed on as compact JSON', () => {
    const config = loadConfig({}, readSpec);
    assert.equal(config.spec, DEFAULT_SPEC_PATH);
    assert.ok(config.aggregationSpec.aggregations.length > 0);
    assert.equal(config.aggregationSpecJson, JSON.stringify(config.aggregationSpec));
    assert.ok(!config.aggregationSpecJson.includes('\n'));
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
    assert.ok(Buffer.byteLength(text) > MAX_SPEC_ENV_BYTES);
    assertConfigError(() => parseSpec(text, 'big.json'), 'spec', String(MAX_SPEC_ENV_BYTES), 'AGGREGATION_SPEC');
  });
});

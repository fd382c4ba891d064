/**
 * The stack never lets the event source mapping skip a batch unless told to, and when told to, it gives the
 * aggregator what it needs to detect and repair a skipped range (issue #13).
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';

import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { loadConfig } from '../../lib/config';
import { PipelineStack } from '../../lib/stacks/pipeline-stack';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const readSpec = (p: string) => readFileSync(path.resolve(REPO_ROOT, p), 'utf8');
const CDK_JSON_CONTEXT = JSON.parse(readFileSync(path.join(REPO_ROOT, 'cdk.json'), 'utf8')).context as Record<string, unknown>;

function template(raw: Record<string, unknown>): Template {
  const config = loadConfig(raw, readSpec);
  const app = new App({ context: { ...CDK_JSON_CONTEXT, 'aws:cdk:bundling-stacks': [] } });
  return Template.fromStack(new PipelineStack(app, `Loss-${config.stage}`, { config }));
}

type Fn = { Properties: { Environment?: { Variables?: Record<string, unknown> }; Role?: unknown } };
function fnEnv(t: Template, service: string): Record<string, unknown> {
  const fns = Object.values(t.findResources('AWS::Lambda::Function') as Record<string, Fn>).filter(
    (r) => r.Properties.Environment?.Variables?.POWERTOOLS_SERVICE_NAME === service,
  );
  expect(fns).toHaveLength(1);
  return fns[0].Properties.Environment!.Variables!;
}

function mappingProps(t: Template): Record<string, unknown> {
  const maps = Object.values(t.findResources('AWS::Lambda::EventSourceMapping') as Record<string, { Properties: Record<string, unknown> }>);
  expect(maps).toHaveLength(1);
  return maps[0].Properties;
}

const dflt = template({});
const bounded = template({ stage: 'bounded', retryAttempts: '3', maxRecordAgeSeconds: '600', laneIdleTimeoutSeconds: '90' });

describe('never skip by default', () => {
  test('the mapping retries a failing batch until it succeeds, whatever its age', () => {
    const p = mappingProps(dflt);
    expect(p.MaximumRetryAttempts).toBe(-1);
    expect(p.MaximumRecordAgeInSeconds).toBe(-1);
    expect(p.BisectBatchOnFunctionError).toBe(true);
  });

  test('skip detection is off by default: no batch can be skipped, so nothing to detect', () => {
    expect(fnEnv(dflt, 'aggregator').SKIP_DETECTION).toBeUndefined();
  });

  test('an iterator-age alarm says when a shard is stuck behind a retried batch', () => {
    const alarms = Object.values(dflt.findResources('AWS::CloudWatch::Alarm') as Record<string, { Properties: Record<string, unknown> }>);
    const age = alarms.filter((a) => a.Properties.MetricName === 'IteratorAge' && a.Properties.Namespace === 'AWS/Lambda');
    expect(age).toHaveLength(1);
    expect(age[0].Properties.Threshold).toBe(5 * 60_000);
  });
});

describe('bounded retries are an opt-in', () => {
  test('the bounds reach the mapping', () => {
    const p = mappingProps(bounded);
    expect(p.MaximumRetryAttempts).toBe(3);
    expect(p.MaximumRecordAgeInSeconds).toBe(600);
  });

  test('a retry bound alone still leaves the record age infinite', () => {
    const p = mappingProps(template({ stage: 'retries', retryAttempts: '5' }));
    expect(p.MaximumRetryAttempts).toBe(5);
    expect(p.MaximumRecordAgeInSeconds).toBe(-1);
  });

  test('the aggregator detects skipped ranges, and may re-read them from the stream', () => {
    // A record-age bound can skip records unseen, which a redrive must then refuse: the aggregator is told.
    expect(fnEnv(bounded, 'aggregator').SKIP_DETECTION).toBe('age');
    expect(fnEnv(template({ stage: 'retries', retryAttempts: '5' }), 'aggregator').SKIP_DETECTION).toBe('retries');
    const json = JSON.stringify(bounded.findResources('AWS::IAM::Policy'));
    expect(json).toContain('kinesis:GetShardIterator');
    expect(json).toContain('kinesis:GetRecords');
  });
});

describe('idle closing', () => {
  test('the closer is told the lane idle timeout', () => {
    expect(fnEnv(dflt, 'closer').LANE_IDLE_TIMEOUT_MS).toBe('60000');
    expect(fnEnv(bounded, 'closer').LANE_IDLE_TIMEOUT_MS).toBe('90000');
  });

  test('a lane idle timeout within the batching window is refused', () => {
    expect(() => loadConfig({ laneIdleTimeoutSeconds: '30', maxBatchingWindowSeconds: '30' }, readSpec)).toThrow(/laneIdleTimeoutSeconds.*maxBatchingWindowSeconds/);
  });
});

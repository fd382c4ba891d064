import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ENV } from '../../lambda/contract/env';
import type { AggregationSpec } from '../../lambda/domain/spec';
import type { StackOutputs } from '../../scripts/lib/stack-outputs';
import { LOCAL_LANE_BUCKETS, LOCAL_PENDING_KEY_SPREAD, REPO_ROOT } from '../../scripts/local/local-stack';

/** The parts of an `AWS::Lambda::Function`'s properties this reads. */
interface FunctionProperties {
  readonly Environment?: { readonly Variables?: Record<string, string> };
  readonly Code?: { readonly S3Key?: string };
}

/**
 * The bundled asset of one of a deployed stack's functions (what `cdk deploy` shipped), found through its template in
 * cdk.out by the function's Powertools service name (`aggregator`, `closer`).
 */
export function bundledFunctionPath(stackName: string, service: string): string {
  const template = JSON.parse(readFileSync(join(REPO_ROOT, 'cdk.out', `${stackName}.template.json`), 'utf8')) as {
    Resources: Record<string, { Type: string; Properties: FunctionProperties }>;
  };
  const fn = Object.values(template.Resources).find(
    (r) => r.Type === 'AWS::Lambda::Function' && r.Properties.Environment?.Variables?.[ENV.serviceName] === service,
  );
  const key = String(fn?.Properties.Code?.S3Key ?? '');
  const file = join(REPO_ROOT, 'cdk.out', `asset.${key.replace(/\.zip$/, '')}`, 'index.js');
  if (!existsSync(file)) throw new Error(`no bundled ${service} at ${file}: deploy the stack first`);
  return file;
}

/**
 * Loads the handler of a bundled function, the code the emulator runs. Call it after setting the environment the
 * function reads at init.
 */
export function loadBundledHandler<H>(stackName: string, service: string): H {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the asset is CommonJS, found at run time
  return (require(bundledFunctionPath(stackName, service)) as { handler: H }).handler;
}

/**
 * The environment the stack gives the functions, built from a deployed stack's outputs, for a bundled handler run in
 * the test's process with the test's own spec; `overrides` (by variable name) add to it or replace parts of it.
 */
export function functionEnvFor(outputs: StackOutputs, spec: AggregationSpec, overrides: Record<string, string> = {}): Record<string, string> {
  return {
    [ENV.aggregationSpec]: JSON.stringify(spec),
    [ENV.windowTableName]: outputs.WindowTableName,
    [ENV.resultsDeliveryStream]: outputs.ResultsDeliveryStreamName,
    [ENV.sinkBucketName]: outputs.BucketName,
    [ENV.errorsPrefix]: outputs.ErrorsPrefix,
    [ENV.latePrefix]: outputs.LatePrefix,
    // The table layout of the local stage the e2e suite deploys, so that the deployed closer sweeps the buckets these
    // handlers file windows in. Writes stay single (the default): the fault proxy counts and fails UpdateItems and PutItems.
    [ENV.pendingKeySpread]: String(LOCAL_PENDING_KEY_SPREAD),
    [ENV.laneBuckets]: String(LOCAL_LANE_BUCKETS),
    ...overrides,
  };
}

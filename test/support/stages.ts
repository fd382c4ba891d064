/**
 * The stages the project deploys, synthesized the way `cdk synth` does (cdk.json's feature flags), for the infra
 * checks that read whole templates: cfn-lint and the normalized snapshots.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { loadConfig } from '../../lib/config';
import { PipelineStack } from '../../lib/stacks/pipeline-stack';
import { localContext } from '../../scripts/local/local-stack';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
const CDK_JSON_CONTEXT = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> }).context;

/** `-c key=value` pairs, as the CLI passes them, to the raw settings `loadConfig` reads. */
function contextArgsToRaw(args: readonly string[]): Record<string, string> {
  const raw: Record<string, string> = {};
  for (let i = 0; i < args.length; i += 2) {
    const [key, ...value] = args[i + 1].split('=');
    raw[key] = value.join('=');
  }
  return raw;
}

/** One deployable configuration: its name and the raw CDK context it is synthesized from. */
export interface Stage {
  readonly name: string;
  readonly raw: Record<string, string>;
}

/**
 * Every stage the project supports: the defaults (what `cdk deploy` to AWS gets), the local-emulator context that
 * `pipeline local up` and `npm test` deploy, and a provisioned-stream configuration with many settings off their defaults (bounded retries: the opt-in skip detection).
 */
export const STAGES: readonly Stage[] = [
  { name: 'default', raw: {} },
  { name: 'local', raw: contextArgsToRaw(localContext(undefined)) },
  {
    name: 'provisioned',
    raw: {
      stage: 'qa',
      removalPolicy: 'retain',
      autoDeleteObjects: 'false',
      streamMode: 'provisioned',
      shardCount: '3',
      retryAttempts: '10',
      maxRecordAgeSeconds: '3600',
      spec: 'specs/site-partitioned.json',
      idleCloseIntervalMinutes: '5',
    },
  },
];

/** Synthesizes a stage without bundling the handlers (asset contents do not change the template's shape). */
export function synthStage(stage: Stage): Template {
  const config = loadConfig(stage.raw, (p) => readFileSync(path.resolve(REPO_ROOT, p), 'utf8'));
  const app = new App({ context: { ...CDK_JSON_CONTEXT, 'aws:cdk:bundling-stacks': [] } });
  const stack = new PipelineStack(app, `Test-${stage.name}`, { config });
  return Template.fromStack(stack);
}

/**
 * The template with what changes on every source edit replaced by placeholders: asset hashes (64 hex digits, in S3
 * keys, asset parameters and the handlers' code locations). Logical IDs derive from construct paths and stay.
 */
export function normalizedTemplate(template: Template): unknown {
  const text = JSON.stringify(template.toJSON(), null, 1).replace(/[0-9a-f]{64}/g, '<asset-hash>');
  return JSON.parse(text) as unknown;
}

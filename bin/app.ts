#!/usr/bin/env node
/*
 * CDK entry point and the only reader of CDK context and process.env: everything else receives a validated
 * PipelineConfig. Any invalid setting stops synth with a message naming the config key.
 *
 *   npx cdk synth -c stage=prod -c streamMode=provisioned -c shardCount=4
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { CONFIG_KEYS, ConfigError, DEFAULT_NAME_PREFIX, loadConfig, type PipelineConfig } from '../lib/config';
import { PipelineStack } from '../lib/stacks/pipeline-stack';

/** Relative spec paths are resolved against the repository root, not the caller's working directory. */
const REPO_ROOT = path.resolve(__dirname, '..');

const app = new App();

let config: PipelineConfig;
try {
  // All of the context, so that a misspelt setting fails with a hint instead of being ignored.
  const raw: Record<string, unknown> = { ...Object.fromEntries(CONFIG_KEYS.map((key) => [key, undefined])), ...(app.node.getAllContext() as Record<string, unknown>) };
  config = loadConfig(raw, (specPath) => readFileSync(path.resolve(REPO_ROOT, specPath), 'utf8'));
} catch (e) {
  if (!(e instanceof ConfigError)) throw e;
  console.error(e.message);
  process.exit(1);
}

new PipelineStack(app, `${config.namePrefix ?? DEFAULT_NAME_PREFIX}-${config.stage}`, {
  config,
  // Unset without credentials, which leaves the stack environment-agnostic so synth works offline.
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  description: `Windowed streaming aggregation pipeline (${config.stage})`,
});

// cdk-nag v3 is a CDK policy-validation plugin (not an Aspect): any unacknowledged finding fails synth.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));

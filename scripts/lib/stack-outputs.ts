import { existsSync, readFileSync } from 'node:fs';

/** The stack outputs the tools and tests need, by CfnOutput id. */
export interface StackOutputs {
  readonly StreamName: string;
  readonly StreamArn: string;
  readonly WindowTableName: string;
  readonly ResultsDeliveryStreamName: string;
  readonly RawDeliveryStreamName: string;
  readonly BucketName: string;
  readonly AggregatorFunctionName: string;
  readonly IdleCloserFunctionName: string;
  readonly FailureQueueUrl: string;
  readonly RawPrefix: string;
  readonly ResultsPrefix: string;
  readonly ErrorsPrefix: string;
  readonly LatePrefix: string;
  readonly AggregationSpec: string;
}

const REQUIRED: readonly (keyof StackOutputs)[] = [
  'StreamName',
  'WindowTableName',
  'BucketName',
  'RawPrefix',
  'ResultsPrefix',
  'ErrorsPrefix',
  'LatePrefix',
  'AggregationSpec',
];

/**
 * Reads the outputs file `cdk deploy --outputs-file` writes: `{ "<stack name>": { "<output id>": "<value>" } }`.
 * With several stacks in the file, `stackName` picks one.
 */
export function readStackOutputs(file: string, stackName?: string): StackOutputs & { stackName: string } {
  if (!existsSync(file)) {
    throw new Error(`No stack outputs at ${file}. Run "npm start" (local) or "npx cdk deploy --outputs-file ${file}" first.`);
  }
  const all = JSON.parse(readFileSync(file, 'utf8')) as Record<string, Record<string, string>>;
  const names = Object.keys(all);
  const name = stackName ?? (names.length === 1 ? names[0] : undefined);
  if (!name || !all[name]) {
    throw new Error(`Stack outputs file ${file} holds ${names.join(', ') || 'no stacks'}; choose one with --stack.`);
  }
  const outputs = all[name];
  const missing = REQUIRED.filter((k) => !outputs[k]);
  if (missing.length > 0) throw new Error(`Stack ${name} in ${file} lacks outputs: ${missing.join(', ')}. Redeploy it.`);
  return { ...(outputs as unknown as StackOutputs), stackName: name };
}

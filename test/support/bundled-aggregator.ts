import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../scripts/local/local-stack';

/** The parts of an `AWS::Lambda::Function`'s properties this reads. */
interface FunctionProperties {
  readonly Environment?: { readonly Variables?: Record<string, string> };
  readonly Code?: { readonly S3Key?: string };
}

/** The bundled aggregator asset of a deployed stack (what `cdk deploy` shipped), found through its template in cdk.out. */
export function bundledAggregatorPath(stackName: string): string {
  const template = JSON.parse(readFileSync(join(REPO_ROOT, 'cdk.out', `${stackName}.template.json`), 'utf8')) as {
    Resources: Record<string, { Type: string; Properties: FunctionProperties }>;
  };
  const fn = Object.values(template.Resources).find(
    (r) => r.Type === 'AWS::Lambda::Function' && r.Properties.Environment?.Variables?.POWERTOOLS_SERVICE_NAME === 'aggregator',
  );
  const key = String(fn?.Properties.Code?.S3Key ?? '');
  const file = join(REPO_ROOT, 'cdk.out', `asset.${key.replace(/\.zip$/, '')}`, 'index.js');
  if (!existsSync(file)) throw new Error(`no bundled aggregator at ${file}: deploy the stack first`);
  return file;
}

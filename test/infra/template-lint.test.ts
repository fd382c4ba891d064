/**
 * Every stage's synthesized template read against CloudFormation's own resource specification (cfn-lint, pinned in
 * the project venv next to the emulator), and a normalized snapshot of each, so that a template change shows in review.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureMinistackInstalled } from '../../scripts/local/emulator';
import { normalizedTemplate, REPO_ROOT, STAGES, synthStage } from '../support/stages';

/**
 * The cfn-lint warnings this project accepts, by rule, each with the reason. Any other warning, and every error,
 * fails the suite.
 */
const ACCEPTED_WARNINGS: Readonly<Record<string, string>> = {
  W3005:
    'CDK adds an explicit DependsOn on a role next to the GetAtt of its ARN, so that the role\'s inline policy exists ' +
    'before the resource uses it; the redundancy is on purpose (the GetAtt alone does not wait for the policy).',
  W7001:
    'aws-cdk-lib\'s Firehose construct always emits a region-to-CIDR mapping for VPC destinations; these streams write ' +
    'to S3, so the mapping goes unused.',
};

interface CfnLintFinding {
  readonly Rule: { readonly Id: string };
  readonly Level: 'Error' | 'Warning' | 'Informational';
  readonly Message: string;
  readonly Filename: string;
}

/** How long a first install of the venv may take (creating it, then pip over the network). */
const INSTALL_TIMEOUT_MS = 600_000;

/** The cfn-lint executable, set once the venv is installed. */
let executable: string;

/** Runs cfn-lint on template files and returns its findings (it exits non-zero whenever it finds something). */
function cfnLint(files: readonly string[]): CfnLintFinding[] {
  const r = spawnSync(executable, ['--format', 'json', '--', ...files], { encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw r.error;
  // Exit codes are a bitmask of levels found (2 error, 4 warning, 8 informational); 1 is cfn-lint failing itself.
  if (r.status === 1 || r.stdout.trim() === '') throw new Error(`cfn-lint did not run (exit ${r.status}):\n${r.stderr}`);
  return JSON.parse(r.stdout) as CfnLintFinding[];
}

const describeFinding = (f: CfnLintFinding) => `${f.Level} ${f.Rule.Id} in ${f.Filename}: ${f.Message}`;

describe('cfn-lint', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'cfn-lint-'));
    // The infra suite must run on a fresh clone: install the venv (ministack and cfn-lint) on first use.
    executable = ensureMinistackInstalled(REPO_ROOT, { log: (line) => process.stderr.write(`# ${line}\n`) }).cfnLint;
  }, INSTALL_TIMEOUT_MS);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('every stage passes, with only the accepted warnings', () => {
    const files = STAGES.map((stage) => {
      const file = join(dir, `${stage.name}.template.json`);
      writeFileSync(file, JSON.stringify(synthStage(stage).toJSON(), null, 1));
      return file;
    });
    const findings = cfnLint(files);
    const unaccepted = findings.filter((f) => f.Level !== 'Informational' && !(f.Level === 'Warning' && f.Rule.Id in ACCEPTED_WARNINGS));
    expect(unaccepted.map(describeFinding)).toStrictEqual([]);
  });

  test('it reports an invalid template as an error (control)', () => {
    const file = join(dir, 'broken.template.json');
    writeFileSync(
      file,
      JSON.stringify({
        Resources: {
          Stream: { Type: 'AWS::Kinesis::Stream', Properties: { ShardCount: 'three', RetentionPeriodHours: 24 } },
          Queue: { Type: 'AWS::SQS::Queue', Properties: { MessageRetentionPeriod: 60, NoSuchProperty: true } },
        },
      }),
    );
    const errors = cfnLint([file]).filter((f) => f.Level === 'Error');
    expect(errors.map((f) => f.Rule.Id)).toEqual(expect.arrayContaining(['E3012', 'E3002']));
  });
});

describe('synthesized templates', () => {
  test.each(STAGES.map((s) => [s.name, s] as const))('%s stage matches its snapshot (asset hashes normalized)', (_name, stage) => {
    expect(normalizedTemplate(synthStage(stage))).toMatchSnapshot();
  });
});

/**
 * Runs the test suites with Node's built-in test runner, in one run so that one summary closes it.
 *
 *   tsx scripts/run-tests.ts              unit, infra and e2e
 *   tsx scripts/run-tests.ts unit infra   only those
 *
 * The e2e suite needs a deployed stack. By default it uses the emulator that answers at AWS_ENDPOINT_URL (default
 * http://127.0.0.1:4566) or starts ministack, deploys the real app once, and stops afterwards whatever it started.
 * With E2E_TARGET=aws it uses the stack whose outputs E2E_OUTPUTS_FILE names, on real AWS, and starts nothing.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { awsEnvFor, ensureEmulator, stopEmulator } from './emulator';
import { deployLocal, LOCAL_OUTPUTS_FILE, REPO_ROOT } from './lib/local-stack';

const SUITES = ['unit', 'infra', 'e2e'] as const;
type Suite = (typeof SUITES)[number];

function testFiles(suite: Suite): string[] {
  const dir = join(REPO_ROOT, 'test', suite);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.test.ts'))
    .sort()
    .map((f) => join('test', suite, f));
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const unknown = args.filter((a) => !(SUITES as readonly string[]).includes(a));
  if (unknown.length > 0) {
    console.error(`unknown suite(s): ${unknown.join(', ')}; choose from ${SUITES.join(', ')}`);
    return 2;
  }
  const suites = (args.length > 0 ? args : [...SUITES]) as Suite[];
  const env: Record<string, string> = {};
  let stopAfter = false;
  // Interrupted (Ctrl-C, a CI timeout), still stop what this run started, whatever phase it is in.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      void (stopAfter ? stopEmulator(REPO_ROOT) : Promise.resolve()).finally(() => process.exit(130));
    });
  }

  if (suites.includes('e2e')) {
    if (process.env.E2E_TARGET === 'aws') {
      if (!process.env.E2E_OUTPUTS_FILE) {
        console.error('E2E_TARGET=aws needs E2E_OUTPUTS_FILE: the outputs file of "cdk deploy --outputs-file"');
        return 2;
      }
      env.E2E_OUTPUTS_FILE = process.env.E2E_OUTPUTS_FILE;
    } else {
      const endpoint = process.env.AWS_ENDPOINT_URL ?? 'http://127.0.0.1:4566';
      const log = (l: string) => console.log(`# [e2e setup] ${l}`);
      const emulator = await ensureEmulator({ root: REPO_ROOT, endpoint, log });
      stopAfter = emulator.startedByUs;
      try {
        await deployLocal({ endpoint, awsEnv: awsEnvFor(endpoint), log });
      } catch (e) {
        if (stopAfter) await stopEmulator(REPO_ROOT);
        throw e;
      }
      Object.assign(env, awsEnvFor(endpoint), { E2E_OUTPUTS_FILE: LOCAL_OUTPUTS_FILE, E2E_ENDPOINT: endpoint });
    }
  }

  const files = suites.flatMap(testFiles);
  try {
    return await new Promise<number>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...files], {
        cwd: REPO_ROOT,
        // The lockfile pins the SDK, so its notice about future releases needing Node 22 is noise in test output.
        env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...process.env, ...env },
        stdio: 'inherit',
      });
      child.on('error', reject);
      child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
    });
  } finally {
    if (stopAfter) await stopEmulator(REPO_ROOT);
  }
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  },
);

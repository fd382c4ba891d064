/**
 * Runs the test suites on jest, in one run so that one summary closes it, then prints the plain line
 * `N passed, N failed` read from jest's JSON result, so that a CI log says at once what ran.
 *
 *   tsx scripts/run-tests.ts                          unit, infra and e2e
 *   tsx scripts/run-tests.ts unit infra               only those
 *   tsx scripts/run-tests.ts unit -- -t 'watermark'   extra arguments after `--` go to jest as they are
 *
 * The e2e suite needs a deployed stack. By default it uses the emulator that answers at AWS_ENDPOINT_URL (default
 * http://127.0.0.1:4566) or starts ministack, deploys the real app once, and stops afterwards whatever it started.
 * With E2E_TARGET=aws it uses the stack whose outputs E2E_OUTPUTS_FILE names, on real AWS, and starts nothing.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { awsEnvFor, endpointFromEnv, ensureEmulator, stopEmulator } from './local/emulator';
import { deployLocal, LOCAL_OUTPUTS_FILE, REPO_ROOT } from './local/local-stack';

const SUITES = ['unit', 'infra', 'e2e'] as const;
type Suite = (typeof SUITES)[number];

/** What `npm run lint` lints (package.json names the same folders). */
const LINTED_DIRS = ['bin', 'lib', 'lambda', 'scripts', 'bench', 'fixtures', 'test'];

const JEST_RESULT_FILE = join(REPO_ROOT, '.local', 'jest-result.json');

/** The closing line from jest's `--json` result, or undefined when jest wrote none (it crashed before the end). */
function summaryLine(): string | undefined {
  if (!existsSync(JEST_RESULT_FILE)) return undefined;
  const r = JSON.parse(readFileSync(JEST_RESULT_FILE, 'utf8')) as {
    numPassedTests: number;
    numFailedTests: number;
    numPendingTests: number;
    numRuntimeErrorTestSuites: number;
  };
  // A suite that fails to load (a syntax error, a throwing import) has no failed test; count it as one so that it shows.
  const failed = r.numFailedTests + r.numRuntimeErrorTestSuites;
  return `${r.numPassedTests} passed, ${failed} failed${r.numPendingTests > 0 ? `, ${r.numPendingTests} skipped` : ''}`;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: REPO_ROOT, env, stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

async function main(): Promise<number> {
  // The lockfile pins the SDK, so its notice about future releases needing Node 22 is noise in test output (here, in
  // cdk and in jest alike).
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const argv = process.argv.slice(2);
  const dashes = argv.indexOf('--');
  const args = dashes < 0 ? argv : argv.slice(0, dashes);
  const jestArgs = dashes < 0 ? [] : argv.slice(dashes + 1);
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

  // Types first: @swc/jest strips them without checking, so a type error would otherwise pass unseen.
  const typeCheck = await run(process.execPath, [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '-p', 'tsconfig.json'], process.env);
  if (typeCheck !== 0) {
    console.error('tsc --noEmit failed; no suite was run');
    console.log('0 passed, 1 failed');
    return typeCheck;
  }
  // Then the type-aware lint rules (floating promises, misused promises...), failing fast the same way.
  const lint = await run(process.execPath, [join(REPO_ROOT, 'node_modules', 'eslint', 'bin', 'eslint.js'), ...LINTED_DIRS], process.env);
  if (lint !== 0) {
    console.error('eslint failed; no suite was run');
    console.log('0 passed, 1 failed');
    return lint;
  }

  if (suites.includes('e2e')) {
    if (process.env.E2E_TARGET === 'aws') {
      if (!process.env.E2E_OUTPUTS_FILE) {
        console.error('E2E_TARGET=aws needs E2E_OUTPUTS_FILE: the outputs file of "cdk deploy --outputs-file"');
        return 2;
      }
      env.E2E_OUTPUTS_FILE = process.env.E2E_OUTPUTS_FILE;
    } else {
      const endpoint = endpointFromEnv();
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

  const childEnv = { ...process.env, ...env };
  mkdirSync(join(REPO_ROOT, '.local'), { recursive: true });
  rmSync(JEST_RESULT_FILE, { force: true });
  try {
    const jest = join(REPO_ROOT, 'node_modules', 'jest', 'bin', 'jest.js');
    const code = await run(
      process.execPath,
      // The bundled handlers (loaded by the replay harness) lazy-load SDK parts with import(), which jest's VM sandbox
      // only allows with this flag.
      ['--experimental-vm-modules', '--disable-warning=ExperimentalWarning', jest, '--selectProjects', ...suites, '--json', '--outputFile', JEST_RESULT_FILE, ...jestArgs],
      childEnv,
    );
    const line = summaryLine();
    console.log(line ?? `0 passed, 1 failed (jest exited ${code} without a result)`);
    return line === undefined && code === 0 ? 1 : code;
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

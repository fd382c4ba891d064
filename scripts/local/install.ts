/**
 * Installing the local emulator: the pinned ministack (and cfn-lint) in a project-local venv, `<root>/.ministack-venv`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LogFn } from './probe';

/**
 * The ministack release this project is tested with. Bump it deliberately: the emulator's gaps (Kinesis ESM retry
 * semantics, Firehose buffering and compression, CloudFormation coverage) change between releases, and the e2e
 * suite and the README document the behaviour of this version.
 */
export const MINISTACK_VERSION = '1.5.33';

/**
 * Exact versions of ministack's dependencies, as resolved for {@link MINISTACK_VERSION}. Passed to pip as
 * constraints so that a fresh install gets the same set; packages needed only on another Python version stay free.
 */
export const MINISTACK_CONSTRAINTS: readonly string[] = [
  'botocore==1.43.106',
  'defusedxml==0.7.1',
  'graphql-core==3.2.12',
  'h11==0.16.0',
  'h2==4.4.1',
  'hpack==4.2.0',
  'hypercorn==0.18.0',
  'hyperframe==6.1.0',
  'jmespath==1.1.0',
  'jsonata-python==0.7.1',
  'priority==2.0.0',
  'python-dateutil==2.9.0.post0',
  'pyyaml==6.0.4',
  'six==1.17.0',
  'urllib3==2.8.0',
  'wsproto==1.3.2',
];

/**
 * cfn-lint, installed into the same venv: the infra suite lints every synthesized stage against CloudFormation's
 * resource specification with it. Pinned so that a new rule release cannot fail the suite unannounced.
 */
export const CFN_LINT_VERSION = '1.58.0';

/** Exact versions of cfn-lint's dependencies, as resolved for {@link CFN_LINT_VERSION} next to ministack's. */
export const CFN_LINT_CONSTRAINTS: readonly string[] = [
  'jsonpatch==1.48',
  'jsonpointer==3.12',
  'mpmath==1.3.0',
  'networkx==3.6.1',
  'regex==2026.11.19',
  'sympy==1.14.0',
  'typing_extensions==4.16.0',
];

/** The oldest Python ministack supports (its `Requires-Python: >=3.10`). */
export const MIN_PYTHON_VERSION: readonly [major: number, minor: number] = [3, 10];

/** The project-local virtual environment ministack is installed into. */
export function ministackVenvDir(root: string): string {
  return join(root, '.ministack-venv');
}

/** Options of {@link ensureMinistackInstalled}. */
export interface InstallOptions {
  /** The Python interpreter that creates the venv. @default 'python3' (from PATH) */
  readonly python?: string;
  readonly log?: LogFn;
}

/** A usable ministack installation. */
export interface MinistackInstall {
  /** The `ministack` console script in the venv. */
  readonly executable: string;
  /** The `cfn-lint` console script in the same venv ({@link CFN_LINT_VERSION}). */
  readonly cfnLint: string;
  readonly version: string;
  /** Whether this call installed it (false: it was already there). */
  readonly installedNow: boolean;
}

/** What {@link ensureMinistackInstalled} records after a successful install; a different value forces a reinstall. */
function installStamp(): string {
  return JSON.stringify({ ministack: MINISTACK_VERSION, constraints: MINISTACK_CONSTRAINTS, cfnLint: CFN_LINT_VERSION, cfnLintConstraints: CFN_LINT_CONSTRAINTS });
}

/** The version of the ministack distribution installed in a venv, read from its `.dist-info` (no Python started). */
function installedMinistackVersion(venv: string): string | undefined {
  const lib = join(venv, 'lib');
  if (!existsSync(lib)) return undefined;
  for (const py of readdirSync(lib)) {
    const site = join(lib, py, 'site-packages');
    if (!existsSync(site)) continue;
    for (const entry of readdirSync(site)) {
      const m = /^ministack-(.+)\.dist-info$/.exec(entry);
      if (m) return m[1];
    }
  }
  return undefined;
}

function run(cmd: string, args: string[], opts: { cwd?: string; timeoutMs: number }): { ok: boolean; output: string; missing: boolean } {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, encoding: 'utf8', timeout: opts.timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
  const error: NodeJS.ErrnoException | undefined = r.error;
  const missing = error?.code === 'ENOENT';
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error && !missing ? `\n${r.error.message}` : ''}`.trim();
  return { ok: !r.error && r.status === 0, output, missing };
}

/** The last `lines` lines of a text (of a log or a tool's output). */
export function tail(text: string, lines = 25): string {
  return text.split('\n').slice(-lines).join('\n');
}

/**
 * Makes sure `<root>/.ministack-venv` holds ministack {@link MINISTACK_VERSION}: creates the venv with
 * `python3 -m venv` and pip-installs the pinned version (with {@link MINISTACK_CONSTRAINTS}) on first use. When the
 * pinned version is already installed it only reads a stamp file and the `.dist-info` name, so it is fast. A venv
 * holding another version is upgraded or downgraded in place.
 *
 * @throws Error when `python3` is missing or older than {@link MIN_PYTHON_VERSION}, when `venv` is unavailable, or
 *   when pip fails (for instance without access to PyPI); the message says what to do.
 */
export function ensureMinistackInstalled(root: string, opts: InstallOptions = {}): MinistackInstall {
  const venv = ministackVenvDir(root);
  const executable = join(venv, 'bin', 'ministack');
  const cfnLint = join(venv, 'bin', 'cfn-lint');
  const venvPython = join(venv, 'bin', 'python');
  const stampFile = join(venv, '.ministack-install.json');
  const stamp = installStamp();
  if (
    existsSync(executable) &&
    existsSync(cfnLint) &&
    existsSync(stampFile) &&
    readFileSync(stampFile, 'utf8') === stamp &&
    installedMinistackVersion(venv) === MINISTACK_VERSION
  ) {
    return { executable, cfnLint, version: MINISTACK_VERSION, installedNow: false };
  }

  const log = opts.log ?? (() => undefined);
  if (!existsSync(venvPython)) {
    const python = opts.python ?? 'python3';
    const probe = run(python, ['-c', 'import sys; print("%d.%d.%d" % sys.version_info[:3])'], { timeoutMs: 30_000 });
    const [minMajor, minMinor] = MIN_PYTHON_VERSION;
    const need = `Python >= ${minMajor}.${minMinor}`;
    if (probe.missing) {
      throw new Error(`"${python}" was not found. The local emulator (ministack) needs ${need}: install python3 (with its venv module, e.g. "apt-get install python3 python3-venv") or point at another emulator with AWS_ENDPOINT_URL.`);
    }
    const m = /^(\d+)\.(\d+)\.(\d+)/.exec(probe.output.split('\n').pop() ?? '');
    if (!probe.ok || !m) {
      throw new Error(`could not run "${python}" to check its version:\n${tail(probe.output)}`);
    }
    const [major, minor] = [Number(m[1]), Number(m[2])];
    if (major < minMajor || (major === minMajor && minor < minMinor)) {
      throw new Error(`"${python}" is Python ${m[0]}; the local emulator (ministack) needs ${need}. Install a newer python3, or point at another emulator with AWS_ENDPOINT_URL.`);
    }
    log(`creating ${venv} with Python ${m[0]}`);
    const made = run(python, ['-m', 'venv', '--clear', venv], { timeoutMs: 120_000 });
    if (!made.ok || !existsSync(venvPython)) {
      rmSync(venv, { recursive: true, force: true });
      throw new Error(`"${python} -m venv ${venv}" failed (on Debian/Ubuntu install python3-venv):\n${tail(made.output)}`);
    }
  }

  log(`installing ministack==${MINISTACK_VERSION} and cfn-lint==${CFN_LINT_VERSION} into ${venv}`);
  rmSync(stampFile, { force: true });
  const constraintsFile = join(venv, 'ministack-constraints.txt');
  writeFileSync(constraintsFile, `${[...MINISTACK_CONSTRAINTS, ...CFN_LINT_CONSTRAINTS].join('\n')}\n`);
  const pip = run(
    venvPython,
    ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '--quiet', '-c', constraintsFile, `ministack==${MINISTACK_VERSION}`, `cfn-lint==${CFN_LINT_VERSION}`],
    { timeoutMs: 600_000 },
  );
  const version = installedMinistackVersion(venv);
  if (!pip.ok || version !== MINISTACK_VERSION || !existsSync(executable) || !existsSync(cfnLint)) {
    throw new Error(`pip could not install ministack==${MINISTACK_VERSION} and cfn-lint==${CFN_LINT_VERSION} into ${venv} (is PyPI reachable?):\n${tail(pip.output)}`);
  }
  writeFileSync(stampFile, stamp);
  return { executable, cfnLint, version, installedNow: true };
}

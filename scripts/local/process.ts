/**
 * The local AWS emulator's process: find one that answers, or start the project-local ministack (installed by
 * install.ts), and stop only the one this project started.
 *
 * ministack (PyPI, MIT) speaks the LocalStack API on one port and runs Lambda code in local `node` subprocesses, so no
 * Docker is needed. It is installed into `<root>/.ministack-venv` at a pinned version and started detached, in its own
 * process group, bound to 127.0.0.1. Its PID goes to `<root>/.local/emulator.pid`; {@link stopEmulator} stops that
 * process and every Lambda worker in its group, and nothing else.
 *
 * Behaviour of the pinned version that shapes this module (see the README's "local emulator" section):
 * - ministack passes its own environment on to every Lambda worker, so it is started with a curated environment
 *   (no host AWS credentials), with the current `node` first on PATH (the workers run `node` from PATH, whatever
 *   runtime the function declares) and with `NODE_PATH=<root>/node_modules`, so that a Lambda that does not bundle
 *   the AWS SDK (such as CDK's own custom-resource providers) loads the real SDK instead of ministack's partial stubs.
 * - SIGTERM does not always end it (a thread waiting on a custom resource keeps the process alive), so stopping
 *   escalates to SIGKILL of the whole process group after a deadline.
 * - It keeps its state in memory: a restart loses every resource, and `POST /_ministack/reset` wipes everything,
 *   including the CDK bootstrap stack.
 */import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ensureMinistackInstalled, MINISTACK_VERSION, tail } from './install';
import { EMULATOR_ENDPOINT, probeEmulator, type EmulatorKind, type LogFn } from './probe';

/** An emulator in use: one that was already answering, or one this process started. */
export interface EmulatorHandle {
  readonly endpoint: string;
  readonly kind: EmulatorKind;
  /** The emulator's PID when this project started it. */
  readonly pid?: number;
  /**
   * Whether this run started the emulator and so should stop it when done. Mutable on purpose: a caller that hands
   * the emulator on (leaves it running for `pipeline local down`) clears it.
   */
  startedByUs: boolean;
}


/** Where local runs keep their run-time files: the emulator's, the local deployment's (git-ignored). */
export function localDir(root: string): string {
  return join(root, '.local');
}

/** The PID file of the emulator this project started. */
export function emulatorPidFile(root: string): string {
  return join(localDir(root), 'emulator.pid');
}

/** The default log file of the emulator this project started. */
export function emulatorLogFile(root: string): string {
  return join(localDir(root), 'emulator.log');
}

/**
 * ministack's temporary directory (its TMPDIR): the Lambda workers' code directories and ministack's own PID file go
 * here instead of the system /tmp, and {@link stopEmulator} removes it.
 */
function ministackTmpDir(root: string): string {
  return join(localDir(root), 'ministack-tmp');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Options of {@link startMinistack}. */
export interface StartOptions {
  /** The project root: venv, PID file and logs live under it. */
  readonly root: string;
  /** @default 4566 */
  readonly port?: number;
  /** The only address ministack binds; loopback only. @default '127.0.0.1' */
  readonly host?: '127.0.0.1';
  /** Where ministack's output goes (truncated at each start). @default `<root>/.local/emulator.log` */
  readonly logFile?: string;
  /** How long to wait for the health endpoint. @default 60000 */
  readonly healthTimeoutMs?: number;
  /** Extra environment for ministack (and so for every Lambda worker), e.g. `{ LOG_LEVEL: 'DEBUG' }`. */
  readonly env?: Readonly<Record<string, string>>;
  /** The ministack executable; installed with {@link ensureMinistackInstalled} when not given. */
  readonly executable?: string;
  readonly log?: LogFn;
}

/** An emulator this process started. */
export interface StartedEmulator {
  readonly pid: number;
  readonly endpoint: string;
  readonly logFile: string;
  readonly startedByUs: true;
}

/** Children this process spawned, so that liveness checks see their exit even before the zombie is reaped. */
const spawned = new Map<number, ChildProcess>();

function isAlive(pid: number): boolean {
  const child = spawned.get(pid);
  if (child && (child.exitCode !== null || child.signalCode !== null)) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie answers signal 0 but is gone for every purpose here.
  const st = spawnSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8' });
  return !(st.stdout ?? '').trim().startsWith('Z');
}

interface ProcInfo {
  readonly pid: number;
  readonly pgid: number;
  readonly stat: string;
  readonly command: string;
}

/** Every process, with its group and command line (`ps` works alike on Linux and macOS). */
function listProcesses(): ProcInfo[] {
  const r = spawnSync('ps', ['-A', '-o', 'pid=,pgid=,stat=,command='], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  const out: ProcInfo[] = [];
  for (const line of (r.stdout ?? '').split('\n')) {
    const m = /^\s*(\d+)\s+(\d+)\s+(\S+)\s+(.*)$/.exec(line);
    if (m) out.push({ pid: Number(m[1]), pgid: Number(m[2]), stat: m[3], command: m[4] });
  }
  return out;
}

/** Is `command` ministack, or a Lambda worker ministack started? */
function isMinistackCommand(command: string): boolean {
  return /ministack/.test(command);
}

/** Is `pid` a live ministack process (not a stale PID reused by something else)? */
function isMinistackProcess(pid: number): boolean {
  const p = listProcesses().find((x) => x.pid === pid && !x.stat.startsWith('Z'));
  return p !== undefined && isMinistackCommand(p.command) && isAlive(pid);
}

/** The live (non-zombie) ministack processes of a process group. */
function groupMembers(pgid: number): ProcInfo[] {
  return listProcesses().filter((p) => p.pgid === pgid && !p.stat.startsWith('Z') && isMinistackCommand(p.command));
}

/** Reads the PID file, or undefined when there is none or it does not hold a PID. */
export function readEmulatorPid(root: string): number | undefined {
  const file = emulatorPidFile(root);
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim().split('\n')[0]);
  return Number.isInteger(pid) && pid > 1 ? pid : undefined;
}

/** The curated environment ministack runs with; it is also what every Lambda worker inherits. */
function ministackEnv(opts: { root: string; host: string; port: number; extra?: Readonly<Record<string, string>> }): Record<string, string> {
  const env: Record<string, string> = {
    // The node running this script first, so Lambda workers use the same runtime as the tools.
    PATH: [dirname(process.execPath), process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin'].join(':'),
    HOME: process.env.HOME ?? ministackTmpDir(opts.root),
    LANG: process.env.LANG ?? 'C.UTF-8',
    TMPDIR: ministackTmpDir(opts.root),
    BIND_HOST: opts.host,
    GATEWAY_PORT: String(opts.port),
    // Non-bundled Lambdas (CDK custom-resource providers) resolve the real AWS SDK from the project.
    NODE_PATH: join(opts.root, 'node_modules'),
    LOG_LEVEL: 'INFO',
    PYTHONUNBUFFERED: '1',
  };
  for (const key of ['SSL_CERT_FILE', 'NODE_EXTRA_CA_CERTS', 'TZ']) {
    const v = process.env[key];
    if (v !== undefined) env[key] = v;
  }
  return { ...env, ...opts.extra };
}

/**
 * Starts ministack detached (its own process group), bound to 127.0.0.1:`port`, writes its PID to
 * `<root>/.local/emulator.pid`, and waits until `/_localstack/health` answers or the deadline passes.
 *
 * @throws Error when a PID file names a running emulator, when the port is taken, when ministack exits early, or
 *   when it is not healthy in time (then it is stopped again); the message includes the end of its log.
 */
export async function startMinistack(opts: StartOptions): Promise<StartedEmulator> {
  const { root } = opts;
  const port = opts.port ?? 4566;
  const host = opts.host ?? '127.0.0.1';
  if (host !== '127.0.0.1') throw new Error(`ministack is only started on 127.0.0.1, not ${String(host)}`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`port must be an integer in 1..65535, got ${port}`);
  const endpoint = `http://${host}:${port}`;
  const healthTimeoutMs = opts.healthTimeoutMs ?? 60_000;
  const logFile = opts.logFile ?? emulatorLogFile(root);
  const pidFile = emulatorPidFile(root);

  const previous = readEmulatorPid(root);
  if (previous !== undefined) {
    if (isMinistackProcess(previous)) {
      throw new Error(`an emulator started by this project is already running (PID ${previous}, PID file ${pidFile}); stop it with "pipeline local down"`);
    }
    rmSync(pidFile, { force: true });
  }
  if (await probeEmulator(endpoint, 1000)) throw new Error(`something already answers at ${endpoint}; not starting another emulator on port ${port}`);

  const executable = opts.executable ?? ensureMinistackInstalled(root, { log: opts.log }).executable;
  mkdirSync(localDir(root), { recursive: true });
  mkdirSync(ministackTmpDir(root), { recursive: true });
  mkdirSync(dirname(logFile), { recursive: true });

  const fd = openSync(logFile, 'w');
  let child: ChildProcess;
  try {
    child = spawn(executable, [], {
      cwd: root,
      detached: true,
      stdio: ['ignore', fd, fd],
      env: ministackEnv({ root, host, port, extra: opts.env }),
    });
  } finally {
    closeSync(fd);
  }
  const pid = child.pid;
  if (pid === undefined) {
    const err = await new Promise<Error>((resolve) => child.once('error', resolve));
    throw new Error(`could not start ${executable}: ${err.message}`);
  }
  spawned.set(pid, child);
  child.once('exit', () => setTimeout(() => spawned.delete(pid), 60_000).unref());
  child.unref();
  writeFileSync(pidFile, `${pid}\n`);
  opts.log?.(`started ministack ${MINISTACK_VERSION} (PID ${pid}) at ${endpoint}; log ${logFile}`);

  const logTail = () => (existsSync(logFile) ? tail(readFileSync(logFile, 'utf8')) : '(no log)');
  const deadline = Date.now() + healthTimeoutMs;
  for (;;) {
    if (!isAlive(pid)) {
      rmSync(pidFile, { force: true });
      throw new Error(`ministack exited during start-up (exit ${child.exitCode ?? child.signalCode}); its log:\n${logTail()}`);
    }
    const probe = await probeEmulator(endpoint, 1000);
    if (probe && probe.kind !== 'unknown') return { pid, endpoint, logFile, startedByUs: true };
    if (Date.now() >= deadline) {
      await stopEmulator(root);
      throw new Error(`ministack did not become healthy at ${endpoint} within ${healthTimeoutMs} ms; its log:\n${logTail()}`);
    }
    await sleep(100);
  }
}

/** Options of {@link stopEmulator}. */
export interface StopOptions {
  /** How long SIGTERM gets before the process group is killed. @default 5000 */
  readonly graceMs?: number;
  readonly log?: LogFn;
}

async function waitUntil(cond: () => boolean, deadlineMs: number): Promise<boolean> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    if (cond()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(50);
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the group is gone already.
  }
}

/**
 * Stops the emulator whose PID is in `<root>/.local/emulator.pid`, and only it: SIGTERM to ministack, then, after
 * `graceMs`, SIGKILL to its whole process group (its Lambda workers included). A PID that no longer belongs to a
 * ministack process (stale file, reused PID) is never signalled. Removes the PID file and ministack's temporary
 * directory.
 *
 * @returns true when a running emulator (or leftover workers of one) was stopped, false when there was none.
 */
export async function stopEmulator(root: string, opts: StopOptions = {}): Promise<boolean> {
  const pidFile = emulatorPidFile(root);
  const pid = readEmulatorPid(root);
  if (pid === undefined) {
    rmSync(pidFile, { force: true });
    return false;
  }
  const graceMs = opts.graceMs ?? 5000;
  const leaderIsOurs = isMinistackProcess(pid);
  // ministack runs in its own group (spawned detached), whose ID is its PID.
  const strays = () => groupMembers(pid);
  let stopped = false;

  if (leaderIsOurs) {
    opts.log?.(`stopping ministack (PID ${pid})`);
    process.kill(pid, 'SIGTERM');
    if (!(await waitUntil(() => !isAlive(pid), graceMs))) {
      opts.log?.(`ministack did not exit within ${graceMs} ms of SIGTERM; killing its process group`);
      signalGroup(pid, 'SIGKILL');
      await waitUntil(() => !isAlive(pid), 5000);
    }
    stopped = true;
  }
  // Lambda workers left in the group (after a crash or a SIGKILL): only ministack's own, identified by command line.
  const left = strays();
  if (left.length > 0) {
    for (const p of left) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // Gone meanwhile.
      }
    }
    await waitUntil(() => strays().length === 0, 5000);
    stopped = true;
  }
  if (isAlive(pid) && leaderIsOurs) throw new Error(`ministack (PID ${pid}) is still running after SIGKILL`);
  rmSync(pidFile, { force: true });
  rmSync(ministackTmpDir(root), { recursive: true, force: true });
  return stopped;
}

/** Options of {@link ensureEmulator}. */
export interface EnsureOptions {
  /** The project root. */
  readonly root: string;
  /** Where the emulator is expected; the caller reads AWS_ENDPOINT_URL. @default {@link EMULATOR_ENDPOINT} */
  readonly endpoint?: string;
  readonly log?: LogFn;
  /** How long a started ministack may take to become healthy. @default 60000 */
  readonly healthTimeoutMs?: number;
  /** The Python interpreter for a first-time install. @default 'python3' */
  readonly python?: string;
}

/**
 * Uses the emulator that answers at `endpoint` (LocalStack or ministack, started by anyone; `startedByUs: false`),
 * or, when nothing answers and the endpoint is on this machine, installs and starts ministack on its port
 * (`startedByUs: true`).
 *
 * @throws Error when something that is not an AWS emulator holds the port, when the endpoint is not a loopback
 *   address (nothing is started for remote endpoints), or when installing or starting ministack fails.
 */
export async function ensureEmulator(opts: EnsureOptions): Promise<EmulatorHandle> {
  const endpoint = opts.endpoint ?? EMULATOR_ENDPOINT;
  const probe = await probeEmulator(endpoint, 2000);
  if (probe) {
    if (probe.kind === 'unknown') {
      throw new Error(`something answers at ${endpoint} but not as a LocalStack-compatible emulator (no /_localstack/health); free the port or set AWS_ENDPOINT_URL`);
    }
    opts.log?.(`using the ${probe.kind}${probe.version ? ` ${probe.version}` : ''} already answering at ${endpoint}`);
    return { endpoint, kind: probe.kind, startedByUs: false };
  }
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new Error(`not a URL: ${endpoint}`);
  }
  if (url.protocol !== 'http:' || !['127.0.0.1', 'localhost'].includes(url.hostname)) {
    throw new Error(`nothing answers at ${endpoint}; ministack is only started for http://127.0.0.1:<port> (or localhost)`);
  }
  const port = url.port ? Number(url.port) : 80;
  const install = ensureMinistackInstalled(opts.root, { python: opts.python, log: opts.log });
  const started = await startMinistack({
    root: opts.root,
    port,
    host: '127.0.0.1',
    executable: install.executable,
    healthTimeoutMs: opts.healthTimeoutMs,
    log: opts.log,
  });
  return { endpoint, kind: 'ministack', pid: started.pid, startedByUs: true };
}

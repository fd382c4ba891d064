import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { compileSpec } from '../../lambda/domain/compiled-spec';
import { parseAggregationSpecJson } from '../../lambda/domain/spec';
import { awsEnvFor, ensureEmulator, probeEmulator, stopEmulator } from '../local/emulator';
import { awsClients } from '../lib/aws-target';
import { deployLocal, LOCAL_DIR, LOCAL_OUTPUTS_FILE, REPO_ROOT } from '../local/local-stack';
import { PipelineStatusReader, type PipelineSnapshot } from '../lib/pipeline-status';
import { readStackOutputs } from '../lib/stack-outputs';
import { formatResultsTable } from '../lib/window-query';
import { liveDemoRecords, produce, type ProduceStats } from './produce';

/** Options of `pipeline local up`. */
export interface LocalUpOptions {
  readonly endpoint: string;
  readonly spec?: string;
  /** Produce demo events and show the live view until Ctrl-C. */
  readonly demo: boolean;
  readonly rate: number;
  readonly seed: number;
  readonly forceDeploy: boolean;
}

const CLEAR = '\x1b[H\x1b[2J';

function renderView(
  endpoint: string,
  bucket: string,
  prefixes: { errors: string; late: string },
  produced: ProduceStats | undefined,
  snap: PipelineSnapshot | undefined,
  rate: number | undefined,
  now: number,
): string {
  const lines: string[] = [];
  lines.push(`windowed pipeline — local emulator at ${endpoint}          (Ctrl-C stops)`);
  lines.push('');
  const sent = produced?.sent ?? 0;
  const processed = snap?.processed;
  const handled = processed === undefined ? undefined : processed + (snap?.invalid ?? 0);
  lines.push(`events sent        ${sent}${produced?.failed ? `   (failed ${produced.failed})` : ''}`);
  lines.push(`events processed   ${handled ?? 'n/a'}   (${processed ?? 'n/a'} aggregated, ${snap?.invalid ?? 0} invalid)`);
  lines.push(`records/s          ${rate === undefined ? '…' : rate.toFixed(0)}`);
  const wms = snap ? [...snap.watermarks.values()] : [];
  const lagRecords = handled === undefined ? undefined : Math.max(0, sent - handled);
  const lagMs = wms.length > 0 ? now - Math.min(...wms) : undefined;
  lines.push(
    `lag                ${lagRecords ?? 'n/a'} records behind; watermark ${lagMs === undefined ? 'n/a' : `${(lagMs / 1000).toFixed(1)} s`} behind wall clock (${wms.length} shard(s))`,
  );
  lines.push(`windows in state   ${snap?.windows ?? 0}`);
  lines.push(`bad records        ${snap?.invalid ?? 0} → s3://${bucket}/${prefixes.errors}`);
  lines.push(`late records       ${snap?.late ?? 0} → s3://${bucket}/${prefixes.late}`);
  lines.push('');
  lines.push('latest window results');
  lines.push(snap ? formatResultsTable(snap.latest) : '(reading…)');
  return lines.join('\n');
}

/**
 * `pipeline local up`: find or start the emulator, deploy the real app to it (skipped when unchanged), then optionally
 * produce demo events with a live view. Ctrl-C stops producing and stops the emulator only if this run started it.
 */
export async function localUp(opts: LocalUpOptions): Promise<void> {
  const log = (line: string) => console.log(`[local] ${line}`);
  const emulator = await ensureEmulator({ root: REPO_ROOT, endpoint: opts.endpoint, log });
  let stopping = false;
  const shutdown = async () => {
    if (emulator.startedByUs) {
      log('stopping the emulator this run started');
      await stopEmulator(REPO_ROOT);
    }
  };
  try {
    const { outputs, deployed } = await deployLocal({
      endpoint: opts.endpoint,
      awsEnv: awsEnvFor(opts.endpoint),
      spec: opts.spec,
      force: opts.forceDeploy,
      log: (l) => log(l),
    });
    log(`${deployed ? 'deployed' : 'up to date'}: stack outputs in ${LOCAL_OUTPUTS_FILE}`);
    if (!opts.demo) {
      if (emulator.startedByUs) log(`emulator left running (PID file in ${join(LOCAL_DIR, 'emulator.pid')}); stop it with "pipeline local down"`);
      emulator.startedByUs = false;
      return;
    }
    const clients = awsClients({ endpoint: opts.endpoint });
    const spec = compileSpec(parseAggregationSpecJson(outputs.AggregationSpec, 'deployed AggregationSpec'));
    const status = new PipelineStatusReader(clients, outputs, spec);
    const abort = new AbortController();
    const onSignal = () => {
      if (stopping) return;
      stopping = true;
      abort.abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);

    let produced: ProduceStats | undefined;
    let snap: PipelineSnapshot | undefined;
    let lastProcessed: { at: number; n: number } | undefined;
    let rate: number | undefined;
    const producing = produce(clients.kinesis, liveDemoRecords(opts.seed, opts.rate), {
      streamName: outputs.StreamName,
      rate: opts.rate,
      signal: abort.signal,
      onProgress: (s) => (produced = { ...s }),
    }).catch((e) => {
      log(`producer stopped: ${(e as Error).message}`);
      return undefined;
    });
    const interactive = process.stdout.isTTY;
    while (!abort.signal.aborted) {
      try {
        snap = await status.snapshot();
        const n = (snap.processed ?? 0) + snap.invalid;
        const at = Date.now();
        if (lastProcessed && at > lastProcessed.at) rate = ((n - lastProcessed.n) * 1000) / (at - lastProcessed.at);
        lastProcessed = { at, n };
      } catch (e) {
        log(`status read failed: ${(e as Error).message}`);
      }
      const view = renderView(opts.endpoint, outputs.BucketName, { errors: outputs.ErrorsPrefix, late: outputs.LatePrefix }, produced, snap, rate, Date.now());
      process.stdout.write(interactive ? CLEAR + view + '\n' : view + '\n\n');
      await new Promise<void>((r) => {
        const t = setTimeout(r, interactive ? 1000 : 5000);
        abort.signal.addEventListener('abort', () => {
          clearTimeout(t);
          r();
        });
      });
    }
    await producing;
    log(`stopped producing after ${produced?.sent ?? 0} events`);
  } finally {
    await shutdown();
  }
}

/** `pipeline local down`: stops the emulator a previous `local up` started (by its PID file), and nothing else. */
export async function localDown(): Promise<void> {
  const stopped = await stopEmulator(REPO_ROOT);
  console.log(stopped ? 'stopped the emulator started by "pipeline local up"' : 'no emulator started by this project is running');
}

/** `pipeline local status`: the emulator, the deployment, and a snapshot of the pipeline. */
export async function localStatus(endpoint: string): Promise<void> {
  const probe = await probeEmulator(endpoint, 2000);
  console.log(`emulator   ${probe ? `${probe.kind} answering at ${endpoint}` : `nothing answering at ${endpoint}`}`);
  if (!existsSync(LOCAL_OUTPUTS_FILE)) {
    console.log(`stack      not deployed (no ${LOCAL_OUTPUTS_FILE}); run "npm start"`);
    return;
  }
  const outputs = readStackOutputs(LOCAL_OUTPUTS_FILE);
  console.log(`stack      ${outputs.stackName} (outputs in ${LOCAL_OUTPUTS_FILE})`);
  if (!probe) return;
  const spec = compileSpec(parseAggregationSpecJson(outputs.AggregationSpec, 'deployed AggregationSpec'));
  try {
    const snap = await new PipelineStatusReader(awsClients({ endpoint }), outputs, spec).snapshot();
    console.log(`processed  ${snap.processed ?? 'n/a'} aggregated, ${snap.invalid} invalid, ${snap.late} late`);
    console.log(`windows    ${snap.windows} in state; shards with a watermark: ${snap.watermarks.size}`);
  } catch (e) {
    console.log(`stack      not reachable on the emulator (${(e as Error).message}); run "npm start" to redeploy`);
  }
}

import type { Command } from 'commander';
import { localDown, localStatus, localUp, type LocalUpOptions } from './local';
import { DEFAULT_ENDPOINT, positiveInt } from './options';

/** `pipeline local up|down|status`: the pipeline on the local emulator. */
export function registerLocal(program: Command): void {
  const local = program.command('local').description('The pipeline on a local LocalStack-compatible emulator (no Docker).');
  local
    .command('up')
    .description('Start (or reuse) the emulator, deploy the app to it, and optionally stream demo events with a live view.')
    .option('--spec <file>', 'aggregation spec file (default: specs/demo.json)')
    .option('--demo', 'produce demo IoT events and show the live view until Ctrl-C', false)
    .option('--rate <n>', 'demo events per second', positiveInt('--rate'), 200)
    .option('--seed <n>', 'demo workload seed', positiveInt('--seed'), 42)
    .option('--force-deploy', 'deploy even if nothing changed', false)
    .option('--endpoint <url>', 'emulator endpoint', DEFAULT_ENDPOINT)
    .action(async (o: LocalUpOptions) => localUp({ endpoint: o.endpoint, spec: o.spec, demo: o.demo, rate: o.rate, seed: o.seed, forceDeploy: o.forceDeploy }));
  local
    .command('down')
    .description('Stop the emulator that "local up" started (never one it did not start).')
    .action(localDown);
  local
    .command('status')
    .description('Show the emulator, the deployment and what the pipeline has processed.')
    .option('--endpoint <url>', 'emulator endpoint', DEFAULT_ENDPOINT)
    .action(async (o: { endpoint: string }) => localStatus(o.endpoint));
}

import { Command, InvalidArgumentError, Option } from 'commander';
import { compileSpec } from '../../lambda/domain/compiled-spec';
import { parseAggregationSpecJson } from '../../lambda/domain/spec';
import { awsClients, type AwsTarget } from '../lib/aws-target';
import { LOCAL_OUTPUTS_FILE } from '../lib/local-stack';
import { readStackOutputs } from '../lib/stack-outputs';
import { formatResultsTable, queryWindows, QueryError } from '../lib/window-query';
import { generateIotWorkload } from '../workload';
import { localDown, localStatus, localUp } from './local';
import { liveDemoRecords, ndjsonRecords, produce, UndeliveredRecordsError } from './produce';

/** The emulator endpoint: AWS_ENDPOINT_URL when set, else the LocalStack-compatible default. */
const DEFAULT_ENDPOINT = process.env.AWS_ENDPOINT_URL ?? 'http://127.0.0.1:4566';

function positiveInt(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer`);
    return n;
  };
}

function isoTime(v: string): number {
  const ms = Date.parse(v);
  if (!Number.isFinite(ms)) throw new InvalidArgumentError('expected an ISO-8601 time, e.g. 2024-05-01T12:00:00Z');
  return ms;
}

function keyPair(v: string, acc: Record<string, string> = {}): Record<string, string> {
  const i = v.indexOf('=');
  if (i <= 0) throw new InvalidArgumentError('expected field=value');
  return { ...acc, [v.slice(0, i)]: v.slice(i + 1) };
}

/**
 * Where a command's AWS calls go. Without --outputs the tools talk to the local emulator (its deployment's outputs
 * are in .local/outputs.json); with --outputs they use the default AWS credential chain, unless AWS_ENDPOINT_URL
 * points at an emulator.
 */
function target(opts: { outputs?: string; endpoint?: string }): { file: string; aws: AwsTarget } {
  if (opts.outputs) return { file: opts.outputs, aws: { endpoint: process.env.AWS_ENDPOINT_URL } };
  return { file: LOCAL_OUTPUTS_FILE, aws: { endpoint: opts.endpoint ?? DEFAULT_ENDPOINT } };
}

const program = new Command('pipeline')
  .description('Run, feed and inspect the windowed streaming pipeline, locally or on AWS.')
  .showHelpAfterError();

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
  .action(async (o) => localUp({ endpoint: o.endpoint, spec: o.spec, demo: o.demo, rate: o.rate, seed: o.seed, forceDeploy: o.forceDeploy }));
local
  .command('down')
  .description('Stop the emulator that "local up" started (never one it did not start).')
  .action(localDown);
local
  .command('status')
  .description('Show the emulator, the deployment and what the pipeline has processed.')
  .option('--endpoint <url>', 'emulator endpoint', DEFAULT_ENDPOINT)
  .action(async (o) => localStatus(o.endpoint));

program
  .command('produce')
  .description('Put events on the stream: from an NDJSON file (or - for stdin) or the seeded demo generator.')
  .addOption(new Option('--file <ndjson>', 'NDJSON file of events, one per line; - reads stdin').conflicts('demo'))
  .option('--demo', 'generate demo IoT events', false)
  .option('--rate <n>', 'records per second (default: as fast as the stream takes them)', positiveInt('--rate'))
  .option('--count <n>', 'stop after this many records (required with --demo unless --rate is set)', positiveInt('--count'))
  .option('--seed <n>', 'demo workload seed', positiveInt('--seed'), 42)
  .option('--partition-key <field>', 'event field to use as the partition key (default: the line number; demo: deviceId)')
  .option('--skip-invalid', 'skip and count input lines that are not JSON instead of stopping', false)
  .option('--outputs <file>', 'stack outputs file of a deployment (default: the local one)')
  .option('--endpoint <url>', 'emulator endpoint (local target)')
  .action(async (o) => {
    if (!o.file && !o.demo) throw new InvalidArgumentError('give --file <ndjson> or --demo');
    const t = target(o);
    const outputs = readStackOutputs(t.file);
    const clients = awsClients(t.aws);
    const invalid: string[] = [];
    const source = o.demo
      ? o.rate
        ? liveDemoRecords(o.seed, o.rate)
        : generateIotWorkload({ seed: o.seed, count: o.count ?? 1000, startMs: Date.now() }).map((r) => ({ partitionKey: r.partitionKey, data: r.data }))
      : ndjsonRecords(o.file, o.partitionKey, o.skipInvalid, (_line, reason) => invalid.push(reason));
    if (o.demo && o.rate && !o.count) console.error('producing until Ctrl-C');
    const abort = new AbortController();
    process.once('SIGINT', () => abort.abort());
    try {
      const stats = await produce(clients.kinesis, source, {
        streamName: outputs.StreamName,
        rate: o.rate,
        count: o.count,
        signal: abort.signal,
        onProgress: (s) => process.stderr.isTTY && process.stderr.write(`\rsent ${s.sent}  retried ${s.retried}  failed ${s.failed}`),
      });
      if (process.stderr.isTTY) process.stderr.write('\n');
      const perSecond = stats.elapsedMs > 0 ? (stats.sent * 1000) / stats.elapsedMs : stats.sent;
      console.log(`sent ${stats.sent}, retried ${stats.retried}, failed ${stats.failed}, skipped ${invalid.length} invalid line(s), ${perSecond.toFixed(0)} records/s`);
      for (const r of invalid.slice(0, 10)) console.error(`skipped ${r}`);
    } catch (e) {
      if (e instanceof UndeliveredRecordsError) {
        console.error(e.message);
        process.exitCode = 1;
        return;
      }
      throw e;
    }
  });

program
  .command('query')
  .description('Window results from the window-state table, by aggregation, key and time range.')
  .requiredOption('--aggregation <name>', 'aggregation name from the spec')
  .option('--key <field=value>', 'group-by field value (repeatable)', keyPair)
  .option('--from <iso>', 'windows starting at or after this time', isoTime)
  .option('--to <iso>', 'windows starting before this time', isoTime)
  .option('--json', 'print one window-result record per line', false)
  .option('--outputs <file>', 'stack outputs file of a deployment (default: the local one)')
  .option('--endpoint <url>', 'emulator endpoint (local target)')
  .action(async (o) => {
    const t = target(o);
    const outputs = readStackOutputs(t.file);
    const spec = compileSpec(parseAggregationSpecJson(outputs.AggregationSpec, 'deployed AggregationSpec'));
    const results = await queryWindows(awsClients(t.aws).doc, outputs.WindowTableName, spec, {
      aggregation: o.aggregation,
      key: o.key,
      from: o.from,
      to: o.to,
    });
    if (o.json) for (const r of results) console.log(JSON.stringify(r));
    else console.log(formatResultsTable(results));
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  if (e instanceof QueryError || e instanceof InvalidArgumentError) {
    console.error(`error: ${e.message}`);
  } else {
    console.error(`error: ${(e as Error).message ?? e}`);
  }
  process.exit(1);
});

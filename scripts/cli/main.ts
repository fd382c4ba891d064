import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { compileSpec } from '../../lambda/domain/compiled-spec';
import { compilePartitionKey } from '../../lambda/domain/partition-key';
import { parseAggregationSpecJson } from '../../lambda/domain/spec';
import { awsClients, type AwsTarget } from '../lib/aws-target';
import { LOCAL_DIR, LOCAL_OUTPUTS_FILE } from '../local/local-stack';
import { endpointFromEnv } from '../local/probe';
import { readStackOutputs } from '../lib/stack-outputs';
import { queueUrlFor, redrive, type RedriveOutcome } from '../lib/redrive';
import { formatSinkTable, readSinkEntries } from '../lib/sink-entries';
import { formatResultsTable, queryWindows, QueryError, validateQuery } from '../lib/window-query';
import { localDown, localStatus, localUp } from './local';
import {
  DEMO_KINDS,
  demoRecords,
  invalidLines,
  liveDemoRecords,
  ndjsonRecords,
  produce,
  progressLine,
  summaryLine,
  withPartitionKey,
  writeFailedRecords,
  type DemoKind,
} from './produce';

/** The emulator endpoint: AWS_ENDPOINT_URL when set, else the LocalStack-compatible default. */
const DEFAULT_ENDPOINT = endpointFromEnv();

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

// Commander hands each action its parsed options untyped; these name what each command's options declare.
/** Where a command reads the stack outputs from. */
interface TargetOptions {
  readonly outputs?: string;
  readonly endpoint?: string;
}
interface LocalUpOptions {
  readonly endpoint: string;
  readonly spec?: string;
  readonly demo: boolean;
  readonly rate: number;
  readonly seed: number;
  readonly forceDeploy: boolean;
}
interface ProduceOptions extends TargetOptions {
  readonly file?: string;
  readonly demo?: string | true;
  readonly rate?: number;
  readonly count?: number;
  readonly seed: number;
  readonly partitionKey?: string;
  readonly aggregate: boolean;
  readonly skipInvalid: boolean;
  readonly maxAttempts: number;
  readonly failedFile?: string;
  readonly fromLine?: number;
}
interface QueryOptions extends TargetOptions {
  readonly aggregation: string;
  readonly key?: Record<string, string>;
  readonly from?: number;
  readonly to?: number;
  readonly json: boolean;
  readonly watch?: string | true;
}
interface ErrorsOptions extends TargetOptions {
  readonly errors: boolean;
  readonly late: boolean;
  readonly json: boolean;
  readonly limit: number;
}
interface RedriveOptions extends TargetOptions {
  readonly dryRun: boolean;
  readonly acceptPartial: boolean;
  readonly maxMessages?: number;
  readonly json: boolean;
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

program
  .command('produce')
  .description('Put events on the stream: from an NDJSON file (or - for stdin) or a seeded demo generator.')
  .addOption(new Option('--file <ndjson>', 'NDJSON file of events, one per line; - reads stdin').conflicts('demo'))
  .option('--demo [kind]', `generate demo events: ${DEMO_KINDS.join(' or ')} (default: iot)`)
  .option('--rate <n>', 'records per second (default: as fast as the stream takes them)', positiveInt('--rate'))
  .option('--count <n>', 'stop after this many records (--demo without --rate: default 1000)', positiveInt('--count'))
  .option('--seed <n>', 'demo workload seed', positiveInt('--seed'), 42)
  .option('--partition-key <field>', "event field to use as the partition key (default: the deployed spec's partitionKey fields; without them the line number, or for the demo deviceId or sessionId)")
  .option('--from-line <n>', 'start at this line of the input (1-based): resume exactly after a run that stopped at a bad line', positiveInt('--from-line'))
  .option('--aggregate', 'KPL-aggregate records per partition key (the aggregator de-aggregates them)', false)
  .option('--skip-invalid', 'skip and count input lines that are not JSON objects (or lack the partition key) instead of stopping', false)
  .option('--max-attempts <n>', 'attempts per record, the first included, before it counts as failed', positiveInt('--max-attempts'), 6)
  .option('--failed-file <path>', 'where records that still failed are written (default: .local/failed-records-<timestamp>.ndjson)')
  .option('--outputs <file>', 'stack outputs file of a deployment (default: the local one)')
  .option('--endpoint <url>', 'emulator endpoint (local target)')
  .action(async (o: ProduceOptions) => {
    if (!o.file && !o.demo) throw new InvalidArgumentError('give --file <ndjson> or --demo [iot|clickstream]');
    const kind = (o.demo === true || o.demo === undefined ? 'iot' : o.demo) as DemoKind;
    if (o.demo && !DEMO_KINDS.includes(kind)) throw new InvalidArgumentError(`unknown demo "${o.demo}"; choose ${DEMO_KINDS.join(' or ')}`);
    const t = target(o);
    const outputs = readStackOutputs(t.file);
    const clients = awsClients(t.aws);
    const invalid: string[] = [];
    const count: number | undefined = o.demo && !o.rate ? (o.count ?? 1000) : o.count;
    // The deployed spec says which fields make the partition key: the aggregator rejects records keyed otherwise.
    const specKey = parseAggregationSpecJson(outputs.AggregationSpec, 'deployed AggregationSpec').partitionKey;
    const keyRule = compilePartitionKey(specKey);
    if (o.partitionKey && specKey && (specKey.length !== 1 || specKey[0] !== o.partitionKey)) {
      throw new InvalidArgumentError(
        `--partition-key ${o.partitionKey} contradicts the deployed spec's partitionKey [${specKey.join(', ')}]: the aggregator would send every record to the errors sink. Leave --partition-key out to use the spec's.`,
      );
    }
    if (o.file && o.file !== '-' && !o.skipInvalid) {
      // A file is checked whole before anything is sent, so that a bad line never leaves a run half-sent.
      const bad = await invalidLines(o.file, o.partitionKey, { fromLine: o.fromLine, keyRule });
      if (bad.length > 0) {
        for (const r of bad.slice(0, 10)) console.error(`${o.file}: ${r}`);
        if (bad.length > 10) console.error(`… and ${bad.length - 10} more invalid line(s)`);
        throw new InvalidArgumentError(`${o.file}: ${bad.length} invalid line(s); nothing was sent. Fix them, or pass --skip-invalid to send the other lines.`);
      }
    }
    const source = o.demo
      ? withPartitionKey(o.rate ? liveDemoRecords(o.seed, o.rate, kind) : demoRecords(kind, o.seed, count!, Date.now()), o.partitionKey, keyRule)
      : ndjsonRecords(o.file!, o.partitionKey, o.skipInvalid, (_line, reason) => invalid.push(reason), undefined, { fromLine: o.fromLine, keyRule });
    if (o.demo && o.rate && !o.count) console.error('producing until Ctrl-C');
    const abort = new AbortController();
    process.once('SIGINT', () => abort.abort());
    const tty = process.stderr.isTTY;
    let drawnAt = 0;
    const result = await produce(clients.kinesis, source, {
      streamName: outputs.StreamName,
      rate: o.rate,
      count,
      aggregate: o.aggregate,
      maxAttempts: o.maxAttempts,
      signal: abort.signal,
      onProgress: (s) => {
        // Redrawing more often than a few times a second costs more than it shows.
        if (!tty || Date.now() - drawnAt < 100) return;
        drawnAt = Date.now();
        process.stderr.write(`\r${progressLine(s, count)}\x1b[K`);
      },
    });
    if (tty && drawnAt > 0) process.stderr.write('\r\x1b[K');
    console.log(summaryLine(result, invalid.length));
    for (const r of invalid.slice(0, 10)) console.error(`skipped ${r}`);
    if (invalid.length > 10) console.error(`… and ${invalid.length - 10} more skipped line(s)`);
    if (result.failures.length > 0) {
      const file = o.failedFile ?? join(LOCAL_DIR, `failed-records-${new Date().toISOString().replace(/[:.]/g, '-')}.ndjson`);
      writeFailedRecords(file, result.failures);
      const reasons = [...new Set(result.failures.map((f) => f.error))].slice(0, 3).join('; ');
      console.error(`${result.failures.length} record(s) could not be written after ${o.maxAttempts} attempt(s) (${reasons}); they are in ${file}`);
      process.exitCode = 1;
    }
    // The source's own error (an InvalidInputError or an I/O error), rethrown as it came.
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- produce() keeps whatever the source threw
    if (result.sourceError) throw result.sourceError;
  });

program
  .command('query')
  .description('Window results from the window-state table, by aggregation, key and time range.')
  .requiredOption('--aggregation <name>', 'aggregation name from the spec')
  .option('--key <field=value>', 'group-by field value (repeatable)', keyPair)
  .option('--from <iso>', 'windows starting at or after this time', isoTime)
  .option('--to <iso>', 'windows starting before this time', isoTime)
  .option('--json', 'print one window-result record per line', false)
  .option('--watch [seconds]', 'refresh every N seconds until Ctrl-C (default 2)')
  .option('--outputs <file>', 'stack outputs file of a deployment (default: the local one)')
  .option('--endpoint <url>', 'emulator endpoint (local target)')
  .action(async (o: QueryOptions) => {
    const t = target(o);
    const outputs = readStackOutputs(t.file);
    const spec = compileSpec(parseAggregationSpecJson(outputs.AggregationSpec, 'deployed AggregationSpec'));
    const q = { aggregation: o.aggregation, key: o.key, from: o.from, to: o.to };
    // A bad aggregation or key fails before anything is read, also in watch mode.
    validateQuery(spec, q);
    const doc = awsClients(t.aws).doc;
    const render = async () => {
      const results = await queryWindows(doc, outputs.WindowTableName, spec, q);
      return o.json ? results.map((r) => JSON.stringify(r)).join('\n') : formatResultsTable(results);
    };
    if (o.watch === undefined) {
      const out = await render();
      if (out) console.log(out);
      return;
    }
    const seconds = o.watch === true ? 2 : Number(o.watch);
    if (!Number.isFinite(seconds) || seconds <= 0) throw new InvalidArgumentError('--watch takes a positive number of seconds');
    await watch(seconds, async () => {
      const out = await render();
      const header = `${o.aggregation}${o.key ? ` ${Object.entries(o.key).map(([k, v]) => `${k}=${v}`).join(',')}` : ''} — every ${seconds}s, ${new Date().toISOString()} (Ctrl-C exits)`;
      return o.json ? out : `${header}\n\n${out}`;
    });
  });

program
  .command('errors')
  .description('What the errors sink (rejected records) and the late-data sink (records too late for their window) hold.')
  .option('--errors', 'only the errors sink', false)
  .option('--late', 'only the late-data sink', false)
  .option('--json', 'print one entry per line', false)
  .option('--limit <n>', 'show at most this many entries, the newest', positiveInt('--limit'), 50)
  .option('--outputs <file>', 'stack outputs file of a deployment (default: the local one)')
  .option('--endpoint <url>', 'emulator endpoint (local target)')
  .action(async (o: ErrorsOptions) => {
    const t = target(o);
    const outputs = readStackOutputs(t.file);
    const both = !o.errors && !o.late;
    const entries = await readSinkEntries(awsClients(t.aws).s3, outputs.BucketName, {
      errors: both || o.errors ? outputs.ErrorsPrefix : undefined,
      late: both || o.late ? outputs.LatePrefix : undefined,
    });
    const shown = entries.slice(-o.limit);
    if (o.json) {
      for (const e of shown) console.log(JSON.stringify(e));
      return;
    }
    console.log(formatSinkTable(shown));
    const counts = (['errors', 'late'] as const).map((s) => `${entries.filter((e) => e.sink === s).length} ${s}`).join(', ');
    console.log(`\n${counts} in s3://${outputs.BucketName}${entries.length > shown.length ? `; showing the newest ${shown.length} (--limit)` : ''}`);
  });

program
  .command('redrive')
  .description('Re-feed the batches the on-failure queue names: re-read each range from the stream and invoke the aggregator with it.')
  .option('--dry-run', 'show what would be re-fed; invoke and delete nothing', false)
  .option('--accept-partial', 're-feed what is left of a range whose records partly expired (its message is kept: the expired records were never counted)', false)
  .option('--max-messages <n>', 'handle at most this many messages', positiveInt('--max-messages'))
  .option('--json', 'print one outcome per message per line', false)
  .option('--outputs <file>', 'stack outputs file of a deployment (default: the local one)')
  .option('--endpoint <url>', 'emulator endpoint (local target)')
  .action(async (o: RedriveOptions) => {
    const t = target(o);
    const outputs = readStackOutputs(t.file);
    if (!outputs.FailureQueueUrl || !outputs.AggregatorFunctionName) throw new Error(`${t.file} lacks FailureQueueUrl or AggregatorFunctionName; redeploy the stack`);
    const clients = awsClients(t.aws);
    const outcomes = await redrive(clients, {
      queueUrl: queueUrlFor(outputs.FailureQueueUrl, t.aws.endpoint),
      functionName: outputs.AggregatorFunctionName,
      dryRun: o.dryRun,
      acceptPartial: o.acceptPartial,
      maxMessages: o.maxMessages,
      onOutcome: (r) => console.log(o.json ? JSON.stringify(r) : formatOutcome(r)),
    });
    const by = (k: RedriveOutcome['outcome']) => outcomes.filter((r) => r.outcome === k).length;
    const kept = outcomes.filter((r) => !r.deleted).length;
    if (!o.json) {
      console.log(
        outcomes.length === 0
          ? 'the on-failure queue is empty'
          : `${outcomes.length} message(s): ${by('redriven')} re-fed and deleted, ${by('would-redrive')} would be re-fed, ${by('unrecoverable')} unrecoverable, ${by('partial')} partly re-fed, ${by('refused')} refused, ${by('failed')} failed, ${by('invalid')} invalid; ${kept} kept`,
      );
    }
    if (outcomes.some((r) => !r.deleted && r.outcome !== 'would-redrive')) process.exitCode = 1;
  });

/** Redraws `frame()` every `seconds` until Ctrl-C; on a terminal in place, otherwise one frame after another. */
async function watch(seconds: number, frame: () => Promise<string>): Promise<void> {
  const tty = process.stdout.isTTY;
  const abort = new AbortController();
  const stop = () => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    while (!abort.signal.aborted) {
      let text: string;
      try {
        text = await frame();
      } catch (e) {
        text = `read failed: ${(e as Error).message}`;
      }
      if (abort.signal.aborted) break;
      process.stdout.write(tty ? `\x1b[H\x1b[2J${text}\n` : `${text}\n\n`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, seconds * 1000);
        abort.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

function formatOutcome(r: RedriveOutcome): string {
  const range = r.shardId ? `${r.shardId} ${r.startSequenceNumber}..${r.endSequenceNumber}` : `message ${r.messageId}`;
  const lines = [`${r.outcome.padEnd(13)} ${range}: ${r.records} record(s), ${r.invocations} invocation(s)${r.deleted ? ', message deleted' : ''}${r.detail ? ` — ${r.detail}` : ''}`];
  const preview = r.preview ?? [];
  for (const p of preview.slice(0, 20)) lines.push(`  ${p.sequenceNumber}  ${p.partitionKey}  ${p.data.length > 80 ? `${p.data.slice(0, 79)}…` : p.data}`);
  if (preview.length > 20) lines.push(`  … and ${preview.length - 20} more`);
  return lines.join('\n');
}

program.parseAsync(process.argv).catch((e: unknown) => {
  if (e instanceof QueryError || e instanceof InvalidArgumentError) {
    console.error(`error: ${e.message}`);
  } else {
    console.error(`error: ${(e as Error).message ?? e}`);
  }
  process.exit(1);
});

import { join } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { compilePartitionKey } from '../../lambda/domain/partition-key';
import { parseAggregationSpecJson } from '../../lambda/domain/spec';
import { awsClients } from '../lib/aws-target';
import { readStackOutputs } from '../lib/stack-outputs';
import { LOCAL_DIR } from '../local/local-stack';
import { positiveInt, target, withTarget, type TargetOptions } from './options';
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

/** The options of this command, as commander parses them. */
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

/** `pipeline produce`: put events on the stream. */
export function registerProduce(program: Command): void {
  withTarget(
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
      .option('--failed-file <path>', 'where records that still failed are written (default: .local/failed-records-<timestamp>.ndjson)'),
  ).action(async (o: ProduceOptions) => {
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
}

import { InvalidArgumentError, type Command } from 'commander';
import { compileSpec } from '../../lambda/domain/compiled-spec';
import { parseAggregationSpecJson } from '../../lambda/domain/spec';
import { awsClients } from '../lib/aws-target';
import { readStackOutputs } from '../lib/stack-outputs';
import { formatResultsTable, queryWindows, validateQuery } from '../lib/window-query';
import { isoTime, keyPair, target, withTarget, type TargetOptions } from './options';

/** The options of this command, as commander parses them. */
interface QueryOptions extends TargetOptions {
  readonly aggregation: string;
  readonly key?: Record<string, string>;
  readonly from?: number;
  readonly to?: number;
  readonly json: boolean;
  readonly watch?: string | true;
}

/** `pipeline query`: window results by aggregation, key and time range. */
export function registerQuery(program: Command): void {
  withTarget(
    program
      .command('query')
      .description('Window results from the window-state table, by aggregation, key and time range.')
      .requiredOption('--aggregation <name>', 'aggregation name from the spec')
      .option('--key <field=value>', 'group-by field value (repeatable)', keyPair)
      .option('--from <iso>', 'windows starting at or after this time', isoTime)
      .option('--to <iso>', 'windows starting before this time', isoTime)
      .option('--json', 'print one window-result record per line', false)
      .option('--watch [seconds]', 'refresh every N seconds until Ctrl-C (default 2)'),
  ).action(async (o: QueryOptions) => {
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
}

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

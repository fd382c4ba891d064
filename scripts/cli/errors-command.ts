import type { Command } from 'commander';
import { awsClients } from '../lib/aws-target';
import { formatSinkTable, readSinkEntries } from '../lib/sink-entries';
import { readStackOutputs } from '../lib/stack-outputs';
import { positiveInt, target, withTarget, type TargetOptions } from './options';

/** The options of this command, as commander parses them. */
interface ErrorsOptions extends TargetOptions {
  readonly errors: boolean;
  readonly late: boolean;
  readonly json: boolean;
  readonly limit: number;
}

/** `pipeline errors`: what the errors and late-data sinks hold. */
export function registerErrors(program: Command): void {
  withTarget(
    program
      .command('errors')
      .description('What the errors sink (rejected records) and the late-data sink (records too late for their window) hold.')
      .option('--errors', 'only the errors sink', false)
      .option('--late', 'only the late-data sink', false)
      .option('--json', 'print one entry per line', false)
      .option('--limit <n>', 'show at most this many entries, the newest', positiveInt('--limit'), 50),
  ).action(async (o: ErrorsOptions) => {
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
}

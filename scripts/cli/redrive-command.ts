import type { Command } from 'commander';
import { awsClients } from '../lib/aws-target';
import { queueUrlFor, redrive, type RedriveOutcome } from '../lib/redrive';
import { readStackOutputs } from '../lib/stack-outputs';
import { positiveInt, target, withTarget, type TargetOptions } from './options';

/** The options of this command, as commander parses them. */
interface RedriveOptions extends TargetOptions {
  readonly dryRun: boolean;
  readonly acceptPartial: boolean;
  readonly maxMessages?: number;
  readonly json: boolean;
}

/** `pipeline redrive`: re-feed the batches the on-failure queue names. */
export function registerRedrive(program: Command): void {
  withTarget(
    program
      .command('redrive')
      .description('Re-feed the batches the on-failure queue names: re-read each range from the stream and invoke the aggregator with it.')
      .option('--dry-run', 'show what would be re-fed; invoke and delete nothing', false)
      .option('--accept-partial', 're-feed what is left of a range whose records partly expired (its message is kept: the expired records were never counted)', false)
      .option('--max-messages <n>', 'handle at most this many messages', positiveInt('--max-messages'))
      .option('--json', 'print one outcome per message per line', false),
  ).action(async (o: RedriveOptions) => {
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
}

function formatOutcome(r: RedriveOutcome): string {
  const range = r.shardId ? `${r.shardId} ${r.startSequenceNumber}..${r.endSequenceNumber}` : `message ${r.messageId}`;
  const lines = [`${r.outcome.padEnd(13)} ${range}: ${r.records} record(s), ${r.invocations} invocation(s)${r.deleted ? ', message deleted' : ''}${r.detail ? ` — ${r.detail}` : ''}`];
  const preview = r.preview ?? [];
  for (const p of preview.slice(0, 20)) lines.push(`  ${p.sequenceNumber}  ${p.partitionKey}  ${p.data.length > 80 ? `${p.data.slice(0, 79)}…` : p.data}`);
  if (preview.length > 20) lines.push(`  … and ${preview.length - 20} more`);
  return lines.join('\n');
}

import { Command, InvalidArgumentError } from 'commander';
import { QueryError } from '../lib/errors';
import { registerErrors } from './errors-command';
import { registerLocal } from './local-command';
import { registerProduce } from './produce-command';
import { registerQuery } from './query-command';
import { registerRedrive } from './redrive-command';
import { registerSpec } from './spec-command';

// The `pipeline` CLI: one file per command (`*-command.ts`), each registering itself here.
const program = new Command('pipeline')
  .description('Run, feed and inspect the windowed streaming pipeline, locally or on AWS.')
  .showHelpAfterError();
registerLocal(program);
registerProduce(program);
registerQuery(program);
registerErrors(program);
registerRedrive(program);
registerSpec(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  if (e instanceof QueryError || e instanceof InvalidArgumentError) {
    console.error(`error: ${e.message}`);
  } else {
    console.error(`error: ${(e as Error).message ?? e}`);
  }
  process.exit(1);
});

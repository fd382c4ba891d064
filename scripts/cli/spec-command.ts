import { readFileSync, writeFileSync } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import { parseAggregationSpec } from '../../lambda/domain/spec';
import { DEFAULT_EVENT_TIME_FIELD, translateKdaSql, type TranslateOptions } from '../lib/kda-sql/translate';

/** The options of `spec from-sql`, as commander parses them. */
interface FromSqlOptions {
  readonly eventTimeField: string;
  readonly fieldCase: NonNullable<TranslateOptions['fieldCase']>;
  readonly key?: string;
  readonly out?: string;
}

const FIELD_CASES = ['lower', 'upper', 'preserve'] as const;

/**
 * The spec translated from a KDA SQL file, validated by the spec schema, as JSON text; notes on what changed meaning
 * go to `warn`.
 */
export function specJsonFromSql(sql: string, file: string, o: Omit<FromSqlOptions, 'out'>, warn: (line: string) => void): string {
  const { spec, notes } = translateKdaSql(sql, { eventTimeField: o.eventTimeField, fieldCase: o.fieldCase, key: o.key });
  parseAggregationSpec(spec, `spec translated from ${file}`);
  for (const n of notes) warn(`note: ${n}`);
  return `${JSON.stringify(spec, null, 2)}\n`;
}

/** `pipeline spec`: spec tools; `spec from-sql` translates Kinesis Data Analytics SQL. */
export function registerSpec(program: Command): void {
  const spec = program.command('spec').description('Aggregation spec tools.');
  spec
    .command('from-sql <file>')
    .description(
      'Translate a Kinesis Data Analytics for SQL application (its pumps) into an aggregation spec: GROUP BY with ' +
        'STEP/FLOOR windows, COUNT/SUM/MIN/MAX/AVG, COUNT_DISTINCT_ITEMS_TUMBLING, TOP_K_ITEMS_TUMBLING and WINDOWED BY ' +
        'STAGGER. See docs/migrating-from-kda-sql.md.',
    )
    .option('--event-time-field <field>', "the event field ROWTIME maps to (KDA's ROWTIME is arrival time; windows here follow event time)", DEFAULT_EVENT_TIME_FIELD)
    .option('--field-case <case>', `unquoted column names to fields: ${FIELD_CASES.join(', ')}`, (v: string) => {
      if (!(FIELD_CASES as readonly string[]).includes(v)) throw new InvalidArgumentError(`must be one of ${FIELD_CASES.join(', ')}`);
      return v;
    }, 'lower')
    .option('--key <field>', 'the group-by field of queries without keys (TOP_K_ITEMS_TUMBLING, COUNT_DISTINCT_ITEMS_TUMBLING)')
    .option('--out <file>', 'write the spec there instead of stdout')
    .action((file: string, o: FromSqlOptions) => {
      const json = specJsonFromSql(readFileSync(file, 'utf8'), file, o, (line) => console.error(line));
      if (o.out) writeFileSync(o.out, json);
      else process.stdout.write(json);
    });
}

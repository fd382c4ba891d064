/**
 * `pipeline spec from-sql`: translates the supported subset of Kinesis Data Analytics SQL into this project's spec.
 *
 * The subset: `SELECT STREAM keys, COUNT|SUM|MIN|MAX|AVG(…) … GROUP BY keys, STEP(ROWTIME BY INTERVAL 'n' UNIT)` (or
 * `FLOOR(col TO UNIT)`), `COUNT_DISTINCT_ITEMS_TUMBLING`, `TOP_K_ITEMS_TUMBLING` and `WINDOWED BY STAGGER`. Everything
 * else is refused by name, with the nearest supported form. ROWTIME (KDA's arrival time) maps to the event-time field.
 */
import { Parser } from 'node-sql-parser';
import { KdaSqlError } from './errors';
import { FLOOR_FN, kdaQueries, STEP_FN, type KdaQuery } from './statements';
import type { Token } from './tokens';

/** Options of a translation. */
export interface TranslateOptions {
  /** The event field ROWTIME maps to. @default "ts" */
  readonly eventTimeField?: string;
  /** Unquoted column names as written, or folded to lower or upper case (quoted names are always kept). @default "lower" */
  readonly fieldCase?: 'lower' | 'upper' | 'preserve';
  /** The group-by field of queries without keys (the table functions): this pipeline aggregates per key. */
  readonly key?: string;
}

/** A translation: the spec (to be validated by the spec schema) and notes on what changed meaning. */
export interface Translation {
  readonly spec: { eventTime: { field: string }; aggregations: Record<string, unknown>[] };
  readonly notes: string[];
}

/** The default event-time field ROWTIME maps to. */
export const DEFAULT_EVENT_TIME_FIELD = 'ts';

type Ast = Record<string, unknown>;
type Col = { name: string; quoted: boolean };

const NAME_MAX = 63;
/** A lower_snake_case name (the spec's rule for aggregation and measure names). */
function snake(text: string, fallback: string): string {
  const s = text.toLowerCase().replace(/[^a-z0-9_]+/g, '_').replace(/^_+|_+$/g, '');
  const named = /^[a-z]/.test(s) ? s : `${fallback}_${s}`.replace(/_+$/, '');
  return named.slice(0, NAME_MAX);
}

/** The column a column_ref names, or undefined for any other expression. */
function columnOf(e: Ast | undefined): Col | undefined {
  if (!e || e.type !== 'column_ref') return undefined;
  const expr = (e.column as { expr?: { type: string; value: string } } | string);
  if (typeof expr === 'string') return { name: expr, quoted: false };
  return expr.expr ? { name: expr.expr.value, quoted: expr.expr.type === 'double_quote_string' } : undefined;
}

function fnName(e: Ast): string {
  const n = e.name as { name?: { value: string }[] } | string;
  return (typeof n === 'string' ? n : (n.name ?? []).map((p) => p.value).join('.')).toLowerCase();
}

function fnArgs(e: Ast): Ast[] {
  return ((e.args as { value?: Ast[] } | undefined)?.value ?? []);
}

const isRowtime = (c: Col | undefined) => c !== undefined && !c.quoted && c.name.toUpperCase() === 'ROWTIME';

/** Refusals of standard clauses outside the subset, each with its nearest supported form. */
function refuseClauses(ast: Ast, where: string): void {
  const refuse = (what: string, instead: string) => {
    throw new KdaSqlError(`${what} (query at ${where}) is not supported: ${instead}`);
  };
  if (ast.with) refuse('WITH', 'translate each query on its own');
  if ((ast.distinct as { type?: string } | null)?.type) refuse('SELECT DISTINCT', 'use COUNT_DISTINCT_ITEMS_TUMBLING or a "distinct" measure');
  const from = (ast.from as Ast[] | null) ?? [];
  const join = from.find((f) => f.join);
  if (join) refuse(`${String(join.join)} (a stream join)`, 'enrich the records at the producer, then aggregate one stream');
  if (from.length !== 1) refuse(from.length === 0 ? 'a query without FROM' : 'several FROM streams', 'read one stream');
  if (from[0].expr) refuse('a subquery in FROM', 'aggregate the stream directly; filter or reshape records at the producer');
  if (ast.where) refuse('WHERE', 'filter records before they reach the stream (at the producer), or aggregate every record and filter the results in Athena');
  if (ast.having) refuse('HAVING', 'filter the window results downstream (Athena over the window_results table)');
  if (ast.orderby) refuse('ORDER BY', 'window results are emitted per window; for the most frequent values use TOP_K_ITEMS_TUMBLING (a "topK" measure)');
  if ((ast.limit as { value?: unknown[] } | null)?.value?.length) refuse('LIMIT', 'for the k most frequent values use TOP_K_ITEMS_TUMBLING (a "topK" measure)');
  if (ast.window) refuse('WINDOW (sliding windows)', "use STEP(ROWTIME BY INTERVAL 'n' SECOND) or a hopping window in the spec");
}

const AGGREGATES: Record<string, string> = { COUNT: 'count', SUM: 'sum', MIN: 'min', MAX: 'max', AVG: 'avg' };

/** Translates one query into an aggregation. */
function translateQuery(q: KdaQuery, index: number, opts: Required<Omit<TranslateOptions, 'key'>> & { key?: string }, parser: Parser, notes: string[]): { agg: Record<string, unknown>; eventTime: string } {
  let ast: Ast;
  try {
    const parsed = parser.astify(q.select, { database: 'postgresql' });
    ast = (Array.isArray(parsed) ? parsed[0] : parsed) as unknown as Ast;
  } catch (e) {
    throw new KdaSqlError(`could not parse the query at ${q.where}: ${(e as Error).message.split('\n')[0]}`);
  }
  if (ast.type !== 'select') throw new KdaSqlError(`the statement at ${q.where} is not a SELECT`);
  refuseClauses(ast, q.where);
  const field = (c: Col) => (c.quoted || opts.fieldCase === 'preserve' ? c.name : opts.fieldCase === 'lower' ? c.name.toLowerCase() : c.name.toUpperCase());
  const tokenField = (ts: readonly Token[]): Col => {
    const last = ts[ts.length - 1];
    if (!last || (last.kind !== 'ident' && last.kind !== 'qident') || ts.some((t, i) => i % 2 === 1 && t.value !== '.')) {
      throw new KdaSqlError(`PARTITION BY of the stagger window at ${q.where} takes column names only`);
    }
    return { name: last.value, quoted: last.kind === 'qident' };
  };

  let eventTime = opts.eventTimeField;
  let window: Record<string, unknown> | undefined;
  const groupBy: string[] = [];
  const timeSources: string[] = [];
  for (const g of (ast.groupby as { columns?: Ast[] } | null)?.columns ?? []) {
    const c = columnOf(g);
    if (c) {
      if (isRowtime(c)) throw new KdaSqlError(`GROUP BY ROWTIME (query at ${q.where}) groups by exact arrival time: use STEP(ROWTIME BY INTERVAL 'n' SECOND)`);
      groupBy.push(field(c));
      continue;
    }
    const name = g.type === 'function' ? fnName(g) : '';
    if (name !== STEP_FN && name !== FLOOR_FN) {
      throw new KdaSqlError(`GROUP BY expression (query at ${q.where}) is not supported: group by columns and one STEP(ROWTIME BY INTERVAL …) or FLOOR(col TO unit)`);
    }
    const [on, secs] = fnArgs(g);
    const onCol = columnOf(on);
    if (!onCol) throw new KdaSqlError(`${name === STEP_FN ? 'STEP' : 'FLOOR'} (query at ${q.where}) must apply to ROWTIME or an event-time column`);
    timeSources.push(isRowtime(onCol) ? 'ROWTIME' : field(onCol));
    // An event-time FLOOR wins over a ROWTIME STEP: event time is what this pipeline windows on.
    if (!window || !isRowtime(onCol)) {
      window = { type: 'tumbling', sizeSeconds: Number(secs.value) };
      if (!isRowtime(onCol)) eventTime = field(onCol);
    }
  }
  if (timeSources.length > 1) notes.push(`query at ${q.where}: several time groupings (${timeSources.join(', ')}); the window is the ${String(window?.sizeSeconds)}-second tumbling window on event time "${eventTime}"`);

  const measures: Record<string, unknown>[] = [];
  const used = new Set<string>();
  const measureName = (alias: unknown, fallback: string) => {
    let n = snake(typeof alias === 'string' && alias ? alias : fallback, 'm');
    for (let i = 2; used.has(n); i++) n = `${snake(typeof alias === 'string' && alias ? alias : fallback, 'm')}_${i}`;
    used.add(n);
    return n;
  };
  const columns = ast.columns as ({ expr: Ast; as: unknown }[]) | '*';
  const star = columns === '*' || (Array.isArray(columns) && columns.length === 1 && columns[0].expr.type === 'column_ref' && (columns[0].expr.column as string) === '*');
  if (q.tableFunction) {
    const tf = q.tableFunction;
    if (!star) throw new KdaSqlError(`${tf.name} (query at ${q.where}): select * from the table function; its columns are the measure`);
    if (!opts.key) {
      throw new KdaSqlError(
        `${tf.name} (query at ${q.where}) aggregates the whole stream, and this pipeline aggregates per key: ` +
          'pass --key <field> (a field every record carries, such as a region or source), or use GROUP BY keys',
      );
    }
    groupBy.push(opts.key);
    window = { type: 'tumbling', sizeSeconds: tf.sizeSeconds };
    const col = field({ name: tf.column, quoted: false });
    if (tf.name === 'TOP_K_ITEMS_TUMBLING') measures.push({ name: measureName(undefined, `top_${col}`), op: 'topK', field: col, k: tf.k });
    else measures.push({ name: measureName(undefined, `distinct_${col}`), op: 'distinct', field: col });
  } else {
    if (star) throw new KdaSqlError(`SELECT * (query at ${q.where}) is not an aggregate: list the GROUP BY keys and COUNT/SUM/MIN/MAX/AVG measures`);
    for (const { expr, as } of columns as { expr: Ast; as: unknown }[]) {
      const c = columnOf(expr);
      if (c) {
        if (isRowtime(c) || groupBy.includes(field(c)) || (q.stagger && q.stagger.partitionBy.some((p) => field(tokenField(p)) === field(c)))) continue;
        throw new KdaSqlError(`column ${c.name} (query at ${q.where}) is neither a GROUP BY key nor aggregated: add it to GROUP BY or aggregate it`);
      }
      if (expr.type === 'function' && [STEP_FN, FLOOR_FN].includes(fnName(expr))) continue; // the window start, which every result carries
      if (expr.type === 'function') {
        throw new KdaSqlError(`function ${fnName(expr).toUpperCase()} (query at ${q.where}) is not supported: use COUNT, SUM, MIN, MAX or AVG over a column, COUNT_DISTINCT_ITEMS_TUMBLING or TOP_K_ITEMS_TUMBLING`);
      }
      if (expr.type !== 'aggr_func') {
        throw new KdaSqlError(`select expression (query at ${q.where}) is not supported: select keys and COUNT/SUM/MIN/MAX/AVG(column); compute derived fields at the producer`);
      }
      const fn = String(expr.name).toUpperCase();
      const args = expr.args as { expr: Ast; distinct?: string };
      const op = AGGREGATES[fn];
      if (!op) throw new KdaSqlError(`aggregate ${fn} (query at ${q.where}) is not supported: use COUNT, SUM, MIN, MAX or AVG, COUNT_DISTINCT_ITEMS_TUMBLING or TOP_K_ITEMS_TUMBLING`);
      if (expr.over) throw new KdaSqlError(`${fn} … OVER (query at ${q.where}) is a sliding window: use a tumbling or hopping window`);
      if (args.expr.type === 'star') {
        if (op !== 'count') throw new KdaSqlError(`${fn}(*) (query at ${q.where}) is not valid SQL`);
        measures.push({ name: measureName(as, 'count'), op: 'count' });
        continue;
      }
      const arg = columnOf(args.expr);
      if (!arg || isRowtime(arg)) throw new KdaSqlError(`${fn} over an expression (query at ${q.where}) is not supported: aggregate a column; compute derived fields at the producer`);
      if (args.distinct) {
        if (op !== 'count') throw new KdaSqlError(`${fn}(DISTINCT …) (query at ${q.where}) is not supported: use COUNT(DISTINCT col) or COUNT_DISTINCT_ITEMS_TUMBLING`);
        notes.push(`query at ${q.where}: COUNT(DISTINCT ${arg.name}) becomes an approximate "distinct" measure (HyperLogLog)`);
        measures.push({ name: measureName(as, `distinct_${field(arg)}`), op: 'distinct', field: field(arg) });
      } else if (op === 'count') {
        // COUNT(col) skips SQL nulls; here a record without the field is refused, so every counted record has it.
        measures.push({ name: measureName(as, 'count'), op: 'count' });
      } else {
        measures.push({ name: measureName(as, `${op}_${field(arg)}`), op, field: field(arg) });
      }
    }
  }
  if (q.stagger) {
    if (groupBy.length > 0 || window) throw new KdaSqlError(`WINDOWED BY STAGGER (query at ${q.where}) takes its keys from PARTITION BY: drop the GROUP BY`);
    for (const p of q.stagger.partitionBy) {
      const c = tokenField(p);
      if (isRowtime(c)) throw new KdaSqlError(`PARTITION BY ROWTIME (query at ${q.where}) is not a key: partition by record fields`);
      groupBy.push(field(c));
    }
    window = { type: 'stagger', sizeSeconds: q.stagger.sizeSeconds };
  }
  if (!window) {
    throw new KdaSqlError(`GROUP BY without a time window (query at ${q.where}) is not supported: add STEP(ROWTIME BY INTERVAL 'n' SECOND) to the GROUP BY`);
  }
  if (groupBy.length === 0) {
    if (!opts.key) throw new KdaSqlError(`a query without GROUP BY keys (at ${q.where}) is not supported: group by a field, or pass --key <field>`);
    groupBy.push(opts.key);
  }
  if (measures.length === 0) throw new KdaSqlError(`query at ${q.where} has no aggregate: add COUNT(*), SUM, MIN, MAX or AVG`);
  return { agg: { name: snake(q.pump ?? `query_${index + 1}`, 'query'), groupBy, window, measures }, eventTime };
}

/**
 * Translates KDA SQL into a spec object (not yet validated: validate it with `parseAggregationSpec`).
 * @throws KdaSqlError naming the first construct outside the subset
 */
export function translateKdaSql(sql: string, options: TranslateOptions = {}): Translation {
  const opts = { eventTimeField: options.eventTimeField ?? DEFAULT_EVENT_TIME_FIELD, fieldCase: options.fieldCase ?? 'lower', key: options.key };
  const parser = new Parser();
  const notes: string[] = [];
  const queries = kdaQueries(sql);
  const translated = queries.map((q, i) => translateQuery(q, i, opts, parser, notes));
  const times = [...new Set(translated.map((t) => t.eventTime))];
  if (times.length > 1) throw new KdaSqlError(`the queries window on different event-time fields (${times.join(', ')}): a spec has one; translate them apart`);
  const names = new Set<string>();
  const aggregations = translated.map(({ agg }) => {
    let name = agg.name as string;
    for (let i = 2; names.has(name); i++) name = `${agg.name as string}_${i}`;
    names.add(name);
    return { ...agg, name };
  });
  if (times[0] === opts.eventTimeField) {
    notes.push(`ROWTIME (KDA's arrival time) maps to the event-time field "${times[0]}": windows follow when events happened, not when they arrived`);
  }
  return { spec: { eventTime: { field: times[0] }, aggregations }, notes };
}

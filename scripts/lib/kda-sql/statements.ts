/**
 * The KDA layer over standard SQL, handled on tokens: statements (`CREATE STREAM` declarations skipped, `CREATE PUMP …
 * AS INSERT INTO … SELECT` unwrapped), `SELECT STREAM`, `STEP(x BY INTERVAL 'n' UNIT)` and `FLOOR(x TO UNIT)` rewritten
 * as plain function calls, and the `WINDOWED BY STAGGER (…)` clause and `TABLE(fn(CURSOR(…), …))` table functions taken
 * out. What remains is a standard SELECT for node-sql-parser.
 */
import { KdaSqlError } from './errors';
import { closingParen, isPunct, isWord, lineCol, render, splitTopLevel, tokenize, type Token } from './tokens';

/** Seconds per interval unit KDA accepts in a window. */
export const UNIT_SECONDS: Readonly<Record<string, number>> = { SECOND: 1, MINUTE: 60, HOUR: 3_600, DAY: 86_400 };
/** The plain function names STEP and FLOOR become. */
export const STEP_FN = 'kda_step';
export const FLOOR_FN = 'kda_floor';
/** The KDA table functions the subset covers. */
export const TABLE_FUNCTIONS = ['COUNT_DISTINCT_ITEMS_TUMBLING', 'TOP_K_ITEMS_TUMBLING'] as const;
export type TableFunctionName = (typeof TABLE_FUNCTIONS)[number];

/** One KDA query: a pump's SELECT (or a bare one), with its KDA-only parts taken apart. */
export interface KdaQuery {
  /** The pump's name, when the SELECT came from a `CREATE PUMP`. */
  readonly pump?: string;
  /** The standard SELECT left for the SQL parser. */
  readonly select: string;
  /** Where the statement starts, for messages. */
  readonly where: string;
  readonly stagger?: { readonly partitionBy: readonly Token[][]; readonly sizeSeconds: number };
  readonly tableFunction?: { readonly name: TableFunctionName; readonly column: string; readonly k?: number; readonly sizeSeconds: number };
}

/** Reads `INTERVAL 'n' UNIT` at `i`; returns its seconds and the index after it. */
function interval(tokens: readonly Token[], i: number, sql: string): { seconds: number; next: number } {
  const [kw, amount, unit] = [tokens[i], tokens[i + 1], tokens[i + 2]];
  const at = lineCol(sql, (kw ?? tokens[tokens.length - 1]).pos);
  if (!isWord(kw, 'INTERVAL') || amount?.kind !== 'string' || unit?.kind !== 'ident') {
    throw new KdaSqlError(`expected INTERVAL 'n' SECOND|MINUTE|HOUR|DAY at ${at}`);
  }
  const u = unit.value.toUpperCase();
  if (!(u in UNIT_SECONDS) || isWord(tokens[i + 3], 'TO')) {
    throw new KdaSqlError(`unsupported interval unit ${render(tokens.slice(i + 2, i + 5))} at ${at}: use a single SECOND, MINUTE, HOUR or DAY`);
  }
  const n = Number(amount.value);
  if (!Number.isInteger(n) || n < 1) throw new KdaSqlError(`interval '${amount.value}' at ${at} must be a positive whole number of ${u}s`);
  return { seconds: n * UNIT_SECONDS[u], next: i + 3 };
}

const tok = (kind: Token['kind'], text: string, pos: number): Token => ({ kind, value: text, text, pos });

/** Rewrites `STEP(x BY INTERVAL …)` and `FLOOR(x TO UNIT)` as `kda_step(x, seconds)` and `kda_floor(x, seconds)`. */
function rewriteTimeFunctions(tokens: readonly Token[], sql: string): Token[] {
  const out: Token[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    const isStep = isWord(t, 'STEP');
    if ((isStep || isWord(t, 'FLOOR')) && isPunct(tokens[i + 1], '(')) {
      const close = closingParen(tokens, i + 1, sql);
      const inner = tokens.slice(i + 2, close);
      const sepWord = isStep ? 'BY' : 'TO';
      const sep = inner.findIndex((x) => isWord(x, sepWord));
      if (sep < 0) {
        if (isStep) throw new KdaSqlError(`STEP at ${lineCol(sql, t.pos)} needs "BY INTERVAL 'n' UNIT"`);
        out.push(...tokens.slice(i, close + 1));
        i = close;
        continue;
      }
      const expr = rewriteTimeFunctions(inner.slice(0, sep), sql);
      let seconds: number;
      if (isStep) {
        if (!isWord(inner[sep + 1], 'INTERVAL')) {
          throw new KdaSqlError(`STEP over an integer (${render(inner)}) at ${lineCol(sql, t.pos)} is not a time window: use STEP(ROWTIME BY INTERVAL 'n' SECOND)`);
        }
        const iv = interval(inner, sep + 1, sql);
        if (iv.next !== inner.length) throw new KdaSqlError(`unexpected ${inner[iv.next].text} in STEP at ${lineCol(sql, t.pos)}`);
        seconds = iv.seconds;
      } else {
        const unit = inner[sep + 1];
        const u = unit?.kind === 'ident' ? unit.value.toUpperCase() : '';
        if (!(u in UNIT_SECONDS) || inner.length !== sep + 2) {
          throw new KdaSqlError(`FLOOR(… TO ${unit?.text ?? ''}) at ${lineCol(sql, t.pos)}: the unit must be SECOND, MINUTE, HOUR or DAY`);
        }
        seconds = UNIT_SECONDS[u];
      }
      out.push(tok('ident', isStep ? STEP_FN : FLOOR_FN, t.pos), tok('punct', '(', t.pos), ...expr, tok('punct', ',', t.pos), tok('number', String(seconds), t.pos), tok('punct', ')', t.pos));
      i = close;
    } else {
      out.push(t);
    }
  }
  return out;
}

/** Takes `WINDOWED BY STAGGER (PARTITION BY cols RANGE INTERVAL 'n' UNIT)` out of a SELECT's tokens. */
function takeStagger(tokens: Token[], sql: string): KdaQuery['stagger'] {
  const at = tokens.findIndex((t, i) => isWord(t, 'WINDOWED') && isWord(tokens[i + 1], 'BY'));
  if (at < 0) return undefined;
  const where = lineCol(sql, tokens[at].pos);
  if (!isWord(tokens[at + 2], 'STAGGER') || !isPunct(tokens[at + 3], '(')) {
    throw new KdaSqlError(`WINDOWED BY ${tokens[at + 2]?.text ?? ''} at ${where}: only WINDOWED BY STAGGER (PARTITION BY … RANGE INTERVAL …) is supported`);
  }
  const close = closingParen(tokens, at + 3, sql);
  const inner = tokens.slice(at + 4, close);
  const range = inner.findIndex((t) => isWord(t, 'RANGE'));
  if (!isWord(inner[0], 'PARTITION') || !isWord(inner[1], 'BY') || range < 0) {
    throw new KdaSqlError(`WINDOWED BY STAGGER at ${where} needs (PARTITION BY columns RANGE INTERVAL 'n' UNIT)`);
  }
  const iv = interval(inner, range + 1, sql);
  if (iv.next !== inner.length) throw new KdaSqlError(`unexpected ${inner[iv.next].text} in WINDOWED BY STAGGER at ${where}`);
  if (close !== tokens.length - 1) throw new KdaSqlError(`unexpected ${tokens[close + 1].text} after WINDOWED BY STAGGER (…) at ${where}`);
  tokens.splice(at);
  return { partitionBy: splitTopLevel(inner.slice(2, range)), sizeSeconds: iv.seconds };
}

/** Replaces `FROM TABLE(fn(CURSOR(SELECT STREAM * FROM s), 'col', [k,] size))` with `FROM s`. */
function takeTableFunction(tokens: Token[], sql: string): KdaQuery['tableFunction'] {
  const at = tokens.findIndex((t, i) => isWord(t, 'FROM') && isWord(tokens[i + 1], 'TABLE') && isPunct(tokens[i + 2], '('));
  if (at < 0) return undefined;
  const where = lineCol(sql, tokens[at + 1].pos);
  const close = closingParen(tokens, at + 2, sql);
  const fn = tokens[at + 3];
  const name = fn?.value.toUpperCase() as TableFunctionName;
  if (fn?.kind !== 'ident' || !TABLE_FUNCTIONS.includes(name) || !isPunct(tokens[at + 4], '(')) {
    throw new KdaSqlError(
      `table function ${fn?.text ?? ''} at ${where} is not supported: the subset covers ${TABLE_FUNCTIONS.join(' and ')} ` +
        '(for other analytics, aggregate with GROUP BY keys, STEP(ROWTIME BY INTERVAL …))',
    );
  }
  const args = splitTopLevel(tokens.slice(at + 5, closingParen(tokens, at + 4, sql)));
  const cursor = args[0] ?? [];
  // CURSOR(SELECT STREAM * FROM s): anything more (a filter, a projection) is a query this subset does not translate.
  const plain = cursor.length >= 8 && isWord(cursor[0], 'CURSOR') && isWord(cursor[2], 'SELECT') && isWord(cursor[3], 'STREAM') && isPunct(cursor[4], '*') && isWord(cursor[5], 'FROM');
  if (!plain || cursor.length !== 8) {
    throw new KdaSqlError(
      `${name} at ${where}: only CURSOR(SELECT STREAM * FROM <stream>) is supported as its input ` +
        '(filter at the producer, or translate the filtering query on its own)',
    );
  }
  const source = cursor[6];
  const column = args[1]?.length === 1 && args[1][0].kind === 'string' ? args[1][0].value : undefined;
  const nums = args.slice(2).map((a) => (a.length === 1 && a[0].kind === 'number' ? Number(a[0].value) : NaN));
  const want = name === 'TOP_K_ITEMS_TUMBLING' ? 2 : 1;
  if (!column || nums.length !== want || nums.some((x) => !Number.isInteger(x) || x < 1)) {
    throw new KdaSqlError(
      `${name} at ${where} needs (CURSOR(…), 'column', ${want === 2 ? 'K, ' : ''}windowSizeSeconds) with whole positive numbers`,
    );
  }
  tokens.splice(at + 1, close - at, source);
  return { name, column, sizeSeconds: nums[nums.length - 1], ...(want === 2 ? { k: nums[0] } : {}) };
}

/** Reads a `CREATE [OR REPLACE] PUMP name AS INSERT INTO target` header; returns the pump name and where its SELECT starts. */
function pumpHeader(s: readonly Token[], sql: string): { pump: string; from: number } {
  let i = isWord(s[1], 'OR') && isWord(s[2], 'REPLACE') ? 3 : 1;
  const name = s[i + 1];
  i += 2;
  if (!isWord(s[i], 'AS') || !isWord(s[i + 1], 'INSERT') || !isWord(s[i + 2], 'INTO') || !isWord(s[i + 4], 'SELECT')) {
    throw new KdaSqlError(`CREATE PUMP at ${lineCol(sql, s[0].pos)} must read CREATE OR REPLACE PUMP name AS INSERT INTO stream SELECT STREAM …`);
  }
  return { pump: name.value, from: i + 4 };
}

/**
 * The queries of a KDA SQL application: every pump's SELECT, or the one bare SELECT. `CREATE STREAM` statements (the
 * in-application output streams) are skipped: results go to the pipeline's own sinks.
 */
export function kdaQueries(sql: string): KdaQuery[] {
  const statements = splitTopLevel(tokenize(sql), ';').filter((s) => s.length > 0);
  const out: KdaQuery[] = [];
  for (const s of statements) {
    const where = lineCol(sql, s[0].pos);
    const kind = isWord(s[1], 'OR') ? s[3] : s[1];
    if (isWord(s[0], 'CREATE') && isWord(kind, 'STREAM')) continue;
    let pump: string | undefined;
    let from = 0;
    if (isWord(s[0], 'CREATE') && isWord(kind, 'PUMP')) ({ pump, from } = pumpHeader(s, sql));
    else if (!isWord(s[0], 'SELECT')) {
      throw new KdaSqlError(`statement at ${where} (${render(s.slice(0, 4))} …) is not supported: write CREATE OR REPLACE PUMP … AS INSERT INTO … SELECT STREAM …`);
    }
    const select = s.slice(from);
    // SELECT STREAM is KDA's continuous query; a plain SELECT reads the same here.
    if (isWord(select[1], 'STREAM')) select.splice(1, 1);
    const over = select.find((t) => isWord(t, 'OVER') || isWord(t, 'WINDOW'));
    if (over) {
      throw new KdaSqlError(
        `sliding windows (${over.value.toUpperCase()} … at ${lineCol(sql, over.pos)}) are not supported: use a tumbling window ` +
          "(GROUP BY keys, STEP(ROWTIME BY INTERVAL 'n' SECOND)), or a hopping window in the spec (window.type \"hopping\")",
      );
    }
    const tableFunction = takeTableFunction(select, sql);
    const stagger = takeStagger(select, sql);
    out.push({ ...(pump ? { pump } : {}), select: render(rewriteTimeFunctions(select, sql)), where, ...(stagger ? { stagger } : {}), ...(tableFunction ? { tableFunction } : {}) });
  }
  if (out.length === 0) throw new KdaSqlError('no query found: expected CREATE OR REPLACE PUMP … AS INSERT INTO … SELECT STREAM …, or a SELECT STREAM');
  return out;
}

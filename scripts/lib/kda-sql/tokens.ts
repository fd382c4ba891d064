/**
 * A scanner for Kinesis Data Analytics (KDA) SQL text: identifiers, quoted identifiers, string literals, numbers and
 * punctuation, with comments dropped. The KDA extensions that no general SQL parser knows (`SELECT STREAM`,
 * `STEP(… BY INTERVAL …)`, `WINDOWED BY STAGGER`, `CREATE PUMP`, table functions over a `CURSOR`) are recognised on
 * these tokens (see statements.ts), and the standard rest is handed to node-sql-parser.
 */
import { KdaSqlError } from './errors';

/** What a token is. */
export type TokenKind = 'ident' | 'qident' | 'string' | 'number' | 'punct';

/** One token: its kind, its value (quotes removed, escapes resolved), its source text and where it starts. */
export interface Token {
  readonly kind: TokenKind;
  readonly value: string;
  readonly text: string;
  readonly pos: number;
}

const isIdentStart = (c: string) => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_' || c === '$';
const isDigit = (c: string) => c >= '0' && c <= '9';
const isIdentPart = (c: string) => isIdentStart(c) || isDigit(c);
/** Two-character operators, kept as one token. */
const PAIRS = new Set(['<=', '>=', '<>', '!=', '||', '::']);

/** The line and column of an offset, for messages. */
export function lineCol(sql: string, pos: number): string {
  const before = sql.slice(0, pos);
  const line = before.split('\n').length;
  return `line ${line}, column ${pos - before.lastIndexOf('\n')}`;
}

/** Splits KDA SQL into tokens. @throws KdaSqlError on an unterminated string, identifier or comment */
export function tokenize(sql: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
    } else if (c === '-' && sql[i + 1] === '-') {
      while (i < n && sql[i] !== '\n') i++;
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      if (end < 0) throw new KdaSqlError(`unterminated /* comment at ${lineCol(sql, i)}`);
      i = end + 2;
    } else if (c === "'" || c === '"') {
      // SQL doubles a quote to escape it: 'it''s', "a""b".
      const start = i;
      let value = '';
      i++;
      for (;;) {
        if (i >= n) throw new KdaSqlError(`unterminated ${c === "'" ? 'string' : 'quoted identifier'} at ${lineCol(sql, start)}`);
        if (sql[i] === c) {
          if (sql[i + 1] === c) {
            value += c;
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += sql[i++];
      }
      out.push({ kind: c === "'" ? 'string' : 'qident', value, text: sql.slice(start, i), pos: start });
    } else if (isDigit(c) || (c === '.' && isDigit(sql[i + 1] ?? ''))) {
      const start = i;
      while (i < n && (isDigit(sql[i]) || sql[i] === '.')) i++;
      if (sql[i] === 'e' || sql[i] === 'E') {
        i++;
        if (sql[i] === '+' || sql[i] === '-') i++;
        while (i < n && isDigit(sql[i])) i++;
      }
      out.push({ kind: 'number', value: sql.slice(start, i), text: sql.slice(start, i), pos: start });
    } else if (isIdentStart(c)) {
      const start = i;
      while (i < n && isIdentPart(sql[i])) i++;
      out.push({ kind: 'ident', value: sql.slice(start, i), text: sql.slice(start, i), pos: start });
    } else {
      const pair = sql.slice(i, i + 2);
      const text = PAIRS.has(pair) ? pair : c;
      out.push({ kind: 'punct', value: text, text, pos: i });
      i += text.length;
    }
  }
  return out;
}

/** Whether a token is the keyword `word` (case-insensitive, unquoted). */
export function isWord(t: Token | undefined, word: string): boolean {
  return t !== undefined && t.kind === 'ident' && t.value.toUpperCase() === word;
}

/** Whether a token is the punctuation `p`. */
export function isPunct(t: Token | undefined, p: string): boolean {
  return t !== undefined && t.kind === 'punct' && t.value === p;
}

/** The index of the parenthesis closing the one at `open`. @throws KdaSqlError when unbalanced */
export function closingParen(tokens: readonly Token[], open: number, sql: string): number {
  let depth = 0;
  for (let i = open; i < tokens.length; i++) {
    if (isPunct(tokens[i], '(')) depth++;
    else if (isPunct(tokens[i], ')') && --depth === 0) return i;
  }
  throw new KdaSqlError(`unbalanced parenthesis at ${lineCol(sql, tokens[open].pos)}`);
}

/** Splits tokens at top-level commas. */
export function splitTopLevel(tokens: readonly Token[], sep = ','): Token[][] {
  const parts: Token[][] = [[]];
  let depth = 0;
  for (const t of tokens) {
    if (isPunct(t, '(')) depth++;
    if (isPunct(t, ')')) depth--;
    if (depth === 0 && isPunct(t, sep)) parts.push([]);
    else parts[parts.length - 1].push(t);
  }
  return parts;
}

/** SQL text of tokens, re-joined with single spaces (each token keeps its quoting). */
export function render(tokens: readonly Token[]): string {
  // No space around a qualifying dot: "S".ROWTIME, not "S" . ROWTIME, which the SQL parser reads differently.
  return tokens.map((t, i) => (i === 0 || isPunct(t, '.') || isPunct(tokens[i - 1], '.') ? t.text : ` ${t.text}`)).join('');
}

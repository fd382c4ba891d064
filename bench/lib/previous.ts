import { existsSync, readFileSync } from 'node:fs';
import type { FigureResult } from './figure';

/** A figure as results.json stores it, with the time of the run that measured it. */
export type StoredFigure = FigureResult & { readonly measuredAt?: string };

/** What bench/results.json holds. */
export interface ResultsFile {
  readonly startedAt: string;
  readonly results: readonly StoredFigure[];
}

/**
 * The figures of the last results.json, by id, or an empty map when there is none or it cannot be read: a missing or
 * corrupt previous run must not stop a new one.
 */
export function readPrevious(file: string): Map<string, StoredFigure> {
  if (!existsSync(file)) return new Map();
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<ResultsFile>;
    const out = new Map<string, StoredFigure>();
    for (const r of parsed.results ?? []) {
      // Older files carry no measuredAt: the run's start stands for it.
      if (r && typeof r.id === 'string') out.set(r.id, { ...r, measuredAt: r.measuredAt ?? parsed.startedAt });
    }
    return out;
  } catch {
    return new Map();
  }
}

function fmt(x: number | null | undefined): string {
  return typeof x === 'number' && Number.isFinite(x) ? x.toFixed(3) : 'n/a';
}

/**
 * One line per ratio (the headline and each sub-ratio) with its previous value, e.g. `P1 0.410 (previous 0.430)`, so
 * that a regression shows at once. A ratio the previous run did not have says so.
 */
export function compareLines(results: readonly FigureResult[], previous: ReadonlyMap<string, StoredFigure>): string[] {
  const lines: string[] = [];
  for (const r of results) {
    const prev = previous.get(r.id);
    const was = (x: number | null | undefined) => (prev === undefined || x === undefined ? '(no previous)' : `(previous ${fmt(x)})`);
    // A headline whose reference changed is not comparable with the old value; say so rather than show a jump.
    // Numbers are measurements, not the reference's definition: compare the words only.
    const kind = (ref: string) => ref.replace(/[\d.,]+/g, '#');
    const changed = prev !== undefined && kind(prev.reference) !== kind(r.reference) ? ' [reference changed]' : '';
    lines.push(`${r.id} ${fmt(r.ratio)} ${was(prev?.ratio)}${changed}`);
    for (const [name, value] of Object.entries(r.subRatios ?? {})) {
      lines.push(`${r.id} ${name} ${fmt(value)} ${was(prev?.subRatios?.[name])}`);
    }
  }
  return lines;
}

/**
 * The figures to store: this run's, then the previous file's for figures this run did not measure (with their own
 * measuredAt), so that `npm run bench -- P1` does not erase the previous P3 a later `-- P3` compares with.
 */
export function mergeResults(
  fresh: readonly FigureResult[],
  measuredAt: string,
  previous: ReadonlyMap<string, StoredFigure>,
): StoredFigure[] {
  const ids = new Set(fresh.map((r) => r.id));
  return [...fresh.map((r) => ({ ...r, measuredAt })), ...[...previous.values()].filter((r) => !ids.has(r.id))];
}

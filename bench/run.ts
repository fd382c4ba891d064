/**
 * `npm run bench`: measures P1–P6 side by side in one run, each against a reference measured in the same run, prints
 * a table and writes bench/results.json (git-ignored) with every raw number and the machine. Each ratio is printed next
 * to its value in the previous results.json, when there is one, so that a regression shows at once; figures not
 * measured this run are carried over from it.
 *
 *   npm run bench                 every figure (P5 uses the emulator at AWS_ENDPOINT_URL, starting ministack if none)
 *   npm run bench -- P1 P4        only those
 *   npm run bench -- --runs 3     each figure 3 times; the run with the median headline ratio is reported, with every
 *                                 run's ratios (headline and secondary) and their medians in results.json
 *
 * The runner re-executes itself under the aggregator's V8 flags (AGGREGATOR_V8_FLAGS, the NODE_OPTIONS the stack
 * deploys), so that P1 measures the handler as it runs in the function; every figure's reference runs in the same
 * process, under the same flags.
 *
 * Benchmarks are not tests: nothing here fails `npm test`, and the exit code is 0 whether or not targets are met
 * (1 only when a figure could not be measured).
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { AGGREGATOR_V8_FLAGS } from '../lambda/contract/env';
import type { FigureResult } from './lib/figure';
import { compareLines, mergeResults, readPrevious } from './lib/previous';
import { median, round } from './lib/stats';
import { ROOT } from './lib/workload';
import { runP1 } from './p1-handler-cpu';
import { runP2 } from './p2-dynamodb-writes';
import { runP3 } from './p3-firehose-packing';
import { runP4 } from './p4-cold-start';
import { runP5 } from './p5-end-to-end';
import { runP6 } from './p6-producer';
import { runP7 } from './p7-sketch-cost';
import { runP8 } from './p8-capacity';
import { runP9 } from './p9-shard-headroom';

const FIGURES: Record<string, (log: (l: string) => void) => Promise<FigureResult>> = {
  P1: (log) => runP1({}, log),
  P2: (log) => runP2({}, log),
  P3: (log) => runP3({}, log),
  P4: (log) => runP4({}, log),
  P5: (log) => runP5({}, log),
  P6: (log) => runP6({}, log),
  P7: (log) => runP7(log),
  P8: (log) => runP8({}, log),
  P9: (log) => runP9({}, log),
};

/** The machine, for results.json: figures are only comparable on the same one. */
function machine() {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGiB: round(os.totalmem() / 2 ** 30, 1),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    loadAverage: os.loadavg().map((x) => round(x, 2)),
  };
}

function cell(s: string, width: number): string {
  return s.length > width ? `${s.slice(0, width - 1)}…` : s.padEnd(width);
}

/** The table the issue asks for: id, figure, reference, ratio, target, met. */
export function formatTable(results: readonly FigureResult[]): string {
  const rows = results.map((r) => [
    r.id,
    r.figure,
    r.reference,
    r.ratio === null ? 'n/a' : r.ratio.toFixed(3),
    r.target,
    r.met === null ? 'n/a' : r.met ? 'yes' : 'NO',
  ]);
  const head = ['id', 'figure', 'reference', 'ratio', 'target', 'met?'];
  const widths = head.map((h, i) => Math.min(i === 1 ? 80 : 50, Math.max(h.length, ...rows.map((r) => r[i].length))));
  const line = (cols: string[]) => `| ${cols.map((c, i) => cell(c, widths[i])).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

/**
 * The figure of several runs: the run whose headline ratio is the median (the lower middle one for an even count),
 * with every run's ratios and their medians added to its raw numbers and its secondary ratios replaced by their medians.
 */
export function medianRun(runs: readonly FigureResult[]): FigureResult {
  if (runs.length === 1) return runs[0];
  const measured = runs.filter((r) => r.ratio !== null);
  if (measured.length === 0) return runs[runs.length - 1];
  const sorted = [...measured].sort((a, b) => a.ratio! - b.ratio!);
  const mid = sorted[Math.floor((sorted.length - 1) / 2)];
  const names = Object.keys(mid.subRatios ?? {});
  const subRatios = Object.fromEntries(
    names.map((k) => [k, round(median(measured.map((r) => r.subRatios?.[k]).filter((x): x is number => x !== undefined)), 4)]),
  );
  return {
    ...mid,
    ...(names.length > 0 ? { subRatios } : {}),
    note: [mid.note, `median of ${measured.length} runs (ratios ${measured.map((r) => r.ratio!.toFixed(3)).join(', ')})`].filter(Boolean).join('; '),
    raw: {
      ...mid.raw,
      runs: measured.map((r) => ({ ratio: r.ratio, met: r.met, figure: r.figure, subRatios: r.subRatios })),
    },
  };
}

/**
 * Flags of the bench process only: `--expose-gc` lets a figure collect the heap before each timed side (see
 * `collectGarbage` in bench/lib/stats.ts); it changes no collection V8 would make by itself.
 */
const BENCH_V8_FLAGS = ['--expose-gc'];

/** Re-runs this process under the aggregator's V8 flags when they are missing; undefined when they are in force. */
function underAggregatorFlags(): number | undefined {
  const missing = [...AGGREGATOR_V8_FLAGS, ...BENCH_V8_FLAGS].filter((f) => !process.execArgv.includes(f));
  if (missing.length === 0) return undefined;
  const r = spawnSync(process.execPath, [...missing, ...process.execArgv, process.argv[1], ...process.argv.slice(2)], { stdio: 'inherit' });
  return r.status ?? 1;
}

async function main(): Promise<number> {
  const relaunched = underAggregatorFlags();
  if (relaunched !== undefined) return relaunched;
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const args = process.argv.slice(2);
  let runs = 1;
  const runsAt = args.findIndex((a) => a === '--runs' || a.startsWith('--runs='));
  if (runsAt >= 0) {
    const inline = args[runsAt].startsWith('--runs=');
    runs = Number(inline ? args[runsAt].slice('--runs='.length) : args[runsAt + 1]);
    args.splice(runsAt, inline ? 1 : 2);
    if (!Number.isInteger(runs) || runs < 1) {
      console.error('--runs takes a positive integer');
      return 2;
    }
  }
  const wanted = args.map((a) => a.toUpperCase());
  const unknown = wanted.filter((w) => !FIGURES[w]);
  if (unknown.length > 0) {
    console.error(`unknown figure(s) ${unknown.join(', ')}; choose from ${Object.keys(FIGURES).join(', ')}`);
    return 2;
  }
  const ids = wanted.length > 0 ? wanted : Object.keys(FIGURES);
  const started = new Date();
  const file = join(ROOT, 'bench', 'results.json');
  const previous = readPrevious(file);
  const results: FigureResult[] = [];
  let failed = false;
  for (const id of ids) {
    const attempts: FigureResult[] = [];
    for (let run = 1; run <= runs; run++) {
      const t = performance.now();
      console.log(`# ${id}${runs > 1 ? ` (run ${run} of ${runs})` : ''} …`);
      try {
        attempts.push(await FIGURES[id]((l) => console.log(`#   ${l}`)));
      } catch (e) {
        failed = true;
        console.error(`# ${id} failed: ${e instanceof Error ? e.stack : String(e)}`);
        attempts.push({ id, figure: 'failed', reference: 'n/a', ratio: null, target: '', met: null, raw: {}, note: String(e) });
      }
      console.log(`# ${id} took ${((performance.now() - t) / 1000).toFixed(1)} s`);
    }
    results.push(medianRun(attempts));
  }
  console.log('');
  console.log(formatTable(results));
  for (const r of results) if (r.note) console.log(`${r.id}: ${r.note}`);
  console.log('');
  const when = (id: string) => previous.get(id)?.measuredAt;
  const prevRuns = [...new Set(results.map((r) => when(r.id)).filter((x): x is string => x !== undefined))];
  console.log(`ratios against the previous results.json${prevRuns.length > 0 ? ` (measured ${prevRuns.join(', ')})` : ' (none)'}:`);
  for (const l of compareLines(results, previous)) console.log(`  ${l}`);
  writeFileSync(
    file,
    `${JSON.stringify(
      {
        startedAt: started.toISOString(),
        durationSeconds: round((Date.now() - started.getTime()) / 1000, 1),
        machine: machine(),
        results: mergeResults(results, started.toISOString(), previous),
      },
      null,
      2,
    )}\n`,
  );
  console.log(`\nraw numbers: ${file}`);
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);

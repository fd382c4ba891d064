/**
 * Instruction counts of the handler on P1's batch: run under callgrind with instrumentation off, this warms the
 * handler up, collects the heap, switches instrumentation on for the counted rounds only (through
 * `callgrind_control -i`), and off again. Instruction counts do not depend on the machine's load, unlike CPU time on a
 * shared machine. Not part of `npm run bench`; docs/performance.md ("P1, fourth round") describes how to read them.
 *
 *   valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=/tmp/cg.out \
 *     node --max-semi-space-size=64 --expose-gc --import tsx bench/count-p1.ts [rounds=10] [warmup=40] [parse]
 *
 * The total `Ir` of the run is then the rounds' instructions (all threads: the compiler's and the collector's too);
 * divide by `rounds`, and split by function (`callgrind_annotate`) to set the compiler and the collector apart. With
 * `parse` as third argument it counts the parse-only reference instead.
 */
import { spawn } from 'node:child_process';
import { BENCH_START_MS, benchEvent, benchSpec, benchWorkload } from './lib/workload';
import { handleOnce, parseOnly } from './p1-handler-cpu';

/**
 * Switches instrumentation on or off. The wait for `callgrind_control` spins instead of blocking, so that this process
 * keeps running code while callgrind takes the command; the spin is counted (3–44 M instructions in all, measured with
 * no rounds), small beside ten rounds of about 300 M.
 */
async function collect(on: boolean): Promise<void> {
  const child = spawn('callgrind_control', ['-i', on ? 'on' : 'off', String(process.pid)], { stdio: 'ignore' });
  let done = false;
  child.on('exit', () => (done = true));
  while (!done) {
    const t = Date.now();
    while (Date.now() - t < 2) {
      // spin
    }
    await new Promise((r) => setImmediate(r));
  }
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 10);
  const warmup = Number(process.argv[3] ?? 40);
  const parse = process.argv[4] === 'parse';
  const n = 10_000;
  const { spec } = benchSpec();
  const event = benchEvent(benchWorkload(n));
  const nowMs = BENCH_START_MS + n * 100;
  const once = async () => (parse ? parseOnly(event) : await handleOnce(spec, event, nowMs));
  for (let i = 0; i < warmup; i++) await once();
  // The same heap at the start of every count (run with --expose-gc), so that old-generation collections do not come
  // and go between runs of the same code.
  (globalThis as { gc?: () => void }).gc?.();
  await collect(true);
  for (let i = 0; i < rounds; i++) await once();
  await collect(false);
  console.log(`${rounds} rounds of ${n} records counted after ${warmup} warm-up rounds (${parse ? 'parse-only' : 'handler'})`);
}

void main();

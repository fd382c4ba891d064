/**
 * A CPU-profile runner for P1: the handler alone on P1's batch, many rounds, no parse-only loop in between, so that
 * the profile shows only the handler. Not part of `npm run bench`.
 *
 *   node --cpu-prof --cpu-prof-dir=/tmp/p1-prof --import tsx bench/profile-p1.ts [rounds]
 */
import { BENCH_START_MS, benchEvent, benchSpec, benchWorkload } from './lib/workload';
import { handleOnce } from './p1-handler-cpu';

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 200);
  const n = 10_000;
  const { spec } = benchSpec();
  const event = benchEvent(benchWorkload(n));
  const nowMs = BENCH_START_MS + n * 100;
  const t = performance.now();
  for (let i = 0; i < rounds; i++) await handleOnce(spec, event, nowMs);
  console.log(`${rounds} rounds of ${n} records: ${((performance.now() - t) / rounds).toFixed(1)} ms per round`);
}

void main();

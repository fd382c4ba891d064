/** The median of a non-empty sample (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** The p-th percentile (0–100) by linear interpolation between closest ranks. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
}

/** Milliseconds elapsed since `start` (a `performance.now()` reading). */
export function since(start: number): number {
  return performance.now() - start;
}

/**
 * This process's CPU time (user + system, every thread: the garbage collector's helpers included), in milliseconds.
 * The in-process figures (P1, P6) time their sides with it rather than the wall clock: on a shared machine the wall
 * clock also counts the time other processes held the core, which varied the ratios by ±30 % between runs, while
 * both sides are single-threaded CPU work whose CPU time is what is being compared.
 */
export function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/**
 * A full collection, when the process exposes `gc` (the bench runner starts with `--expose-gc`), so that a timed side
 * does not pay for the garbage the previous side left: one old-generation collection landing in a side's timing moved
 * P6's ratio between 0.35 and 1.4 from run to run.
 */
export function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** CPU milliseconds since `start` (a {@link cpuNow} reading). */
export function cpuSince(start: number): number {
  return cpuNow() - start;
}

/** Runs `fn` and returns how long it took, in milliseconds. */
export async function timeIt(fn: () => unknown): Promise<number> {
  const start = performance.now();
  await fn();
  return since(start);
}

/** Rounds for display and JSON, so that results.json stays readable. */
export function round(value: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Sleeps; polling loops use it between probes. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

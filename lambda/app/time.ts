import type { TimePort } from './ports';

/**
 * How long a batch may keep retrying conflicting writes when the caller gives no deadline: inside the aggregator's
 * 60 s timeout, with room left for the emission and the lane write.
 */
export const DEFAULT_BATCH_BUDGET_MS = 45_000;

/**
 * What is kept back from the invocation's remaining time for the emission and the lane write after the windows (half
 * of it, for an invocation with less than twice this left).
 */
export const DEADLINE_MARGIN_MS = 5_000;

/**
 * A clock that only moves when it sleeps, and sleeps without waiting: the default when a caller (a test, a bench)
 * injects no time. The composition roots inject the real clock and sleep.
 */
export function virtualTime(startMs: number, random: () => number = Math.random): TimePort {
  let now = startMs;
  return {
    now: () => now,
    sleep: async (ms) => {
      now += ms;
      await new Promise<void>((resolve) => setImmediate(resolve));
    },
    random,
  };
}

/** Sleeps for a number of milliseconds; injected so that tests run without waiting. */
export type Sleep = (ms: number) => Promise<void>;

/** The real sleep. */
export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Attempts in all, the first included, when a caller sets no bound. */
export const DEFAULT_MAX_ATTEMPTS = 6;

/** Retry bounds for partial-failure retries. */
export interface BackoffOptions {
  /** Attempts in all, the first included. @default {@link DEFAULT_MAX_ATTEMPTS} */
  readonly maxAttempts?: number;
  /** Base delay of the exponential backoff. @default 50 */
  readonly baseDelayMs?: number;
  /** Cap on one delay. @default 2000 */
  readonly maxDelayMs?: number;
  readonly sleep?: Sleep;
  /** Uniform random in [0, 1), injected for deterministic tests. @default Math.random */
  readonly random?: () => number;
}

/** Exponential backoff with full jitter: a delay drawn in [0, min(cap, base * 2^attempt)). */
export function backoffDelay(attempt: number, opts: BackoffOptions): number {
  const base = opts.baseDelayMs ?? 50;
  const cap = opts.maxDelayMs ?? 2000;
  return Math.floor((opts.random ?? Math.random)() * Math.min(cap, base * 2 ** attempt));
}

/**
 * Sends `items`, then re-sends only those the transport reports as failed, with backoff, up to `maxAttempts`.
 * `send` returns the indexes (into the array it was given) that failed. Returns the items that still failed.
 */
export async function sendWithRetries<T>(
  items: readonly T[],
  send: (items: readonly T[]) => Promise<number[]>,
  opts: BackoffOptions = {},
): Promise<T[]> {
  const maxAttempts = opts.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  const sleep = opts.sleep ?? realSleep;
  let pending: readonly T[] = items;
  for (let attempt = 0; pending.length > 0 && attempt < maxAttempts; attempt++) {
    if (attempt > 0) await sleep(backoffDelay(attempt, opts));
    const failed = await send(pending);
    pending = failed.map((i) => pending[i]);
  }
  return [...pending];
}

/**
 * A seeded workload for session and stagger windows: devices that are active in bursts (events a few seconds apart)
 * separated by idle periods longer or shorter than a typical session gap, delivered with bounded disorder, so that
 * sessions open, close, and merge when a late event bridges two bursts.
 *
 * `npx tsx scripts/session-workload.ts <seed> <count>` prints the workload as NDJSON (one event per line, in delivery
 * order): fixtures/sessions-workload.ndjson is `42 600`.
 */
import { seededRandom } from './workload';

/** Options of the session workload. */
export interface SessionWorkloadOptions {
  readonly seed: number;
  readonly count: number;
  /** Event time of the first event, epoch ms. @default 2024-01-01T00:00:00Z */
  readonly startMs?: number;
  /** @default 6 */
  readonly devices?: number;
  /** @default 3 */
  readonly sites?: number;
  /** Largest delay of an event behind its place in event-time order, ms. @default 45000 */
  readonly maxDisorderMs?: number;
}

/** One event: `ts` (epoch ms), `site`, `deviceId`, `temperature`. */
export type SessionEvent = { ts: number; site: string; deviceId: string; temperature: number };

/** The workload's events in delivery order. */
export function generateSessionWorkload(opts: SessionWorkloadOptions): SessionEvent[] {
  const rnd = seededRandom(opts.seed);
  const devices = opts.devices ?? 6;
  const sites = opts.sites ?? 3;
  const start = opts.startMs ?? Date.UTC(2024, 0, 1);
  const disorder = opts.maxDisorderMs ?? 45_000;
  const next = Array.from({ length: devices }, () => start + Math.floor(rnd() * 60_000));
  const events: { at: number; e: SessionEvent }[] = [];
  for (let i = 0; i < opts.count; i++) {
    const d = Math.floor(rnd() * devices);
    const ts = next[d];
    // Mostly a few seconds to the next event; sometimes an idle period around a 30 s gap, sometimes a long one.
    const r = rnd();
    next[d] += r < 0.8 ? 1_000 + Math.floor(rnd() * 8_000) : r < 0.95 ? 20_000 + Math.floor(rnd() * 25_000) : 120_000 + Math.floor(rnd() * 300_000);
    const e = { ts, site: `s${d % sites}`, deviceId: `d${d}`, temperature: Math.round((15 + rnd() * 15) * 10) / 10 };
    events.push({ at: ts + (rnd() < 0.2 ? Math.floor(rnd() * disorder) : 0), e });
  }
  return events.sort((a, b) => a.at - b.at).map((x) => x.e);
}

if (require.main === module) {
  const [seed, count] = process.argv.slice(2).map(Number);
  for (const e of generateSessionWorkload({ seed: seed || 42, count: count || 600 })) process.stdout.write(`${JSON.stringify(e)}\n`);
}

/**
 * A seeded workload generator shared by the demo, the tests and the benchmarks: IoT sensor readings from many
 * devices across sites, with out-of-order events and a few malformed records.
 */

/** A small, fast, seedable PRNG (mulberry32): the same seed always yields the same workload. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Options of the IoT workload. */
export interface IotWorkloadOptions {
  readonly seed: number;
  readonly count: number;
  /** Event time of the first event, epoch ms. */
  readonly startMs: number;
  /** @default 50 */
  readonly devices?: number;
  /** @default 5 */
  readonly sites?: number;
  /** Event-time spacing between consecutive events. @default 100 */
  readonly stepMs?: number;
  /** Share of events whose event time is pushed back by up to `maxDisorderMs`. @default 0.1 */
  readonly disorderRatio?: number;
  /** @default 20000 */
  readonly maxDisorderMs?: number;
  /** Share of malformed records. @default 0.02 */
  readonly malformedRatio?: number;
  /** Give event times as ISO-8601 strings for this share of events (the rest as epoch ms). @default 0.5 */
  readonly isoRatio?: number;
  /** Prefix of device and site ids, to keep runs against a shared stack apart. @default "" */
  readonly idPrefix?: string;
}

/** One record to put on the stream. */
export interface GeneratedRecord {
  readonly partitionKey: string;
  readonly data: string;
  /** The event, when the record is well formed. */
  readonly event?: Record<string, unknown>;
  /** What is wrong with it, when it is malformed. */
  readonly malformation?: string;
}

const MALFORMATIONS = ['invalid-json', 'missing-ts', 'bad-ts', 'bad-temperature', 'missing-device', 'not-object'] as const;

/** Generates an IoT workload: `{deviceId, site, ts, temperature, humidity}` readings. */
export function generateIotWorkload(opts: IotWorkloadOptions): GeneratedRecord[] {
  const rnd = seededRandom(opts.seed);
  const devices = opts.devices ?? 50;
  const sites = opts.sites ?? 5;
  const step = opts.stepMs ?? 100;
  const disorderRatio = opts.disorderRatio ?? 0.1;
  const maxDisorder = opts.maxDisorderMs ?? 20_000;
  const malformedRatio = opts.malformedRatio ?? 0.02;
  const isoRatio = opts.isoRatio ?? 0.5;
  const out: GeneratedRecord[] = [];
  for (let i = 0; i < opts.count; i++) {
    const d = Math.floor(rnd() * devices);
    const prefix = opts.idPrefix ?? '';
    const deviceId = `${prefix}dev-${String(d).padStart(4, '0')}`;
    const site = `${prefix}site-${String.fromCharCode(97 + (d % sites))}`;
    let ts = opts.startMs + i * step;
    if (rnd() < disorderRatio) ts -= Math.floor(rnd() * maxDisorder);
    const temperature = Math.round((15 + rnd() * 20) * 10) / 10;
    const event: Record<string, unknown> = {
      deviceId,
      site,
      ts: rnd() < isoRatio ? new Date(ts).toISOString() : ts,
      temperature,
      humidity: Math.round(rnd() * 1000) / 10,
    };
    if (rnd() < malformedRatio) {
      const kind = MALFORMATIONS[Math.floor(rnd() * MALFORMATIONS.length)];
      out.push({ partitionKey: deviceId, data: malform(kind, event), malformation: kind });
    } else {
      out.push({ partitionKey: deviceId, data: JSON.stringify(event), event });
    }
  }
  return out;
}

function malform(kind: (typeof MALFORMATIONS)[number], event: Record<string, unknown>): string {
  switch (kind) {
    case 'invalid-json':
      return JSON.stringify(event).slice(0, -3);
    case 'missing-ts': {
      const { ts: _ts, ...rest } = event;
      return JSON.stringify(rest);
    }
    case 'bad-ts':
      return JSON.stringify({ ...event, ts: 'yesterday at noon' });
    case 'bad-temperature':
      return JSON.stringify({ ...event, temperature: 'hot' });
    case 'missing-device': {
      const { deviceId: _d, ...rest } = event;
      return JSON.stringify(rest);
    }
    case 'not-object':
      return JSON.stringify([event]);
  }
}

/** Options of the clickstream workload. */
export interface ClickstreamWorkloadOptions {
  readonly seed: number;
  readonly count: number;
  /** Event time of the first event, epoch ms. */
  readonly startMs: number;
  /** @default 200 */
  readonly users?: number;
  /** Mean events per session before a user starts a new one. @default 8 */
  readonly eventsPerSession?: number;
  /** Event-time spacing between consecutive events. @default 100 */
  readonly stepMs?: number;
  /** Prefix of user and session ids, to keep runs against a shared stack apart. @default "" */
  readonly idPrefix?: string;
}

/** The pages of the demo site. */
export const CLICKSTREAM_PAGES: readonly string[] = ['/', '/search', '/product/1', '/product/2', '/product/3', '/cart', '/checkout', '/account', '/help'];
/** The event types of the demo site; `purchase` carries an `amount`. */
export const CLICKSTREAM_EVENT_TYPES: readonly string[] = ['page_view', 'click', 'add_to_cart', 'purchase'];

/**
 * Generates a clickstream: `{sessionId, userId, page, eventType, ts, durationMs, amount?}` events. Each user keeps a
 * session for a few events, then starts another; the partition key is the session, so a session's events stay in
 * order. Always well formed (the IoT workload is the one that exercises the errors sink).
 */
export function generateClickstreamWorkload(opts: ClickstreamWorkloadOptions): GeneratedRecord[] {
  const rnd = seededRandom(opts.seed);
  const users = opts.users ?? 200;
  const perSession = opts.eventsPerSession ?? 8;
  const step = opts.stepMs ?? 100;
  const prefix = opts.idPrefix ?? '';
  const sessions = new Map<number, { id: string; left: number }>();
  let sessionSeq = 0;
  const out: GeneratedRecord[] = [];
  for (let i = 0; i < opts.count; i++) {
    const u = Math.floor(rnd() * users);
    let session = sessions.get(u);
    if (!session || session.left <= 0) {
      session = { id: `${prefix}sess-${String(sessionSeq++).padStart(6, '0')}`, left: 1 + Math.floor(rnd() * perSession * 2) };
      sessions.set(u, session);
    }
    session.left--;
    const r = rnd();
    // Most events are views and clicks; a few add to the cart, fewer buy.
    const eventType = r < 0.6 ? 'page_view' : r < 0.88 ? 'click' : r < 0.97 ? 'add_to_cart' : 'purchase';
    const page = eventType === 'purchase' ? '/checkout' : CLICKSTREAM_PAGES[Math.floor(rnd() * CLICKSTREAM_PAGES.length)];
    const event: Record<string, unknown> = {
      sessionId: session.id,
      userId: `${prefix}user-${String(u).padStart(4, '0')}`,
      page,
      eventType,
      ts: opts.startMs + i * step,
      durationMs: Math.floor(rnd() * 30_000),
    };
    if (eventType === 'purchase') event.amount = Math.round((5 + rnd() * 195) * 100) / 100;
    out.push({ partitionKey: session.id, data: JSON.stringify(event), event });
  }
  return out;
}

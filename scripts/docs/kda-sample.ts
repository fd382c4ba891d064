/**
 * The shared sample of the KDA migration guide: a seeded stream of stock trades shaped like KDA's demo stream
 * (`ticker_symbol`, `sector`, `change`, `price`), with an event time and an exchange. Written once to
 * fixtures/kda-sample.ndjson (`npx tsx scripts/docs/kda-guide.ts --sample`) and committed, so the guide's tables come
 * from a file anyone can read.
 */
import { seededRandom } from '../workload';

/** The sample's seed and size. */
export const KDA_SAMPLE_SEED = 20260127;
export const KDA_SAMPLE_RECORDS = 600;
/** Event time of the first record: a fixed instant, so windows fall the same way every run. */
export const KDA_SAMPLE_START_MS = Date.UTC(2026, 0, 27, 9, 30, 0);

/** Tickers with their sector, exchange and a weight (how often they trade: a few heavy hitters, a long tail). */
const TICKERS: readonly [string, string, string, number][] = [
  ['AMZN', 'RETAIL', 'NASDAQ', 30],
  ['NVDA', 'TECHNOLOGY', 'NASDAQ', 22],
  ['AAPL', 'TECHNOLOGY', 'NASDAQ', 16],
  ['JPM', 'FINANCIAL', 'NYSE', 9],
  ['XOM', 'ENERGY', 'NYSE', 6],
  ['INTC', 'TECHNOLOGY', 'NASDAQ', 5],
  ['KO', 'CONSUMER', 'NYSE', 4],
  ['WMT', 'RETAIL', 'NYSE', 3],
  ['PFE', 'HEALTHCARE', 'NYSE', 2],
  ['T', 'TELECOM', 'NYSE', 1],
  ['GE', 'INDUSTRIAL', 'NYSE', 1],
  ['F', 'AUTOMOTIVE', 'NYSE', 1],
];

/** The sample's records, in arrival order (a few arrive up to 20 s after their event time). */
export function kdaSample(): Record<string, unknown>[] {
  const rnd = seededRandom(KDA_SAMPLE_SEED);
  const total = TICKERS.reduce((n, t) => n + t[3], 0);
  const prices = new Map(TICKERS.map(([s], i) => [s, 20 + i * 15]));
  const out: Record<string, unknown>[] = [];
  for (let i = 0; i < KDA_SAMPLE_RECORDS; i++) {
    let r = rnd() * total;
    const [symbol, sector, exchange] = TICKERS.find((t) => (r -= t[3]) < 0) ?? TICKERS[0];
    const change = Math.round((rnd() - 0.5) * 200) / 100;
    const price = Math.round((prices.get(symbol)! + change) * 100) / 100;
    prices.set(symbol, price);
    // Half a second apart on average; one in ten records is late by up to 20 s, as uneven producers are.
    const late = rnd() < 0.1 ? Math.floor(rnd() * 20_000) : 0;
    const ts = KDA_SAMPLE_START_MS + i * 500 - late;
    out.push({ event_time: new Date(ts).toISOString(), ticker_symbol: symbol, sector, exchange, change, price });
  }
  return out;
}

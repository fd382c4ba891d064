/**
 * Top-K heavy hitters with the Misra-Gries summary in its mergeable form (Agarwal, Cormode, Huang, Phillips, Wei and
 * Yi, "Mergeable Summaries", PODS 2012): at most `capacity` counters, each a lower bound of its value's frequency.
 *
 * Error bound: with `n` values added and `n̂` the sum of the counters, every value's true frequency `f` satisfies
 * `count ≤ f ≤ count + (n − n̂) / (capacity + 1)` (a value without a counter has count 0), and `(n − n̂) / (capacity + 1)`
 * is at most `n / (capacity + 1)`. So a value seen more than `n / (capacity + 1)` times always holds a counter. The
 * bound survives any number of merges, in any order: that is what makes a batch's partial summary mergeable into the
 * stored one.
 *
 * Counters are kept lazily: up to twice the capacity, then pruned back to it by the merge rule (subtract the
 * (capacity+1)-th largest count from every counter, drop those left at zero or below), which is the same step a merge
 * takes, so the per-record cost is a map update plus an amortised O(log capacity) share of a sort.
 */

/** Bounds of a topK measure's `k`. */
export const MIN_TOP_K = 1;
export const MAX_TOP_K = 100;
/** Default capacity, as a multiple of `k`: 4·k counters, so a value above n/(4k+1) of a window is always reported. */
export const DEFAULT_TOP_K_CAPACITY_FACTOR = 4;
/** Upper bound of a topK measure's `capacity`. */
export const MAX_TOP_K_CAPACITY = 1_000;
/**
 * Largest UTF-8 size of one counted value as its JSON text: the same bound as a group-by value
 * (MAX_GROUP_BY_VALUE_BYTES in event-parser.ts), so that a hostile value cannot inflate a window item.
 */
export const MAX_TOP_K_VALUE_BYTES = 512;
/** Bytes a stored counter takes besides its value's JSON: the count (at most 16 digits) and `[`, `,`, `],`. */
const COUNTER_FRAMING_BYTES = 20;

/** The value a topK measure counts. */
export type TopKValue = string | number | boolean;

/** One entry of a topK result: the true frequency of `value` is between `count` and `count + error`. */
export interface TopKItem {
  readonly value: TopKValue;
  readonly count: number;
  readonly error: number;
}

/** The default capacity of a topK measure of `k`. */
export function defaultTopKCapacity(k: number): number {
  return DEFAULT_TOP_K_CAPACITY_FACTOR * k;
}

/** The worst-case stored size of a summary of `capacity` counters, in bytes. */
export function maxTopKStoredBytes(capacity: number): number {
  return capacity * (MAX_TOP_K_VALUE_BYTES + COUNTER_FRAMING_BYTES) + 64;
}

/** Why a value cannot be counted by a topK measure, or undefined when it can. */
export function topKValueProblem(v: unknown): string | undefined {
  const t = typeof v;
  if (t === 'string') {
    // A lone surrogate has no UTF-8 form: two different values would read back as the same one.
    if (!(v as { isWellFormed(): boolean }).isWellFormed()) return 'not well-formed Unicode (a lone surrogate)';
    if ((v as string).length * 6 + 2 > MAX_TOP_K_VALUE_BYTES) {
      const bytes = Buffer.byteLength(JSON.stringify(v), 'utf8');
      if (bytes > MAX_TOP_K_VALUE_BYTES) return `${bytes} bytes as JSON, over the ${MAX_TOP_K_VALUE_BYTES}-byte limit`;
    }
    return undefined;
  }
  if (t === 'number') return Number.isFinite(v) ? undefined : `${String(v)} is not a finite number`;
  if (t === 'boolean') return undefined;
  return `expected a string, number or boolean, got ${v === null ? 'null' : Array.isArray(v) ? 'array' : t}`;
}

/** The order of ties: strings before other scalars, then by text (so results and stored forms are deterministic). */
function tieKey(v: TopKValue): string {
  return typeof v === 'string' ? `s${v}` : `j${String(v)}`;
}

/** Orders counters by count, larger first, ties by value. */
function byCountThenValue(a: [TopKValue, number], b: [TopKValue, number]): number {
  if (b[1] !== a[1]) return b[1] - a[1];
  const x = tieKey(a[0]);
  const y = tieKey(b[0]);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * A mergeable Misra-Gries summary. Counters are a Map keyed by the value itself: Map keys tell 1, "1" and true apart
 * with no tagging, so counting allocates nothing per record.
 */
export class TopKSketch {
  private readonly counters: Map<TopKValue, number>;

  /**
   * @param capacity counters kept (after pruning)
   * @param total values added so far (`n`)
   */
  constructor(
    readonly capacity: number,
    private total = 0,
    counters?: Map<TopKValue, number>,
  ) {
    this.counters = counters ?? new Map<TopKValue, number>();
  }

  /** Values added so far. */
  get n(): number {
    return this.total;
  }

  /** Counts one occurrence of a (validated) value. */
  add(value: TopKValue): void {
    this.total++;
    const c = this.counters.get(value);
    if (c !== undefined) this.counters.set(value, c + 1);
    else {
      this.counters.set(value, 1);
      if (this.counters.size > 2 * this.capacity) this.prune();
    }
  }

  /** Merges another summary of the same capacity into this one. */
  merge(other: TopKSketch): void {
    if (other.capacity !== this.capacity) {
      throw new Error(`cannot merge topK summaries of capacity ${other.capacity} and ${this.capacity}`);
    }
    for (const [value, count] of other.counters) this.counters.set(value, (this.counters.get(value) ?? 0) + count);
    this.total += other.total;
    if (this.counters.size > 2 * this.capacity) this.prune();
  }

  /** Keeps at most `capacity` counters: subtracts the (capacity+1)-th largest count from all, drops the non-positive. */
  private prune(): void {
    if (this.counters.size <= this.capacity) return;
    const sorted = [...this.counters].sort(byCountThenValue);
    const cut = sorted[this.capacity][1];
    this.counters.clear();
    for (const [value, count] of sorted) {
      if (count - cut <= 0) break;
      this.counters.set(value, count - cut);
    }
  }

  /** The bound on every count's undercount: ⌊(n − n̂) / (capacity + 1)⌋. */
  errorBound(): number {
    this.prune();
    let kept = 0;
    for (const c of this.counters.values()) kept += c;
    return Math.floor((this.total - kept) / (this.capacity + 1));
  }

  /** The `k` largest counters, larger first (ties by value), each with the error bound. */
  top(k: number): TopKItem[] {
    const error = this.errorBound();
    return [...this.counters]
      .sort(byCountThenValue)
      .slice(0, k)
      .map(([value, count]) => ({ value, count, error }));
  }

  clone(): TopKSketch {
    return new TopKSketch(this.capacity, this.total, new Map(this.counters));
  }

  /**
   * The stored form, pruned to the capacity: JSON `[capacity, n, [[value, count], …]]` with counters in
   * {@link top}'s order, so that equal summaries store equal text.
   */
  encode(): string {
    this.prune();
    return JSON.stringify([this.capacity, this.total, [...this.counters].sort(byCountThenValue)]);
  }

  /** Reads {@link encode}'s form back. */
  static decode(text: string): TopKSketch {
    const parsed = JSON.parse(text) as unknown;
    if (!Array.isArray(parsed) || parsed.length !== 3 || !Array.isArray(parsed[2])) throw new Error('not an encoded topK summary');
    const [capacity, total, entries] = parsed as [number, number, [TopKValue, number][]];
    return new TopKSketch(capacity, total, new Map(entries));
  }
}

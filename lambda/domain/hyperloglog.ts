/**
 * HyperLogLog (Flajolet et al., 2007) with the small-range correction, for approximate distinct counts that merge:
 * the union of two sketches is the register-wise maximum, so a batch's partial sketch merges into a stored one, and
 * merging the same records twice changes nothing.
 *
 * The relative standard error is 1.04 / sqrt(2^precision): 2.3 % at the default precision 11 (2,048 registers).
 */

/** Default precision: 2,048 one-byte registers, a 2.3 % standard error. */
export const DEFAULT_HLL_PRECISION = 11;
/** Precision bounds: 16 registers to 65,536. */
export const MIN_HLL_PRECISION = 4;
export const MAX_HLL_PRECISION = 16;

/** The relative standard error of a precision. */
export function hllStandardError(precision: number): number {
  return 1.04 / Math.sqrt(2 ** precision);
}

/** MurmurHash3 (x86, 32-bit) over a string's UTF-16 code units: fast, well mixed, and the same everywhere. */
export function murmur3(text: string, seed = 0): number {
  let h = seed >>> 0;
  const n = text.length;
  let i = 0;
  for (; i + 1 < n; i += 2) {
    let k = (text.charCodeAt(i) & 0xffff) | ((text.charCodeAt(i + 1) & 0xffff) << 16);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  if (i < n) {
    let k = text.charCodeAt(i) & 0xffff;
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
  }
  h ^= n * 2;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** 2^-r for every register value r (a byte), so that estimating takes no power per register. */
const INVERSE_POWERS_OF_TWO = Float64Array.from({ length: 256 }, (_, r) => 2 ** -r);

/** Marks the one-value hash cache of {@link HyperLogLog.add} empty. */
const NO_VALUE = Symbol('none');
let lastValue: unknown = NO_VALUE;
let lastIndexHash = 0;
let lastRankHash = 0;

/** A HyperLogLog sketch. */
export class HyperLogLog {
  readonly registers: Uint8Array;
  /**
   * The indexes of the non-zero registers while there are few of them (at most 1/16 of the registers), else undefined.
   * Why: a window's sketch usually sees few distinct values, and a batch merges many sketches (a hopping window is
   * merged from its panes); with the set registers listed, merging and estimating visit those instead of all 2^p.
   * Registers given to the constructor are taken as dense. The estimate does not depend on which path it takes:
   * every term is a multiple of 2^-33 below 2^11, so the sums are exact in any order.
   */
  private touched: number[] | undefined;

  constructor(
    readonly precision: number = DEFAULT_HLL_PRECISION,
    registers?: Uint8Array,
  ) {
    this.registers = registers ?? new Uint8Array(1 << precision);
    this.touched = registers ? undefined : [];
  }

  /** Sets register `index` to `rank` (greater than its value), keeping the list of set registers. */
  private raise(index: number, rank: number): void {
    const touched = this.touched;
    if (touched !== undefined && this.registers[index] === 0) {
      if (touched.length >= this.registers.length >>> 4) this.touched = undefined;
      else touched.push(index);
    }
    this.registers[index] = rank;
  }

  /** Adds a value; values are told apart by their JSON text, so 1 and "1" are different. */
  add(value: unknown): void {
    // An event falls into several windows (five with a 5-minute window hopping by 1 minute), and each window's sketch
    // adds the same value in a row: the previous value's hashes are reused. Only primitives are remembered, for
    // which `===` implies the same JSON text (0 and -0 both read "0").
    if (value !== lastValue || typeof value === 'object') {
      const text = typeof value === 'string' ? `s${value}` : `j${JSON.stringify(value)}`;
      // Two independent 32-bit hashes: one picks the register, the other gives the run of zeros, so that the
      // precision bits do not shorten the hash the rank is read from.
      lastIndexHash = murmur3(text, 0x9747b28c);
      lastRankHash = murmur3(text, 0x5bd1e995);
      lastValue = typeof value === 'object' ? NO_VALUE : value;
    }
    const index = lastIndexHash >>> (32 - this.precision);
    const w = lastRankHash;
    const rank = w === 0 ? 33 : Math.clz32(w) + 1;
    if (rank > this.registers[index]) this.raise(index, rank);
  }

  /** Merges another sketch of the same precision into this one. */
  merge(other: HyperLogLog): void {
    if (other.precision !== this.precision) {
      throw new Error(`cannot merge HyperLogLog sketches of precision ${other.precision} and ${this.precision}`);
    }
    const r = this.registers;
    const o = other.registers;
    const set = other.touched;
    if (set !== undefined) {
      for (let j = 0; j < set.length; j++) {
        const i = set[j];
        if (o[i] > r[i]) this.raise(i, o[i]);
      }
      return;
    }
    for (let i = 0; i < r.length; i++) if (o[i] > r[i]) r[i] = o[i];
    this.touched = undefined;
  }

  clone(): HyperLogLog {
    const copy = new HyperLogLog(this.precision, this.registers.slice());
    copy.touched = this.touched?.slice();
    return copy;
  }

  /** The estimated number of distinct values. */
  estimate(): number {
    const m = this.registers.length;
    const r = this.registers;
    let sum = 0;
    let zeros = 0;
    const set = this.touched;
    if (set !== undefined) {
      // Every other register is 0, adding 2^0 = 1.
      zeros = m - set.length;
      sum = zeros;
      for (let j = 0; j < set.length; j++) sum += INVERSE_POWERS_OF_TWO[r[set[j]]];
    } else {
      for (let i = 0; i < m; i++) {
        sum += INVERSE_POWERS_OF_TWO[r[i]];
        if (r[i] === 0) zeros++;
      }
    }
    const alpha = m === 16 ? 0.673 : m === 32 ? 0.697 : m === 64 ? 0.709 : 0.7213 / (1 + 1.079 / m);
    const raw = (alpha * m * m) / sum;
    // Small-range correction: linear counting is far more accurate while registers are still empty.
    if (raw <= 2.5 * m && zeros > 0) return m * Math.log(m / zeros);
    return raw;
  }

  /**
   * A compact text form: sparse (`s` + base64 of index/rank triples) while few registers are set, dense (`d` +
   * base64 of every register) beyond. Windows usually see few distinct values, and an UpdateItem is billed per KB of
   * item, so the sparse form keeps small sketches small.
   */
  encode(): string {
    const r = this.registers;
    let set = 0;
    for (let i = 0; i < r.length; i++) if (r[i] !== 0) set++;
    if (set * 3 < r.length) {
      const out = new Uint8Array(set * 3);
      let j = 0;
      for (let i = 0; i < r.length; i++) {
        if (r[i] === 0) continue;
        out[j++] = i >>> 8;
        out[j++] = i & 0xff;
        out[j++] = r[i];
      }
      return `s${this.precision}:${Buffer.from(out).toString('base64')}`;
    }
    return `d${this.precision}:${Buffer.from(r).toString('base64')}`;
  }

  /** Reads {@link encode}'s form back. */
  static decode(text: string): HyperLogLog {
    const m = /^([sd])(\d{1,2}):(.*)$/s.exec(text);
    if (!m) throw new Error('not an encoded HyperLogLog sketch');
    const precision = Number(m[2]);
    const bytes = Buffer.from(m[3], 'base64');
    if (m[1] === 'd') return new HyperLogLog(precision, new Uint8Array(bytes));
    const hll = new HyperLogLog(precision);
    for (let j = 0; j + 2 < bytes.length; j += 3) {
      const index = (bytes[j] << 8) | bytes[j + 1];
      const rank = bytes[j + 2];
      if (rank > hll.registers[index]) hll.raise(index, rank);
    }
    return hll;
  }
}

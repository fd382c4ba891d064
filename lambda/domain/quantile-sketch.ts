import { DDSketch } from '@datadog/sketches-js';
// The stores are not re-exported from the package root.
import { DenseStore } from '@datadog/sketches-js/dist/ddsketch/store';

/** Default DDSketch relative accuracy: a reported quantile is within 1 % of the true value. */
export const DEFAULT_RELATIVE_ACCURACY = 0.01;

/**
 * Bins per store (one store for positive values, one for negative ones), DDSketch's reference default. Beyond it the
 * bins nearest zero collapse into one, so the sketch's size stays bounded whatever the values' range, and the
 * accuracy guarantee holds for every quantile whose value is within a factor e^(2 · relativeAccuracy · 1,920) of the
 * largest magnitude (at least 1,920 bins stay after a fold): 16.7 decades at 1 % accuracy, 1.7 decades at 0.1 %, a
 * factor of 1.5 at 0.01 %. Lower quantiles of a wider range read as the smallest kept bin.
 */
export const MAX_SKETCH_BINS = 2_048;
/**
 * Values of a smaller magnitude are counted as zero (DDSketch's zero bucket). Indexing them would spend bins on
 * magnitudes no measurement means (the index of 1e-300 at 0.1 % accuracy is about −345,000).
 */
export const MIN_INDEXABLE_VALUE = 1e-9;
/**
 * Upper bound of a percentile measure's stored size, in bytes of base64 text: two full stores of
 * {@link MAX_SKETCH_BINS} 8-byte counts (about 44 KB), plus protobuf framing and the index mapping, times 4/3 for
 * base64.
 */
export const MAX_QUANTILE_SKETCH_BYTES = Math.ceil(((2 * (MAX_SKETCH_BINS * 8 + 16) + 256) * 4) / 3);

/** Bins folded beyond the strict minimum when the range must move up (the library's growth chunk). */
const FOLD_SLACK_BINS = 128;

/**
 * A dense store that never spans more than {@link MAX_SKETCH_BINS} keys: a key below the range counts in the lowest
 * kept bin, and a key above it first folds the lowest bins into the new lowest one. The library's own collapsing
 * store (2.1.1) is not used because it miscounts when it collapses (its bins came to 20,329 for 19,999 values), and
 * its plain store grows with `push(...array)`, which overflows the stack for a range of ~10^5 keys (1e-300 at 0.1 %).
 */
class BoundedStore extends DenseStore {
  override add(key: number, weight = 1): void {
    if (this.count > 0) {
      const lowest = this.maxKey - (MAX_SKETCH_BINS - 1);
      if (key < lowest) key = lowest;
      // Folding an extra chunk at once keeps an ever-growing series from refolding the whole store at every record.
      else if (key - this.minKey >= MAX_SKETCH_BINS) this.foldBelow(key - (MAX_SKETCH_BINS - 1) + FOLD_SLACK_BINS);
    }
    super.add(key, weight);
  }

  override merge(store: DenseStore): void {
    for (let key = store.minKey; key <= store.maxKey; key++) {
      const c = store.bins[key - store.offset];
      if (c) this.add(key, c);
    }
  }

  /**
   * The protobuf form of the counted keys only. Why: the library writes its whole bins array, which grows by chunks
   * of 128, so a store of ~40 counted keys (a temperature's 15–35 °C at 1 %) went out as 128 to 256 eight-byte counts,
   * mostly zeros: a stored window's sketch was 1.7 KB of base64 where 0.5 KB say the same. The library's own
   * `fromProto` (and any DDSketch reader) reads the trimmed form as the same bins; stores written untrimmed still read.
   */
  override toProto(): ReturnType<DenseStore['toProto']> {
    const counted =
      this.count === 0
        ? { contiguousBinCounts: [], contiguousBinIndexOffset: 0 }
        : { contiguousBinCounts: this.bins.slice(this.minKey - this.offset, this.maxKey - this.offset + 1), contiguousBinIndexOffset: this.minKey };
    // The message type is the library's (its typings do not resolve it); only the two fields change.
    return Object.assign(super.toProto() as object, counted) as ReturnType<DenseStore['toProto']>;
  }

  /** Rebuilds the store with every bin below `newMin` counted in `newMin`. */
  private foldBelow(newMin: number): void {
    const bins = this.bins;
    const offset = this.offset;
    const [min, max] = [this.minKey, this.maxKey];
    this.bins = [];
    this.count = 0;
    this.minKey = Infinity;
    this.maxKey = -Infinity;
    this.offset = 0;
    for (let key = min; key <= max; key++) {
      const c = bins[key - offset];
      if (c) super.add(key < newMin ? newMin : key, c);
    }
  }
}

type KeyMapping = DDSketch['mapping'];
const sharedMappings = new Map<number, KeyMapping>();

/**
 * One index mapping per relative accuracy, shared by every sketch of that accuracy (a mapping is immutable once
 * built), whose `key` remembers its previous value. Why: an event falls into several windows (five with a 5-minute
 * window hopping by 1 minute), whose sketches accept the same value in a row; each would otherwise take the same
 * logarithm. `key` is a pure function of its argument, so the cached key is the one it would compute.
 */
function sharedMapping(relativeAccuracy: number): KeyMapping {
  let mapping = sharedMappings.get(relativeAccuracy);
  if (!mapping) {
    const m = new DDSketch({ relativeAccuracy }).mapping;
    const compute = m.key.bind(m);
    let lastValue = NaN;
    let lastKey = 0;
    m.key = (value: number): number => {
      if (value !== lastValue) {
        lastKey = compute(value);
        lastValue = value;
      }
      return lastKey;
    };
    sharedMappings.set(relativeAccuracy, (mapping = m));
  }
  return mapping;
}

function newSketch(relativeAccuracy: number): DDSketch {
  const sketch = new DDSketch({ relativeAccuracy });
  sketch.mapping = sharedMapping(relativeAccuracy);
  sketch.store = new BoundedStore();
  sketch.negativeStore = new BoundedStore();
  return sketch;
}

/**
 * A mergeable quantile sketch (DDSketch, from @datadog/sketches-js): every quantile it reports is within
 * `relativeAccuracy` of the true value at that rank, and two sketches merge by adding bin counts, so a batch's partial
 * sketch merges into the stored one. Its stores collapse their lowest bins beyond {@link MAX_SKETCH_BINS}, and values
 * below {@link MIN_INDEXABLE_VALUE} in magnitude count as zero, so no value can grow it without bound.
 */
export class QuantileSketch {
  constructor(
    readonly relativeAccuracy: number = DEFAULT_RELATIVE_ACCURACY,
    readonly sketch: DDSketch = newSketch(relativeAccuracy),
  ) {}

  add(value: number): void {
    this.sketch.accept(value < MIN_INDEXABLE_VALUE && value > -MIN_INDEXABLE_VALUE ? 0 : value);
  }

  merge(other: QuantileSketch): void {
    const copies = this.sketch.count === 0;
    this.sketch.merge(other.sketch);
    // @datadog/sketches-js 2.1.1 merges only the positive store into a non-empty sketch, dropping the other's
    // negative values (its copy path, into an empty sketch, is complete). Merge them here until upstream does.
    if (!copies && other.sketch.count > 0) this.sketch.negativeStore.merge(other.sketch.negativeStore);
  }

  clone(): QuantileSketch {
    const copy = new QuantileSketch(this.relativeAccuracy);
    copy.sketch.merge(this.sketch);
    return copy;
  }

  get count(): number {
    return this.sketch.count;
  }

  /** The value at quantile `q` (0–1), or null while empty. */
  quantile(q: number): number | null {
    return this.sketch.count === 0 ? null : this.sketch.getValueAtQuantile(q);
  }

  /** Base64 of the sketch's protobuf form (what DDSketch implementations in other languages read too). */
  encode(): string {
    return Buffer.from(this.sketch.toProto()).toString('base64');
  }

  /** Reads {@link encode}'s form back into bounded stores (the protobuf form does not say which store it was). */
  static decode(text: string, relativeAccuracy: number): QuantileSketch {
    const decoded = DDSketch.fromProto(Buffer.from(text, 'base64'));
    const out = new QuantileSketch(relativeAccuracy);
    const s = out.sketch;
    // The protobuf form keeps gamma, and the library rebuilds the mapping from it through the relative accuracy, which
    // moves the mapping's constants in their last bits: quantiles read back drifted by about 1e-12 from the sketch that
    // was written, and a value added after the round trip could land in a neighbouring bin. The encoded mapping is this
    // accuracy's own whenever it matches it that closely, so that one is used.
    const own = sharedMapping(relativeAccuracy);
    s.mapping = sameMapping(decoded.mapping, own) ? own : decoded.mapping;
    s.zeroCount = decoded.zeroCount;
    s.store = bounded(decoded.store);
    s.negativeStore = bounded(decoded.negativeStore);
    s.count = decoded.count;
    return out;
  }
}

/**
 * Relative difference in gamma below which a decoded mapping is taken for the configured one: far below the gap
 * between any two accuracies a spec can set, far above the drift of a protobuf round trip.
 */
const SAME_GAMMA = 1e-9;

/** The fields of an index mapping's protobuf form. */
interface MappingFields {
  readonly gamma: number;
  readonly indexOffset: number;
  readonly interpolation: number;
}

/** Whether a decoded mapping is the configured one, up to the drift of rebuilding it from its gamma. */
function sameMapping(decoded: KeyMapping, own: KeyMapping): boolean {
  // The protobuf message type is not resolvable from the package's typings; these three fields are all it has.
  const a = decoded.toProto() as MappingFields;
  const b = own.toProto() as MappingFields;
  return a.interpolation === b.interpolation && a.indexOffset === b.indexOffset && Math.abs(a.gamma - b.gamma) <= SAME_GAMMA * b.gamma;
}

/** A bounded copy of a decoded store (folding its lowest bins if it spans more than {@link MAX_SKETCH_BINS}). */
function bounded(store: DenseStore): DenseStore {
  const out = new BoundedStore();
  out.merge(store);
  return out;
}

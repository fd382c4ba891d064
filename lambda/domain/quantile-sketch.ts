import { DDSketch } from '@datadog/sketches-js';

/** Default DDSketch relative accuracy: a reported quantile is within 1 % of the true value. */
export const DEFAULT_RELATIVE_ACCURACY = 0.01;

/**
 * A mergeable quantile sketch (DDSketch, from @datadog/sketches-js): every quantile it reports is within
 * `relativeAccuracy` of the true value at that rank, and two sketches merge by adding bin counts, so a batch's partial
 * sketch merges into the stored one. Its size grows with the logarithm of the value range, not with the count.
 */
export class QuantileSketch {
  constructor(
    readonly relativeAccuracy: number = DEFAULT_RELATIVE_ACCURACY,
    readonly sketch: DDSketch = new DDSketch({ relativeAccuracy }),
  ) {}

  add(value: number): void {
    this.sketch.accept(value);
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

  static decode(text: string, relativeAccuracy: number): QuantileSketch {
    return new QuantileSketch(relativeAccuracy, DDSketch.fromProto(Buffer.from(text, 'base64')));
  }
}

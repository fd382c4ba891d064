/** What one benchmark figure reports: the measured value, its in-run reference, and whether the target holds. */
export interface FigureResult {
  /** P1 … P6. */
  readonly id: string;
  /** What was measured, in words and units (for the table). */
  readonly figure: string;
  /** The reference measured in the same run (for the table). */
  readonly reference: string;
  /** The headline ratio of figure to reference; null when the figure has no single ratio. */
  readonly ratio: number | null;
  /** The target, as the issue states it. */
  readonly target: string;
  /** Whether every part of the target holds; null when the figure could not be measured. */
  readonly met: boolean | null;
  /** Every raw number behind the figure, for bench/results.json. */
  readonly raw: Record<string, unknown>;
  /**
   * Secondary ratios worth watching for regressions (e.g. P1 without sketches), by a short stable name; the runner
   * prints each next to its value from the previous results.json.
   */
  readonly subRatios?: Readonly<Record<string, number>>;
  /** Why the figure is missing or what qualifies it, when something does. */
  readonly note?: string;
}

/** A progress line sink, so that figures report what they do without owning stdout. */
export type BenchLog = (line: string) => void;

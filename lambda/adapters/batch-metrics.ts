import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { BatchOutcome } from '../app/process-batch';
import { BATCH_METRICS } from '../contract/metric-names';

export { BATCH_METRICS };

/** Which BatchStats counter feeds each metric. */
const FROM_STATS = {
  recordsIn: 'records',
  badRecords: 'invalid',
  lateRecords: 'lateRecords',
  windowsEmitted: 'emitted',
  windowWrites: 'windowWrites',
  writeConflicts: 'conflicts',
  repairedRecords: 'repairedRecords',
  lostRanges: 'lostRanges',
} as const satisfies Record<keyof typeof BATCH_METRICS, keyof BatchOutcome['stats']>;

/**
 * Publishes the BatchStats of each processed lane as EMF metrics. The counts of all lanes of one invocation are
 * summed and flushed once, in one EMF log line, so the metric count (and cost) does not grow with shards.
 */
export class BatchMetrics {
  private readonly totals = new Map<keyof typeof BATCH_METRICS, number>();

  constructor(private readonly metrics: Metrics) {}

  /** Adds one lane's outcome to the invocation's totals. */
  record(outcome: BatchOutcome): void {
    for (const key of Object.keys(BATCH_METRICS) as (keyof typeof BATCH_METRICS)[]) {
      this.totals.set(key, (this.totals.get(key) ?? 0) + (outcome.stats[FROM_STATS[key]] ?? 0));
    }
  }

  /** Writes the totals (zeros included, so that alarms see data rather than gaps) and resets them. */
  flush(): void {
    if (this.totals.size === 0) return;
    for (const [key, value] of this.totals) this.metrics.addMetric(BATCH_METRICS[key], MetricUnit.Count, value);
    this.totals.clear();
    this.metrics.publishStoredMetrics();
  }
}

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KinesisStreamEvent } from 'aws-lambda';
import { compileSpec, type CompiledSpec } from '../../lambda/domain/compiled-spec';
import { parseAggregationSpec, parseAggregationSpecJson, type AggregationSpec } from '../../lambda/domain/spec';
import { generateIotWorkload, type GeneratedRecord, type IotWorkloadOptions } from '../../scripts/workload';
import { kinesisEvent, sequenceNumber } from '../../fixtures/kinesis';

/** The repository root. */
export const ROOT = join(__dirname, '..', '..');
/** The spec every figure uses: the demo spec, which is also what the local stack deploys. */
export const SPEC_FILE = join(ROOT, 'specs', 'demo.json');
/** The seed of every generated workload, so that two runs measure the same records. */
export const BENCH_SEED = 20240501;
/** Event time of the first generated event: a fixed instant, so window boundaries fall the same way every run. */
export const BENCH_START_MS = Date.UTC(2024, 4, 1, 12, 0, 0);
/** The shard id the in-process figures deliver as. */
export const BENCH_SHARD = 'shardId-000000000000';

/** The demo spec, compiled as the handler compiles it. */
export function benchSpec(): { json: string; spec: CompiledSpec } {
  const json = JSON.stringify(JSON.parse(readFileSync(SPEC_FILE, 'utf8')));
  return { json, spec: compileSpec(parseAggregationSpecJson(json, SPEC_FILE)) };
}

/** A seeded IoT workload (the shared generator) with the bench's seed and start unless overridden. */
export function benchWorkload(count: number, overrides: Partial<IotWorkloadOptions> = {}): GeneratedRecord[] {
  return generateIotWorkload({ seed: BENCH_SEED, startMs: BENCH_START_MS, count, ...overrides });
}

/** A Kinesis event as the event source mapping delivers it, for records numbered from `firstSeq` in one shard. */
export function benchEvent(records: readonly GeneratedRecord[], firstSeq = 0): KinesisStreamEvent {
  return kinesisEvent(
    BENCH_SHARD,
    records.map((r, i) => ({ data: r.data, partitionKey: r.partitionKey, sequenceNumber: sequenceNumber(firstSeq + i) })),
  );
}

/** The sketch measures: the costly ones, which P1 and P7 also measure without. */
const SKETCH_OPS: ReadonlySet<string> = new Set(['distinct', 'percentile', 'topK']);

/** The topK measure P1 and P7 add to the demo spec's hopping aggregation: the ten busiest devices of a site. */
export const BENCH_TOP_K_MEASURE = { name: 'top_devices', op: 'topK', field: 'deviceId', k: 10 } as const;

/**
 * A variant of a spec, compiled: only the aggregations `keep` accepts (the demo spec's own order), optionally without
 * sketch measures. Throws when no aggregation is left, as the spec's validation would.
 */
export function specVariant(
  spec: AggregationSpec,
  opts: {
    keep?: (a: AggregationSpec['aggregations'][number]) => boolean;
    withoutSketches?: boolean;
    /** Adds {@link BENCH_TOP_K_MEASURE} to every hopping aggregation. */
    withTopK?: boolean;
    /** Replaces every kept aggregation's window. */
    window?: AggregationSpec['aggregations'][number]['window'];
  },
): CompiledSpec {
  return compileSpec(
    parseAggregationSpec({
      ...spec,
      aggregations: spec.aggregations
        .filter((a) => opts.keep?.(a) ?? true)
        .map((a) => (opts.withoutSketches ? { ...a, measures: a.measures.filter((m) => !SKETCH_OPS.has(m.op)) } : a))
        .map((a) => (opts.withTopK && a.window.type === 'hopping' ? { ...a, measures: [...a.measures, BENCH_TOP_K_MEASURE] } : a))
        .map((a) => (opts.window ? { ...a, window: opts.window } : a)),
    }),
  );
}

import * as z from 'zod';
import { DEFAULT_HLL_PRECISION, MAX_HLL_PRECISION, MIN_HLL_PRECISION } from './hyperloglog';

/**
 * The aggregation spec: which windows to keep over which events.
 *
 * It is validated twice with the same schema: at synth time (a bad spec fails `cdk synth`, naming the field) and at
 * handler init (the function refuses to start on a spec it cannot honour).
 */

const FIELD_PATH = /^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$/;
const NAME = /^[a-z][a-z0-9_]{0,62}$/;

const fieldPath = z
  .string()
  .regex(FIELD_PATH, 'must be a field name or a dotted path such as "payload.temperature"');

const measureName = z.string().regex(NAME, 'must be lower_snake_case, 1-63 characters, starting with a letter');

/** Upper bound on a window's size: a day. Longer windows belong in a batch job, not a streaming aggregate. */
export const MAX_WINDOW_SECONDS = 86_400;
/** Upper bound on the windows one event may fall into (size / hop), which bounds the write fan-out per record. */
export const MAX_WINDOWS_PER_EVENT = 60;
/** Upper bound on allowed lateness: a week, beyond which window state would be kept longer than is sensible. */
export const MAX_ALLOWED_LATENESS_SECONDS = 7 * 86_400;

const countMeasure = z.object({ name: measureName, op: z.literal('count') }).strict();
const fieldMeasure = z
  .object({ name: measureName, op: z.enum(['sum', 'min', 'max', 'avg']), field: fieldPath })
  .strict();

/** Approximate distinct count of a field's values (HyperLogLog). */
const distinctMeasure = z
  .object({
    name: measureName,
    op: z.literal('distinct'),
    field: fieldPath,
    /** Registers = 2^precision; the relative standard error is 1.04 / sqrt(2^precision). @default 11 */
    precision: z.number().int().min(MIN_HLL_PRECISION).max(MAX_HLL_PRECISION).default(DEFAULT_HLL_PRECISION),
  })
  .strict();
/** A quantile of a numeric field (DDSketch), accurate to `relativeAccuracy` of the true value. */
const percentileMeasure = z
  .object({
    name: measureName,
    op: z.literal('percentile'),
    field: fieldPath,
    /** The quantile, e.g. 0.95 for p95. */
    quantile: z.number().min(0).max(1),
    /** DDSketch's relative-accuracy guarantee. @default 0.01 */
    relativeAccuracy: z.number().min(0.0001).max(0.1).default(0.01),
  })
  .strict();

/**
 * One measure of an aggregation. `avg` is stored as sum and count, `distinct` as a HyperLogLog sketch and
 * `percentile` as a DDSketch, so every partial aggregate merges.
 */
export const measureSchema = z.discriminatedUnion('op', [countMeasure, fieldMeasure, distinctMeasure, percentileMeasure]);

const windowSeconds = z.number().int().min(1).max(MAX_WINDOW_SECONDS);

const tumblingWindow = z.object({ type: z.literal('tumbling'), sizeSeconds: windowSeconds }).strict();
const hoppingWindow = z
  .object({ type: z.literal('hopping'), sizeSeconds: windowSeconds, hopSeconds: windowSeconds })
  .strict()
  .superRefine((w, ctx) => {
    if (w.hopSeconds > w.sizeSeconds) {
      ctx.addIssue({ code: 'custom', path: ['hopSeconds'], message: `must be <= sizeSeconds (${w.sizeSeconds})` });
    } else if (w.sizeSeconds % w.hopSeconds !== 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['hopSeconds'],
        message: `must divide sizeSeconds (${w.sizeSeconds}) so that every event falls into the same number of windows`,
      });
    } else if (w.sizeSeconds / w.hopSeconds > MAX_WINDOWS_PER_EVENT) {
      ctx.addIssue({
        code: 'custom',
        path: ['hopSeconds'],
        message: `sizeSeconds / hopSeconds must be <= ${MAX_WINDOWS_PER_EVENT}`,
      });
    }
  });

/** A window definition: epoch-aligned, half-open `[start, end)`. */
export const windowSchema = z.discriminatedUnion('type', [tumblingWindow, hoppingWindow]);

/** One aggregation: a window over events grouped by `groupBy`, with its measures. */
export const aggregationSchema = z
  .object({
    name: measureName,
    groupBy: z.array(fieldPath).min(1).max(8),
    window: windowSchema,
    /** How long after a window fires late events still correct it. @default 0 */
    allowedLatenessSeconds: z.number().int().min(0).max(MAX_ALLOWED_LATENESS_SECONDS).default(0),
    measures: z.array(measureSchema).min(1).max(32),
  })
  .strict()
  .superRefine((a, ctx) => {
    const seen = new Set<string>();
    a.measures.forEach((m, i) => {
      if (seen.has(m.name)) {
        ctx.addIssue({ code: 'custom', path: ['measures', i, 'name'], message: `duplicate measure name "${m.name}"` });
      }
      seen.add(m.name);
    });
    if (new Set(a.groupBy).size !== a.groupBy.length) {
      ctx.addIssue({ code: 'custom', path: ['groupBy'], message: 'must not repeat a field' });
    }
  });

/** The whole spec. */
export const aggregationSpecSchema = z
  .object({
    eventTime: z.object({ field: fieldPath }).strict(),
    /**
     * The event fields producers build the partition key from, when they do. Declaring them lets the deployment
     * check co-partitioning, which a parallelization factor above 1 needs.
     */
    partitionKey: z.array(fieldPath).min(1).max(8).optional(),
    aggregations: z.array(aggregationSchema).min(1).max(20),
  })
  .strict()
  .superRefine((s, ctx) => {
    const seen = new Set<string>();
    s.aggregations.forEach((a, i) => {
      if (seen.has(a.name)) {
        ctx.addIssue({ code: 'custom', path: ['aggregations', i, 'name'], message: `duplicate aggregation "${a.name}"` });
      }
      seen.add(a.name);
    });
  });

export type Measure = z.infer<typeof measureSchema>;
export type MeasureOp = Measure['op'];
export type WindowDef = z.infer<typeof windowSchema>;
export type Aggregation = z.infer<typeof aggregationSchema>;
export type AggregationSpec = z.infer<typeof aggregationSpecSchema>;

/** Thrown when a spec does not validate; the message names every failing field by its path. */
export class SpecValidationError extends Error {
  constructor(
    message: string,
    /** Each failing field as `path: message`. */
    readonly issues: readonly string[],
  ) {
    super(message);
    this.name = 'SpecValidationError';
  }
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)),
    '',
  );
}

/**
 * Validates an already-parsed spec.
 * @param source where the spec came from, for the error message
 * @throws SpecValidationError naming each failing field
 */
export function parseAggregationSpec(input: unknown, source = 'aggregation spec'): AggregationSpec {
  const result = aggregationSpecSchema.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => `${formatPath(i.path) || '(root)'}: ${i.message}`);
  throw new SpecValidationError(`Invalid ${source}:\n  - ${issues.join('\n  - ')}`, issues);
}

/** Parses and validates spec JSON text. */
export function parseAggregationSpecJson(text: string, source = 'aggregation spec'): AggregationSpec {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new SpecValidationError(`Invalid ${source}: not valid JSON (${(e as Error).message})`, ['(root): not JSON']);
  }
  return parseAggregationSpec(parsed, source);
}

/**
 * The aggregations whose group-by does not include every partition-key field. With ParallelizationFactor > 1, the
 * event source runs batches of one shard concurrently and keeps order only per partition key; a window fed by several
 * partition keys would see two lanes of one shard interleave, and a per-shard fence would skip the lane behind.
 * Co-partitioning (every group-by contains the partition key, the rule Kafka Streams applies to aggregations) gives
 * every window a single partition key, hence a single ordered lane.
 */
export function nonCoPartitioned(spec: AggregationSpec): string[] {
  if (!spec.partitionKey) return spec.aggregations.map((a) => a.name);
  return spec.aggregations.filter((a) => !spec.partitionKey!.every((f) => a.groupBy.includes(f))).map((a) => a.name);
}

/** The step between consecutive window starts: the hop for hopping windows, the size for tumbling ones. */
export function windowHopMs(w: WindowDef): number {
  return (w.type === 'hopping' ? w.hopSeconds : w.sizeSeconds) * 1000;
}

/** The window length in milliseconds. */
export function windowSizeMs(w: WindowDef): number {
  return w.sizeSeconds * 1000;
}

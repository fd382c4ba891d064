import * as z from 'zod/mini';
import { en } from 'zod/locales';
import { EVENT_TIME_FORMATS } from './event-time';
import { DEFAULT_HLL_PRECISION, MAX_HLL_PRECISION, MIN_HLL_PRECISION } from './hyperloglog';
import { MEASURES_BUDGET_BYTES, worstCaseMeasuresBytes } from './item-budget';
import { SpecValidationError } from './errors';
import { MAX_TOP_K, MAX_TOP_K_CAPACITY, MIN_TOP_K, DEFAULT_TOP_K_CAPACITY_FACTOR } from './top-k';

export { SpecValidationError };

// zod's mini build (the same checks and messages as the classic API, without its chainable methods, which every
// schema instance carries and a cold start paid to build: P4) loads no locale by itself; English, as classic zod.
z.config(en());

/**
 * The aggregation spec: which windows to keep over which events.
 *
 * It is validated twice with the same schema: at synth time (a bad spec fails `cdk synth`, naming the field) and at
 * handler init (the function refuses to start on a spec it cannot honour).
 */

const FIELD_PATH = /^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$/;
const NAME = /^[a-z][a-z0-9_]{0,62}$/;

/**
 * Names no field path may use: every property of `Object.prototype` (`__proto__`, `constructor`, `toString`, …). An
 * event that lacks such a field would still yield the inherited property (a function), and a producer could not tell
 * why its record was refused.
 */
export const RESERVED_FIELD_NAMES: readonly string[] = Object.getOwnPropertyNames(Object.prototype);

const fieldPath = z.string().check(
  z.regex(FIELD_PATH, 'must be a field name or a dotted path such as "payload.temperature"'),
  z.refine((p: string) => !p.split('.').some((part) => RESERVED_FIELD_NAMES.includes(part)), {
    message: `must not use a reserved name (${RESERVED_FIELD_NAMES.join(', ')})`,
  }),
);

const measureName = z.string().check(z.regex(NAME, 'must be lower_snake_case, 1-63 characters, starting with a letter'));

/** Upper bound on a window's size: a day. Longer windows belong in a batch job, not a streaming aggregate. */
export const MAX_WINDOW_SECONDS = 86_400;
/** Upper bound on the windows one event may fall into (size / hop), which bounds the write fan-out per record. */
export const MAX_WINDOWS_PER_EVENT = 60;
/**
 * Upper bound on a session gap: an hour. A key's open sessions live in one item, and the item keeps a fired session
 * until the watermark is a gap plus the allowed lateness past its end, so a longer gap keeps more sessions per item.
 */
export const MAX_SESSION_GAP_SECONDS = 3_600;
/** Upper bound on allowed lateness: a week, beyond which window state would be kept longer than is sensible. */
export const MAX_ALLOWED_LATENESS_SECONDS = 7 * 86_400;

/** Default `eventTime.maxFutureSeconds`: an hour of clock skew or buffering ahead of the stream's arrival time. */
export const DEFAULT_MAX_FUTURE_SECONDS = 3_600;
/** Upper bound of `eventTime.maxFutureSeconds`: a week, beyond which one record could hold a shard's windows for longer. */
export const MAX_FUTURE_SECONDS = 7 * 86_400;
/** Upper bound of `eventTime.maxPastSeconds`: 100 years. */
export const MAX_PAST_SECONDS = 100 * 365 * 86_400;

const countMeasure = z.strictObject({ name: measureName, op: z.literal('count') });
const fieldMeasure = z.strictObject({ name: measureName, op: z.enum(['sum', 'min', 'max', 'avg']), field: fieldPath });

/** Approximate distinct count of a field's values (HyperLogLog). */
const distinctMeasure = z.strictObject({
  name: measureName,
  op: z.literal('distinct'),
  field: fieldPath,
  /** Registers = 2^precision; the relative standard error is 1.04 / sqrt(2^precision). @default 11 */
  precision: z._default(z.number().check(z.int(), z.gte(MIN_HLL_PRECISION), z.lte(MAX_HLL_PRECISION)), DEFAULT_HLL_PRECISION),
});
/** A quantile of a numeric field (DDSketch), accurate to `relativeAccuracy` of the true value. */
const percentileMeasure = z.strictObject({
  name: measureName,
  op: z.literal('percentile'),
  field: fieldPath,
  /** The quantile, e.g. 0.95 for p95. */
  quantile: z.number().check(z.gte(0), z.lte(1)),
  /** DDSketch's relative-accuracy guarantee. @default 0.01 */
  relativeAccuracy: z._default(z.number().check(z.gte(0.0001), z.lte(0.1)), 0.01),
});

/** The most frequent values of a field (a mergeable Misra-Gries summary, see top-k.ts). */
const topKMeasure = z.strictObject({
  name: measureName,
  op: z.literal('topK'),
  field: fieldPath,
  /** How many values a result lists, most frequent first. */
  k: z.number().check(z.int(), z.gte(MIN_TOP_K), z.lte(MAX_TOP_K)),
  /**
   * Counters kept; a count is short by at most n / (capacity + 1) for n values in the window.
   * @default 4 × k
   */
  capacity: z.optional(z.number().check(z.int(), z.gte(MIN_TOP_K), z.lte(MAX_TOP_K_CAPACITY))),
});

/**
 * One measure of an aggregation. `avg` is stored as sum and count, `distinct` as a HyperLogLog sketch,
 * `percentile` as a DDSketch and `topK` as a Misra-Gries summary, so every partial aggregate merges.
 */
export const measureSchema = z.discriminatedUnion('op', [countMeasure, fieldMeasure, distinctMeasure, percentileMeasure, topKMeasure]);

const windowSeconds = z.number().check(z.int(), z.gte(1), z.lte(MAX_WINDOW_SECONDS));

const tumblingWindow = z.strictObject({ type: z.literal('tumbling'), sizeSeconds: windowSeconds });
const hoppingWindow = z.strictObject({ type: z.literal('hopping'), sizeSeconds: windowSeconds, hopSeconds: windowSeconds }).check(
  z.superRefine((w, ctx) => {
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
  }),
);

/**
 * A session window per key: a session closes after `gapSeconds` of event-time inactivity, and never spans a multiple of
 * `maxDurationSeconds` since the epoch (see lambda/domain/key-windows.ts for why the cut is aligned).
 */
const sessionWindow = z
  .strictObject({
    type: z.literal('session'),
    gapSeconds: z.number().check(z.int(), z.gte(1), z.lte(MAX_SESSION_GAP_SECONDS)),
    maxDurationSeconds: windowSeconds,
  })
  .check(
    z.superRefine((w, ctx) => {
      if (w.maxDurationSeconds < w.gapSeconds) {
        ctx.addIssue({ code: 'custom', path: ['maxDurationSeconds'], message: `must be >= gapSeconds (${w.gapSeconds}): a session lasts at least its gap` });
      }
    }),
  );

/** A stagger window per key (KDA's `WINDOWED BY STAGGER`): it opens at the key's first event and lasts `sizeSeconds`. */
const staggerWindow = z.strictObject({ type: z.literal('stagger'), sizeSeconds: windowSeconds });

/**
 * A window definition. Tumbling and hopping windows are epoch-aligned, half-open `[start, end)`; session and stagger
 * windows are per key, opened by the key's events.
 */
export const windowSchema = z.discriminatedUnion('type', [tumblingWindow, hoppingWindow, sessionWindow, staggerWindow]);

/** Whether a window definition is per key (session, stagger) rather than epoch-aligned. */
export function isKeyedWindow(w: WindowDef): w is Extract<WindowDef, { type: 'session' | 'stagger' }> {
  return w.type === 'session' || w.type === 'stagger';
}

/** One aggregation: a window over events grouped by `groupBy`, with its measures. */
export const aggregationSchema = z
  .strictObject({
    name: measureName,
    groupBy: z.array(fieldPath).check(z.minLength(1), z.maxLength(8)),
    window: windowSchema,
    /** How long after a window fires late events still correct it. @default 0 */
    allowedLatenessSeconds: z._default(z.number().check(z.int(), z.gte(0), z.lte(MAX_ALLOWED_LATENESS_SECONDS)), 0),
    measures: z.array(measureSchema).check(z.minLength(1), z.maxLength(32)),
    /**
     * How a window's state is kept: `single`, one item per window that every shard feeding it writes; `per-shard`, one
     * partial item per (window, shard), written by that shard alone and merged when the window fires (a window many
     * shards feed then costs no shard a contended write). `auto` picks `per-shard` when the spec declares
     * `partitionKey` and the group-by does not include all of its fields (many shards feed each window), and `single`
     * otherwise: co-partitioned (one shard feeds each window), or no `partitionKey` declared (nothing says how records
     * are spread; such a spec keeps the layout it had). @default "auto"
     */
    state: z.optional(z.enum(['auto', 'single', 'per-shard'])),
  })
  .check(z.superRefine((a, ctx) => {
    const seen = new Set<string>();
    a.measures.forEach((m, i) => {
      if (seen.has(m.name)) {
        ctx.addIssue({ code: 'custom', path: ['measures', i, 'name'], message: `duplicate measure name "${m.name}"` });
      }
      seen.add(m.name);
    });
    a.measures.forEach((m, i) => {
      if (m.op === 'topK' && m.capacity !== undefined && m.capacity < m.k) {
        ctx.addIssue({
          code: 'custom',
          path: ['measures', i, 'capacity'],
          message: `must be >= k (${m.k}); the default is ${DEFAULT_TOP_K_CAPACITY_FACTOR} × k`,
        });
      }
    });
    if (new Set(a.groupBy).size !== a.groupBy.length) {
      ctx.addIssue({ code: 'custom', path: ['groupBy'], message: 'must not repeat a field' });
    }
    if (a.state === 'per-shard' && (a.window.type === 'session' || a.window.type === 'stagger')) {
      ctx.addIssue({
        code: 'custom',
        path: ['state'],
        message: `a ${a.window.type} window keeps all of a key's windows in one item (they merge and split per key): "per-shard" applies to tumbling and hopping windows only; remove "state" or set it to "single"`,
      });
    }
    const worst = worstCaseMeasuresBytes(a);
    const perItem = keyWindowsPerItem(a);
    if (perItem > 1 && (worst + KEY_WINDOW_OVERHEAD_BYTES) * perItem > MEASURES_BUDGET_BYTES) {
      ctx.addIssue({
        code: 'custom',
        path: ['allowedLatenessSeconds'],
        message:
          `a key's ${a.window.type} windows share one item, which keeps up to ${perItem} of them (allowed lateness plus ` +
          `twice the ${a.window.type === 'session' ? 'gap' : 'size'}, over the ${a.window.type === 'session' ? 'gap' : 'size'}): ` +
          `${Math.ceil(((worst + KEY_WINDOW_OVERHEAD_BYTES) * perItem) / 1024)} KB at worst, over the ${MEASURES_BUDGET_BYTES / 1024} KB ` +
          'measures budget of an item: lower allowedLatenessSeconds, raise the gap or size, or drop sketch measures',
      });
    } else if (worst > MEASURES_BUDGET_BYTES) {
      const distinct = a.measures.filter((m) => m.op === 'distinct');
      const percentile = a.measures.filter((m) => m.op === 'percentile').length;
      const topK = a.measures.filter((m) => m.op === 'topK').length;
      ctx.addIssue({
        code: 'custom',
        path: ['measures'],
        message:
          `need up to ${Math.ceil(worst / 1024)} KB per window item once their sketches fill ` +
          `(${distinct.length} distinct at precision ${distinct.map((m) => m.precision).join('/') || '-'}, ${percentile} percentile, ${topK} topK), ` +
          `over the ${MEASURES_BUDGET_BYTES / 1024} KB measures budget of a window item (DynamoDB items are at most 400 KB): ` +
          'lower the HyperLogLog precision or a topK capacity, or split the measures across aggregations',
      });
    }
  }));

/** Bookkeeping bytes of one window in a per-key item (id, bounds, version, lanes, framing). */
export const KEY_WINDOW_OVERHEAD_BYTES = 256;

/**
 * How many windows a key's item may hold at once, for per-key windows (1 otherwise). The item keeps a window until
 * the watermark is its end plus the slack (gap or size) plus the allowed lateness past it, so the windows alive span
 * about that slack twice plus the lateness; session windows start at least a gap apart within a max-duration period.
 */
export function keyWindowsPerItem(a: Pick<Aggregation, 'window' | 'allowedLatenessSeconds'>): number {
  const w = a.window;
  if (w.type !== 'session' && w.type !== 'stagger') return 1;
  const slack = w.type === 'session' ? w.gapSeconds : w.sizeSeconds;
  const span = (a.allowedLatenessSeconds ?? 0) + 2 * slack;
  return Math.ceil(span / slack) + (w.type === 'session' ? Math.ceil(span / w.maxDurationSeconds) : 0) + 1;
}

/** The whole spec. */
export const aggregationSpecSchema = z
  .strictObject({
    eventTime: z.strictObject({
        field: fieldPath,
        /**
         * How the event time is written: `iso`, `epoch-ms`, `epoch-s`, or `auto` (ISO strings, and numbers read as
         * milliseconds or seconds, whichever alone is plausible; ambiguous numbers are refused). @default "auto"
         */
        format: z._default(z.enum(EVENT_TIME_FORMATS), 'auto'),
        /**
         * Latest accepted event time, in seconds after the record's arrival on the stream. A record beyond goes to the
         * errors sink and never moves the watermark (the bound of Flink's bounded out-of-orderness). @default 3600
         */
        maxFutureSeconds: z._default(z.number().check(z.int(), z.gte(0), z.lte(MAX_FUTURE_SECONDS)), DEFAULT_MAX_FUTURE_SECONDS),
        /** Earliest accepted event time, in seconds before the record's arrival. @default unbounded (back to 1970) */
        maxPastSeconds: z.optional(z.number().check(z.int(), z.gte(1), z.lte(MAX_PAST_SECONDS))),
      }),
    /**
     * The event fields producers build the partition key from, when they do. Declaring them lets the deployment
     * check co-partitioning, which a parallelization factor above 1 needs.
     */
    partitionKey: z.optional(z.array(fieldPath).check(z.minLength(1), z.maxLength(8))),
    aggregations: z.array(aggregationSchema).check(z.minLength(1), z.maxLength(20)),
  })
  .check(z.superRefine((s, ctx) => {
    const seen = new Set<string>();
    s.aggregations.forEach((a, i) => {
      if (seen.has(a.name)) {
        ctx.addIssue({ code: 'custom', path: ['aggregations', i, 'name'], message: `duplicate aggregation "${a.name}"` });
      }
      seen.add(a.name);
    });
  }));

export type Measure = z.infer<typeof measureSchema>;
export type MeasureOp = Measure['op'];
export type WindowDef = z.infer<typeof windowSchema>;
export type Aggregation = z.infer<typeof aggregationSchema>;
export type AggregationSpec = z.infer<typeof aggregationSpecSchema>;

/** Every field name a spec may hold, at any level, for "did you mean" hints. */
const SPEC_FIELD_NAMES = [
  'eventTime', 'field', 'format', 'maxFutureSeconds', 'maxPastSeconds', 'partitionKey', 'aggregations', 'name',
  'groupBy', 'window', 'type', 'sizeSeconds', 'hopSeconds', 'allowedLatenessSeconds', 'measures', 'op', 'precision',
  'quantile', 'relativeAccuracy', 'k', 'capacity', 'gapSeconds', 'maxDurationSeconds', 'state',
];

/** Levenshtein distance, for "did you mean" hints. */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length];
}

/** The candidate nearest to `name`, if it is near enough to be a typo (at most a third of its length away). */
export function nearest(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(name, c);
    if (d < bestD) [best, bestD] = [c, d];
  }
  return bestD <= Math.max(2, Math.ceil(name.length / 3)) ? best : undefined;
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
  const issues = result.error.issues.map((i) => {
    const where = formatPath(i.path) || '(root)';
    if (i.code !== 'unrecognized_keys') return `${where}: ${i.message}`;
    const hints = i.keys.map((k) => {
      const near = nearest(k, SPEC_FIELD_NAMES);
      return near ? `"${k}" (did you mean "${near}"?)` : `"${k}"`;
    });
    return `${where}: unknown field${hints.length > 1 ? 's' : ''} ${hints.join(', ')}`;
  });
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

/**
 * The step between consecutive window starts: the hop for hopping windows, the size for tumbling ones; for per-key
 * windows, the longest a window lasts (the grid session windows are cut on, the stagger size).
 */
export function windowHopMs(w: WindowDef): number {
  return windowSizeMs(w) / (w.type === 'hopping' ? w.sizeSeconds / w.hopSeconds : 1);
}

/** The window length in milliseconds; for a session window, the longest it may last. */
export function windowSizeMs(w: WindowDef): number {
  return (w.type === 'session' ? w.maxDurationSeconds : w.sizeSeconds) * 1000;
}

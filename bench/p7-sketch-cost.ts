/**
 * P7: what the sketch measures (`distinct`, HyperLogLog; `percentile`, DDSketch) cost, against the same spec with
 * them removed: handler CPU per record on a 10,000-record batch, and the size of the window items they live in (a
 * write is billed per KB of the larger of the item before and after, so bytes per item are write units). The
 * `topK` summary (Misra-Gries) is measured the same way: the demo spec with a topK measure added, against the demo spec.
 */
import { ATTR } from '../lambda/contract/window-table-layout';
import { toStoredMeasures } from '../lambda/domain/aggregate-state';
import { compileSpec, type CompiledSpec } from '../lambda/domain/compiled-spec';
import { parseAggregationSpec, type AggregationSpec } from '../lambda/domain/spec';
import type { BenchLog, FigureResult } from './lib/figure';
import { median, round, since } from './lib/stats';
import { BENCH_START_MS, BENCH_TOP_K_MEASURE, benchEvent, benchSpec, benchWorkload, specVariant } from './lib/workload';
import { handleOnce } from './p1-handler-cpu';

/** DynamoDB bills writes per 1 KB of item. @see https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html */
const WRITE_UNIT_BYTES = 1024;

/** The demo spec without its sketch measures: the reference. */
function withoutSketches(spec: AggregationSpec): CompiledSpec {
  return compileSpec(
    parseAggregationSpec({
      ...spec,
      aggregations: spec.aggregations.map((a) => ({ ...a, measures: a.measures.filter((m) => m.op !== 'distinct' && m.op !== 'percentile') })),
    }),
  );
}

/** Approximate item bytes as DynamoDB counts them (attribute names plus values) for the stored measures map. */
function measureBytes(spec: CompiledSpec, stored: Iterable<{ ref: { aggregation: { name: string } }; stored: { state: never } }>): number[] {
  const sizes: number[] = [];
  for (const w of stored) {
    const agg = spec.byName.get(w.ref.aggregation.name)!;
    sizes.push(ATTR.measures.length + Buffer.byteLength(JSON.stringify(toStoredMeasures(agg.layout, w.stored.state))));
  }
  return sizes;
}

/** Measures P7. */
export async function runP7(log: BenchLog = () => undefined): Promise<FigureResult> {
  const n = 10_000;
  const { spec: withSketches } = benchSpec();
  const plain = withoutSketches(withSketches.spec);
  const withTopK = specVariant(withSketches.spec, { withTopK: true });
  const event = benchEvent(benchWorkload(n));
  const nowMs = BENCH_START_MS + n * 100;
  // The same measures over session and stagger windows (one item per key holding its windows), with and without the
  // sketches: what a sketch costs there, where every write rewrites all of a key's windows.
  const perKey = (window: AggregationSpec['aggregations'][number]['window'], sketches: boolean) =>
    specVariant(withSketches.spec, { window, withoutSketches: !sketches });
  const session = { type: 'session', gapSeconds: 30, maxDurationSeconds: 900 } as const;
  const stagger = { type: 'stagger', sizeSeconds: 60 } as const;
  const sides = [
    ['sketch', withSketches],
    ['plain', plain],
    ['topK', withTopK],
    ['sessionSketch', perKey(session, true)],
    ['sessionPlain', perKey(session, false)],
    ['staggerSketch', perKey(stagger, true)],
    ['staggerPlain', perKey(stagger, false)],
  ] as const;
  const timings: Record<(typeof sides)[number][0], number[]> = { sketch: [], plain: [], topK: [], sessionSketch: [], sessionPlain: [], staggerSketch: [], staggerPlain: [] };
  for (let round_ = 0; round_ < 14; round_++) {
    for (const [name, spec] of sides) {
      const t = performance.now();
      await handleOnce(spec, event, nowMs);
      if (round_ >= 4) timings[name].push(since(t));
    }
  }
  const sketchMs = median(timings.sketch);
  const plainMs = median(timings.plain);
  const topKMs = median(timings.topK);
  const sized = (spec: CompiledSpec) =>
    handleOnce(spec, event, nowMs).then(({ store }) =>
      measureBytes(spec, [...store.windows.values()].filter((w) => w.ref.aggregation.def.measures.length > 0) as never),
    );
  const sketchSizes = await sized(withSketches);
  const plainSizes = await sized(plain);
  const topKSizes = await sized(withTopK);
  const maxSketch = Math.max(...sketchSizes);
  const maxTopK = Math.max(...topKSizes);
  const units = (b: number) => Math.ceil((b + 200) / WRITE_UNIT_BYTES);
  log(`P7: ${round(sketchMs)} ms with sketches, ${round(plainMs)} ms without, ${round(topKMs)} ms with a topK added; largest measures map ${maxSketch} B (${maxTopK} B with topK)`);
  const subRatios = {
    session: round(median(timings.sessionSketch) / median(timings.sessionPlain), 3),
    stagger: round(median(timings.staggerSketch) / median(timings.staggerPlain), 3),
  };
  log(`P7 session: ${round(median(timings.sessionSketch))} ms with sketches, ${round(median(timings.sessionPlain))} ms without`);
  log(`P7 stagger: ${round(median(timings.staggerSketch))} ms with sketches, ${round(median(timings.staggerPlain))} ms without`);
  return {
    id: 'P7',
    figure:
      `${round((sketchMs * 1000) / n, 2)} µs/record with sketches; measures map median ${median(sketchSizes)} B, max ${maxSketch} B (≈${units(maxSketch)} WCU/write); ` +
      `+topK(k ${BENCH_TOP_K_MEASURE.k}) ${round((topKMs * 1000) / n, 2)} µs/record (×${round(topKMs / sketchMs, 3)}), max ${maxTopK} B (≈${units(maxTopK)} WCU/write)`,
    reference: `${round((plainMs * 1000) / n, 2)} µs/record, measures map median ${median(plainSizes)} B without them`,
    ratio: round(sketchMs / plainMs, 3),
    target: 'reported (cost per record and per write)',
    met: true,
    subRatios,
    raw: {
      records: n,
      sketchMsMedian: round(sketchMs),
      plainMsMedian: round(plainMs),
      sketchMeasureBytes: { median: median(sketchSizes), max: maxSketch },
      plainMeasureBytes: { median: median(plainSizes), max: Math.max(...plainSizes) },
      topK: {
        measure: BENCH_TOP_K_MEASURE,
        msMedian: round(topKMs),
        ratioToSketches: round(topKMs / sketchMs, 3),
        measureBytes: { median: median(topKSizes), max: maxTopK },
      },
      note: 'item size adds about 200 B of keys, fences and bookkeeping to the measures map',
    },
  };
}

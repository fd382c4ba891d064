/**
 * P1's floor (bench/lib/demo-floor.ts), the demo spec's aggregations written out by hand, is a floor only while it
 * produces what the handler produces. These tests hold it to that on workloads of several seeds, sizes and shapes,
 * which also checks the handler's results against an independent computation of the demo spec; and they check that
 * the comparison itself fails when a result differs.
 */
import { demoFloor, demoShape, floorMismatch, type FloorResult } from '../../bench/lib/demo-floor';
import { CapturingResultSink } from '../../bench/lib/memory-ports';
import { handleInto } from '../../bench/p1-handler-cpu';
import { BENCH_START_MS, benchEvent, benchSpec, benchWorkload } from '../../bench/lib/workload';
import type { IotWorkloadOptions } from '../../scripts/workload';

const { spec } = benchSpec();
const shape = demoShape(spec.spec);

async function both(count: number, overrides: Partial<IotWorkloadOptions>) {
  const event = benchEvent(benchWorkload(count, overrides));
  const sink = new CapturingResultSink();
  await handleInto(spec, event, BENCH_START_MS + count * 1_000, sink);
  return { handler: sink.results, floor: demoFloor(shape, event.Records.map((r) => r.kinesis.data)) };
}

describe('P1 floor', () => {
  test.each([
    ['the bench batch', 10_000, {}],
    ['another seed, more devices', 3_000, { seed: 7, devices: 400, sites: 9 }],
    ['heavy disorder and malformed records', 2_000, { seed: 99, disorderRatio: 0.6, maxDisorderMs: 400_000, malformedRatio: 0.2 }],
    ['sparse events, every timestamp ISO', 1_500, { seed: 3, stepMs: 7_919, isoRatio: 1 }],
    ['dense events, every timestamp a number', 5_000, { seed: 11, stepMs: 3, isoRatio: 0 }],
  ])('fires the windows the handler fires, with the same ids and measures: %s', async (_name, count, overrides) => {
    const { handler, floor } = await both(count, overrides);
    expect(handler.length).toBeGreaterThan(0);
    expect(floorMismatch(floor, handler)).toBeUndefined();
  });

  test('the comparison reports a changed measure, id, bound or a missing window', async () => {
    const { handler, floor } = await both(2_000, { seed: 5 });
    const at = floor.findIndex((r) => r.aggregation === shape.hopping.name);
    const changed = (patch: (r: FloorResult) => FloorResult) => floor.map((r, i) => (i === at ? patch(r) : r));
    const distinct = shape.hopping.names.distinct;
    expect(floorMismatch(changed((r) => ({ ...r, measures: { ...r.measures, [distinct]: (r.measures[distinct] as number) + 1 } })), handler)).toMatch(/floor .* handler/);
    expect(floorMismatch(changed((r) => ({ ...r, id: 'x'.repeat(32) })), handler)).toMatch(/no counterpart/);
    expect(floorMismatch(changed((r) => ({ ...r, windowEnd: r.windowStart })), handler)).toMatch(/floor .* handler/);
    expect(floorMismatch(floor.slice(1), handler)).toMatch(/fired \d+ windows/);
  });

  test('refuses a spec of another shape, naming what it found', () => {
    const other = { ...spec.spec, aggregations: [spec.spec.aggregations[1], spec.spec.aggregations[0]] };
    expect(() => demoShape(other)).toThrow(/demo spec's two aggregations.*site_events_5m \(hopping/);
  });
});

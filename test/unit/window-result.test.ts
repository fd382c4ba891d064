/**
 * A window result's JSON, as the results stream carries it: its properties in their documented order, `topK` only
 * when the aggregation has a topK measure. The emitted records must stay the same text across changes to how the
 * result object is built.
 */
import { emptyState } from '../../lambda/domain/aggregate-state';
import { resultId, toWindowResult } from '../../lambda/domain/window-result';
import { aggregationFactory, compiledSpecFactory, type AggregationInput } from '../support/factories';

function resultOf(measures: AggregationInput['measures']) {
  const agg = compiledSpecFactory(aggregationFactory({ measures })).aggregations[0];
  const ref = { aggregation: agg, keyJson: '["d-1"]', start: 60_000, end: 120_000 };
  return toWindowResult(ref, { state: emptyState(agg.layout), fences: {}, version: 2, pending: true, rev: 3 });
}

describe('window results', () => {
  test('without topK measures: the properties in order, no topK', () => {
    const text = JSON.stringify(resultOf([{ name: 'n', op: 'count' }]));
    const id = resultId('per_device', '["d-1"]', 60_000, 2);
    expect(text).toBe(
      `{"id":"${id}","aggregation":"per_device","key":{"d":"d-1"},"windowStart":"1970-01-01T00:01:00.000Z",` +
        `"windowEnd":"1970-01-01T00:02:00.000Z","measures":{"n":0},"final":true,"version":2}`,
    );
  });

  test('with a topK measure: topK between measures and final', () => {
    const text = JSON.stringify(resultOf([{ name: 'n', op: 'count' }, { name: 't', op: 'topK', field: 'v', k: 2 }]));
    const id = resultId('per_device', '["d-1"]', 60_000, 2);
    expect(text).toBe(
      `{"id":"${id}","aggregation":"per_device","key":{"d":"d-1"},"windowStart":"1970-01-01T00:01:00.000Z",` +
        `"windowEnd":"1970-01-01T00:02:00.000Z","measures":{"n":0},"topK":{"t":[]},"final":true,"version":2}`,
    );
  });
});

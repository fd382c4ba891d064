import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { thrownBy } from '../support/expect-error';
import { parseAggregationSpec, parseAggregationSpecJson, SpecValidationError } from '../../lambda/domain/spec';

const demo = JSON.parse(readFileSync(join(__dirname, '../../specs/demo.json'), 'utf8'));

describe('aggregation spec', () => {
  test('the demo spec validates', () => expect(parseAggregationSpec(demo).aggregations.length).toBe(2));
  test('allowed lateness defaults to 0', () => {
    const s = structuredClone(demo);
    delete s.aggregations[0].allowedLatenessSeconds;
    expect(parseAggregationSpec(s).aggregations[0].allowedLatenessSeconds).toBe(0);
  });
  const mutations: [string, (s: any) => void, string][] = [
    ['no aggregations', (s) => (s.aggregations = []), 'aggregations'],
    ['empty groupBy', (s) => (s.aggregations[0].groupBy = []), 'aggregations[0].groupBy'],
    ['unknown op', (s) => (s.aggregations[0].measures[0].op = 'median'), 'aggregations[0].measures[0].op'],
    ['sum without field', (s) => (s.aggregations[1].measures[1] = { name: 'x', op: 'sum' }), 'aggregations[1].measures[1].field'],
    ['hop not dividing size', (s) => (s.aggregations[1].window.hopSeconds = 70), 'aggregations[1].window.hopSeconds'],
    ['hop larger than size', (s) => (s.aggregations[1].window.hopSeconds = 600), 'aggregations[1].window.hopSeconds'],
    ['zero size', (s) => (s.aggregations[0].window.sizeSeconds = 0), 'aggregations[0].window.sizeSeconds'],
    ['duplicate aggregation', (s) => (s.aggregations[1].name = s.aggregations[0].name), 'aggregations[1].name'],
    ['duplicate measure', (s) => (s.aggregations[0].measures[1].name = 'events'), 'aggregations[0].measures[1].name'],
    ['negative lateness', (s) => (s.aggregations[0].allowedLatenessSeconds = -1), 'aggregations[0].allowedLatenessSeconds'],
    ['unknown property', (s) => (s.aggregations[0].colour = 'red'), 'aggregations[0]'],
    ['bad event time field', (s) => (s.eventTime.field = '1ts'), 'eventTime.field'],
  ];
  for (const [name, mutate, path] of mutations) {
    test(`rejects ${name}, naming ${path}`, () => {
      const s = structuredClone(demo);
      mutate(s);
      const e = thrownBy(() => parseAggregationSpec(s), SpecValidationError);
      // Each issue reads "<path>: <message>"; the path must be exactly the one named, not a parent or a nested one.
      expect(e.issues.map((i) => i.slice(0, i.indexOf(': ')))).toContain(path);
    });
  }
  test('rejects text that is not JSON', () => expect(() => parseAggregationSpecJson('{')).toThrow(/not valid JSON/));
});

import { parseAggregationSpec, parseAggregationSpecJson, SpecValidationError } from '../../lambda/domain/spec';
import { thrownBy } from '../support/expect-error';
import { demoSpecInput, type SpecInput } from '../support/factories';

describe('aggregation spec', () => {
  test('the demo spec validates, with its aggregations in file order', () => {
    const input = demoSpecInput();
    expect(parseAggregationSpec(input).aggregations.map((a) => a.name)).toStrictEqual(input.aggregations.map((a) => a.name));
  });
  test('allowed lateness defaults to 0', () => {
    const s = demoSpecInput();
    delete s.aggregations[0].allowedLatenessSeconds;
    expect(parseAggregationSpec(s).aggregations[0].allowedLatenessSeconds).toBe(0);
  });
  // Object.assign writes what the spec's type forbids (an unknown op, a stray property): the invalid input under test.
  const mutations: [string, string, (s: SpecInput) => void][] = [
    ['no aggregations', 'aggregations', (s) => (s.aggregations = [])],
    ['empty groupBy', 'aggregations[0].groupBy', (s) => (s.aggregations[0].groupBy = [])],
    ['unknown op', 'aggregations[0].measures[0].op', (s) => Object.assign(s.aggregations[0].measures[0], { op: 'median' })],
    ['sum without field', 'aggregations[1].measures[1].field', (s) => (s.aggregations[1].measures[1] = { name: 'x', op: 'sum' } as never)],
    ['hop not dividing size', 'aggregations[1].window.hopSeconds', (s) => Object.assign(s.aggregations[1].window, { hopSeconds: 70 })],
    ['hop larger than size', 'aggregations[1].window.hopSeconds', (s) => Object.assign(s.aggregations[1].window, { hopSeconds: 600 })],
    ['zero size', 'aggregations[0].window.sizeSeconds', (s) => ((s.aggregations[0].window as { sizeSeconds: number }).sizeSeconds = 0)],
    ['duplicate aggregation', 'aggregations[1].name', (s) => (s.aggregations[1].name = s.aggregations[0].name)],
    ['duplicate measure', 'aggregations[0].measures[1].name', (s) => (s.aggregations[0].measures[1].name = 'events')],
    ['negative lateness', 'aggregations[0].allowedLatenessSeconds', (s) => (s.aggregations[0].allowedLatenessSeconds = -1)],
    ['unknown property', 'aggregations[0]', (s) => Object.assign(s.aggregations[0], { colour: 'red' })],
    ['bad event time field', 'eventTime.field', (s) => (s.eventTime.field = '1ts')],
  ];
  test.each(mutations)('rejects %s, naming %s', (_name, path, mutate) => {
    const s = demoSpecInput();
    mutate(s);
    const e = thrownBy(() => parseAggregationSpec(s), SpecValidationError);
    // Each issue reads "<path>: <message>"; the path must be exactly the one named, not a parent or a nested one.
    expect(e.issues.map((i) => i.slice(0, i.indexOf(': ')))).toContain(path);
  });
  test('rejects text that is not JSON', () => expect(() => parseAggregationSpecJson('{')).toThrow(/not valid JSON/));
});

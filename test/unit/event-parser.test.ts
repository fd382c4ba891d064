import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { compileSpec } from '../../lambda/domain/compiled-spec';
import { parseEvent } from '../../lambda/domain/event-parser';
import { parseAggregationSpecJson } from '../../lambda/domain/spec';

const spec = compileSpec(parseAggregationSpecJson(readFileSync(join(__dirname, '../../specs/demo.json'), 'utf8')));
const good = { deviceId: 'd1', site: 's1', ts: 1000, temperature: 20.5 };

describe('event parsing', () => {
  test('accepts a complete event', () => {
    const r = parseEvent(spec, JSON.stringify(good));
    expect(r).toMatchObject({ ok: true, ts: 1000 });
  });
  const bad: [string, string, RegExp][] = [
    ['invalid JSON', '{"deviceId":', /^invalid JSON/],
    ['an array', JSON.stringify([good]), /not a JSON object \(got array\)/],
    ['null', 'null', /not a JSON object \(got null\)/],
    ['missing ts', JSON.stringify({ ...good, ts: undefined }), /missing event time field "ts"/],
    ['bad ts', JSON.stringify({ ...good, ts: 'noon' }), /invalid timestamp in "ts"/],
    ['missing group-by', JSON.stringify({ ...good, site: undefined }), /missing group-by field "site"/],
    ['object group-by', JSON.stringify({ ...good, deviceId: { a: 1 } }), /invalid group-by field "deviceId".*object/],
    ['missing measure field', JSON.stringify({ ...good, temperature: undefined }), /missing numeric field "temperature"/],
    ['string measure field', JSON.stringify({ ...good, temperature: '20' }), /invalid numeric field "temperature".*string/],
  ];
  for (const [name, text, reason] of bad) {
    test(`rejects ${name} with a reason`, () => {
      const r = parseEvent(spec, text);
      expect(r.ok).toBe(false);
      expect((r as { reason: string }).reason).toMatch(reason);
    });
  }
});

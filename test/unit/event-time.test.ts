
import { parseEventTime } from '../../lambda/domain/event-time';

describe('event time', () => {
  const ok: [unknown, number][] = [
    [1_700_000_000_123, 1_700_000_000_123],
    [1_700_000_000_123.9, 1_700_000_000_123],
    ['2024-03-01T12:00:00Z', Date.UTC(2024, 2, 1, 12)],
    ['2024-03-01T12:00:00.250Z', Date.UTC(2024, 2, 1, 12, 0, 0, 250)],
    ['2024-03-01T14:00:00+02:00', Date.UTC(2024, 2, 1, 12)],
    ['2024-03-01', Date.UTC(2024, 2, 1)],
    [0, 0],
  ];
  for (const [input, ms] of ok) {
    test(`accepts ${JSON.stringify(input)}`, () => expect(parseEventTime(input, 'ts')).toStrictEqual({ ok: true, ms }));
  }
  const bad: [unknown, RegExp][] = [
    [undefined, /missing event time field "ts"/],
    [null, /missing/],
    ['2024-03-01T12:00:00', /with a zone/],
    ['yesterday', /ISO-8601/],
    ['2024-13-45T00:00:00Z', /not a valid date/],
    [true, /expected a number or a string, got boolean/],
    [-1, /out of range/],
    [Number.NaN, /not a valid date/],
    [1e20, /out of range/],
  ];
  for (const [input, reason] of bad) {
    test(`rejects ${String(input)}`, () => {
      const r = parseEventTime(input, 'ts');
      expect(r.ok).toBe(false);
      expect((r as { reason: string }).reason).toMatch(reason);
    });
  }
});

import { fc, test } from '@fast-check/jest';
import { isAfter, positionOf } from '../../lambda/domain/sequence';

/** Sequence numbers of every width Kinesis allows (1–129 digits), as integers: the reference order. */
const anySequence = fc.bigInt({ min: 0n, max: 10n ** 129n - 1n });
/** Real sequence numbers are 56 digits: past a double's precision and DynamoDB's 38-digit numbers. */
const realSequence = fc.bigInt({ min: 10n ** 55n, max: 10n ** 56n - 1n });
const subSequence = fc.nat(1_000_000);

/** The reference order: sequence numbers as integers, then sub-sequence numbers. */
const after = (a: bigint, sa: number, b: bigint, sb: number) => (a === b ? sa > sb : a > b);

describe('record positions', () => {
  test.prop([anySequence, anySequence, subSequence, subSequence])(
    'order like the sequence numbers as integers, then the sub-sequence numbers',
    (a, b, sa, sb) => {
      expect(isAfter(positionOf(a.toString(), sa), positionOf(b.toString(), sb))).toBe(after(a, sa, b, sb));
    },
  );

  test.prop([realSequence, fc.bigInt({ min: 1n, max: 10n ** 20n }), subSequence])(
    'real 56-digit sequence numbers that differ only past the 17th digit still order, and compare as plain strings',
    (a, delta, sub) => {
      const lo = positionOf(a.toString(), sub);
      const hi = positionOf((a + delta).toString(), sub);
      expect(isAfter(hi, lo)).toBe(true);
      expect(isAfter(lo, hi)).toBe(false);
      // DynamoDB compares the stored positions as strings, not through isAfter.
      expect([hi, lo].sort()).toStrictEqual([lo, hi]);
    },
  );

  // Three zeros more stay within the 129 characters a sequence number may have.
  test.prop([fc.bigInt({ min: 0n, max: 10n ** 126n - 1n }), subSequence])('leading zeros do not change a position', (a, sub) => {
    expect(positionOf(`000${a.toString()}`, sub)).toBe(positionOf(a.toString(), sub));
  });

  test.prop([fc.bigInt({ min: 1n, max: 10n ** 129n - 1n }), subSequence])(
    'a lane without a fence takes every record; a fence at a record takes only what comes after it (no redelivery twice)',
    (a, sub) => {
      const p = positionOf(a.toString(), sub);
      expect(isAfter(p, undefined)).toBe(true);
      expect(isAfter(p, p)).toBe(false);
      expect(isAfter(p, positionOf((a - 1n).toString(), sub))).toBe(true);
      expect(isAfter(positionOf((a - 1n).toString(), sub), p)).toBe(false);
    },
  );

  test('rejects a non-decimal, empty or over-long sequence number', () => {
    expect(() => positionOf('12a')).toThrow(/invalid sequence number/);
    expect(() => positionOf('')).toThrow(/invalid sequence number/);
    expect(() => positionOf('1'.repeat(130))).toThrow(/invalid sequence number/);
    expect(positionOf('9'.repeat(129))).toMatch(/^129/);
  });

  /** Reference: 1 to 129 characters, each one of the ten ASCII digits (checked by code unit, not by a pattern). */
  const isDecimal = (s: string) => s.length >= 1 && s.length <= 129 && [...Array(s.length).keys()].every((i) => '0123456789'.includes(s[i]));
  const nearDigits = fc.oneof(
    fc.constantFrom(...'0123456789'),
    fc.constantFrom('a', ' ', '/', ':', '-', '+', '.', '\n', '\u0660', '\uff10', '\ud800'),
  );
  test.prop([fc.array(nearDigits, { maxLength: 140 }).map((cs) => cs.join(''))])(
    'accepts exactly 1 to 129 ASCII digits (no other digit, sign, space or surrogate)',
    (s) => {
      if (isDecimal(s)) expect(positionOf(s)).toMatch(/^\d{3}\d+\.\d{10}$/);
      else expect(() => positionOf(s)).toThrow(/invalid sequence number/);
    },
  );
});

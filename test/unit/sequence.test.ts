
import fc from 'fast-check';
import { isAfter, positionOf } from '../../lambda/domain/sequence';

describe('record positions', () => {
  test('order like the sequence numbers as integers, then the sub-sequence numbers', () => {
    const seq = fc.bigInt({ min: 0n, max: (1n << 190n) - 1n });
    fc.assert(
      fc.property(seq, seq, fc.nat(1000), fc.nat(1000), (a, b, sa, sb) => {
        const expected = a === b ? sa > sb : a > b;
        expect(isAfter(positionOf(a.toString(), sa), positionOf(b.toString(), sb))).toBe(expected);
      }),
    );
  });
  test('a real 56-digit sequence number is accepted', () => {
    expect(positionOf('49590338271490256608559692538361571095921575989136588898').length).toBeGreaterThan(56);
  });
  test('no fence is before every position', () => expect(isAfter(positionOf('0'), undefined)).toBeTruthy());
  test('rejects a non-decimal sequence number', () => expect(() => positionOf('12a')).toThrow(/invalid sequence number/));
});

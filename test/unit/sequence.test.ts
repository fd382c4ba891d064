import assert from 'node:assert/strict';

import fc from 'fast-check';
import { isAfter, positionOf } from '../../lambda/domain/sequence';

describe('record positions', () => {
  test('order like the sequence numbers as integers, then the sub-sequence numbers', () => {
    const seq = fc.bigInt({ min: 0n, max: (1n << 190n) - 1n });
    fc.assert(
      fc.property(seq, seq, fc.nat(1000), fc.nat(1000), (a, b, sa, sb) => {
        const expected = a === b ? sa > sb : a > b;
        assert.equal(isAfter(positionOf(a.toString(), sa), positionOf(b.toString(), sb)), expected);
      }),
    );
  });
  test('a real 56-digit sequence number is accepted', () => {
    assert.ok(positionOf('49590338271490256608559692538361571095921575989136588898').length > 56);
  });
  test('no fence is before every position', () => assert.ok(isAfter(positionOf('0'), undefined)));
  test('rejects a non-decimal sequence number', () => assert.throws(() => positionOf('12a'), /invalid sequence number/));
});

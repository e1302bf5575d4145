import { describe, expect, it } from 'vitest';
import {
  f16BitsToF32,
  f16CeilBits,
  f16FloorBits,
  f32ToF16Bits,
  pack2x16float,
  roundF16,
  unpack2x16float,
} from '../../src/quant/f16';
import { makeRng, testSeed } from './helpers';

/** All finite f16 values, ascending, as an independent nearest-value reference. */
function finiteF16Sorted(): { vals: Float64Array; bits: Uint16Array } {
  const pairs: [number, number][] = [];
  for (let h = 0; h < 0x10000; h++) {
    const e = (h >>> 10) & 0x1f;
    if (e === 0x1f) continue;
    if (h === 0x8000) continue; // −0: keep +0 only
    pairs.push([f16BitsToF32(h), h]);
  }
  pairs.sort((a, b) => a[0] - b[0]);
  return { vals: Float64Array.from(pairs, (p) => p[0]), bits: Uint16Array.from(pairs, (p) => p[1]) };
}

describe('f16', () => {
  it('converts known values (RNE, subnormals, overflow, NaN)', () => {
    expect(f32ToF16Bits(1)).toBe(0x3c00);
    expect(f32ToF16Bits(-2)).toBe(0xc000);
    expect(f32ToF16Bits(0.1)).toBe(0x2e66);
    expect(f32ToF16Bits(1 / 3)).toBe(0x3555);
    expect(f32ToF16Bits(65504)).toBe(0x7bff);
    expect(f32ToF16Bits(65519)).toBe(0x7bff); // below the halfway point
    expect(f32ToF16Bits(65520)).toBe(0x7c00); // halfway 65504 / 65536: ties to even → Inf
    expect(f32ToF16Bits(1e6)).toBe(0x7c00);
    expect(f32ToF16Bits(-1e6)).toBe(0xfc00);
    expect(f32ToF16Bits(2 ** -24)).toBe(0x0001);
    expect(f32ToF16Bits(2 ** -25)).toBe(0x0000); // tie between 0 and 2^-24 → even (0)
    expect(f32ToF16Bits(1.5 * 2 ** -25)).toBe(0x0001);
    expect(f32ToF16Bits(3 * 2 ** -25)).toBe(0x0002); // tie between 1 and 2 units → even (2)
    expect(f32ToF16Bits(2 ** -14)).toBe(0x0400); // smallest normal
    expect(f32ToF16Bits(2 ** -14 - 2 ** -25)).toBe(0x0400); // rounds up across the subnormal/normal edge
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie → even mantissa
    expect(f32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie → even mantissa (up)
    expect(f32ToF16Bits(-0)).toBe(0x8000);
    expect(f32ToF16Bits(Number.POSITIVE_INFINITY)).toBe(0x7c00);
    expect(f32ToF16Bits(Number.NaN) & 0x7c00).toBe(0x7c00);
    expect(f32ToF16Bits(Number.NaN) & 0x3ff).not.toBe(0);
    expect(f16BitsToF32(0x3555)).toBeCloseTo(0.333251953125, 12);
    expect(Number.isNaN(f16BitsToF32(0x7e00))).toBe(true);
    expect(f16BitsToF32(0xfc00)).toBe(Number.NEGATIVE_INFINITY);
  });

  it('round-trips every non-NaN f16 bit pattern', () => {
    for (let h = 0; h < 0x10000; h++) {
      const v = f16BitsToF32(h);
      if (Number.isNaN(v)) continue;
      expect(f32ToF16Bits(v)).toBe(h);
    }
  });

  it('matches a brute-force nearest-even search on random float32 inputs', () => {
    const rng = makeRng(testSeed('f16 nearest'));
    const { vals, bits } = finiteF16Sorted();
    for (let i = 0; i < 20000; i++) {
      // Log-uniform magnitudes over the whole f16 range, including subnormals.
      const x = Math.fround((rng() < 0.5 ? -1 : 1) * 2 ** (-26 + 42 * rng()));
      if (Math.abs(x) > 65504) continue;
      let lo = 0;
      let hi = vals.length - 1;
      while (hi - lo > 1) {
        const mid = (lo + hi) >> 1;
        if (vals[mid] <= x) lo = mid;
        else hi = mid;
      }
      const dl = Math.abs(x - vals[lo]);
      const dh = Math.abs(vals[hi] - x);
      let want = dl < dh ? lo : dh < dl ? hi : (bits[lo] & 1) === 0 ? lo : hi;
      if (vals[hi] === x) want = hi;
      const got = f32ToF16Bits(x);
      // ±0 both encode zero; compare values for that case.
      expect(f16BitsToF32(got) + 0).toBe(vals[want] + 0);
    }
  });

  it('floor/ceil bracket the input', () => {
    const rng = makeRng(testSeed('f16 floor/ceil'));
    for (let i = 0; i < 5000; i++) {
      const x = (rng() - 0.5) * 2 ** (-20 + 30 * rng());
      const f = f16BitsToF32(f16FloorBits(x));
      const c = f16BitsToF32(f16CeilBits(x));
      expect(f).toBeLessThanOrEqual(x);
      expect(c).toBeGreaterThanOrEqual(x);
      expect(roundF16(x) === f || roundF16(x) === c).toBe(true);
    }
    expect(f16BitsToF32(f16FloorBits(0))).toBe(0);
    expect(f16BitsToF32(f16FloorBits(-1e-9))).toBe(-(2 ** -24));
    expect(f16BitsToF32(f16CeilBits(1e-9))).toBe(2 ** -24);
  });

  it('pack2x16float puts the first value in the low half', () => {
    expect(pack2x16float(1, -2)).toBe(0xc0003c00);
    expect(unpack2x16float(0xc0003c00)).toEqual([1, -2]);
  });
});

import { describe, expect, it } from 'vitest';
import { f16BitsToF32, f32ToF16Bits } from '../../src/quant/f16';
import { dequantizeValue, newGrid, setW2Code } from '../../src/quant/grid';
import {
  bitsPerWeight,
  dequantize,
  dequantizeGrid,
  kOrderToSlotOrder,
  packF16,
  packGrid,
  roundUp,
  unpackGrid,
  w2Geometry,
  w2n4,
} from '../../src/quant/layouts';
import { rtnQuantize } from '../../src/quant/rtn';
import type { QuantGrid, QuantScheme } from '../../src/quant/types';
import { heavyWeights, makeRng, randn, testSeed } from './helpers';

const int8 = (b: number) => (b << 24) >> 24;
const bytes = (w: number) => [0, 1, 2, 3].map((i) => int8((w >>> (8 * i)) & 0xff));

describe('w4a8 layout (FastGEMM pre-interleave)', () => {
  it('packs a hand-worked 1×8 row into the expected word', () => {
    const grid = newGrid('w4a8', 1, 8);
    grid.q.set([1, 2, 3, 4, 5, 6, 7, -8]);
    grid.scale[0] = 0.25;
    const c = packGrid(grid);
    const qw = c.qweight as Uint32Array;
    expect(qw.length).toBe(4); // Kp = 32 → 4 words, the last 3 are padding
    // byte i = q[i] (low nibble) | q[4+i] (high nibble): 0x51, 0x62, 0x73, 0x84
    expect(qw[0]).toBe(0x84736251);
    expect(Array.from(qw.subarray(1))).toEqual([0, 0, 0]);
    // The shift trick: both words are four int8 equal to 16·q, lined up with x[0..3] and x[4..7].
    expect(bytes(((qw[0] << 4) & 0xf0f0f0f0) >>> 0)).toEqual([16, 32, 48, 64]);
    expect(bytes((qw[0] & 0xf0f0f0f0) >>> 0)).toEqual([80, 96, 112, -128]);
    expect(Array.from(c.scales as Float32Array)).toEqual([0.25]);
    expect(Array.from(dequantize('w4a8', c, 1, 8))).toEqual([0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, -2]);
  });

  it('satisfies the shift trick for every word of a random matrix', () => {
    const rng = makeRng(testSeed('w4a8 shift trick'));
    const N = 5;
    const K = 100;
    const grid = newGrid('w4a8', N, K);
    for (let i = 0; i < N * K; i++) grid.q[i] = Math.floor(rng() * 16) - 8;
    grid.scale.fill(1);
    const qw = packGrid(grid).qweight as Uint32Array;
    const wpr = roundUp(K, 32) / 8;
    for (let n = 0; n < N; n++) {
      for (let j = 0; j < wpr; j++) {
        const w = qw[n * wpr + j];
        const lo = bytes(((w << 4) & 0xf0f0f0f0) >>> 0);
        const hi = bytes((w & 0xf0f0f0f0) >>> 0);
        for (let i = 0; i < 4; i++) {
          const k0 = 8 * j + i;
          const k1 = k0 + 4;
          expect(lo[i]).toBe(16 * (k0 < K ? grid.q[n * K + k0] : 0));
          expect(hi[i]).toBe(16 * (k1 < K ? grid.q[n * K + k1] : 0));
        }
      }
    }
  });

  it('stores per-group scales [N][Kp/g]', () => {
    const grid = newGrid('w4a8', 2, 100, 64);
    expect(grid.nGroups).toBe(2); // Kp = 128
    grid.scale.set([1, 2, 3, 4]);
    grid.q.fill(1);
    const c = packGrid(grid);
    expect((c.qweight as Uint32Array).length).toBe(2 * 16);
    const W = dequantize('w4a8', c, 2, 100);
    expect(W[0]).toBe(1);
    expect(W[64]).toBe(2);
    expect(W[100]).toBe(3);
    expect(W[199]).toBe(4);
  });
});

describe('w4a16 layout', () => {
  it('packs a hand-worked 1×8 row', () => {
    const grid = newGrid('w4a16', 1, 8);
    grid.q.set([0, 1, 2, 3, 4, 5, 6, 15]);
    grid.scale[0] = 0.5;
    grid.bias[0] = -1;
    const c = packGrid(grid);
    expect(Array.from(c.qweight as Uint32Array)).toEqual([0xf6543210, 0, 0, 0]);
    expect(Array.from(c.scales as Uint32Array)).toEqual([0xbc003800]); // pack2x16float(0.5, −1)
    expect(Array.from(dequantize('w4a16', c, 1, 8))).toEqual([-1, -0.5, 0, 0.5, 1, 1.5, 2, 6.5]);
  });

  it('has G = ceil(K/128) groups with Kp = roundUp(K, 32)', () => {
    const grid = newGrid('w4a16', 3, 130);
    expect(grid.nGroups).toBe(2);
    const c = packGrid(grid);
    expect((c.qweight as Uint32Array).length).toBe(3 * (160 / 8));
    expect((c.scales as Uint32Array).length).toBe(3 * 2);
  });
});

describe('w2-4-16 layout', () => {
  function handGrid(first4: boolean): QuantGrid {
    const K = 128;
    const grid = newGrid('w2-4-16', 1, K);
    expect(grid.nGroups).toBe(2);
    grid.is4!.set(first4 ? [1, 0] : [0, 1]);
    grid.rowScale![0] = 0.125;
    setW2Code(grid, 0, 0, 3);
    setW2Code(grid, 0, 1, 200);
    for (let k = 0; k < K; k++) {
      const g = k >> 6;
      grid.q[k] = grid.is4![g] ? k % 16 : k % 4;
    }
    grid.outliers = {
      rowPtr: Uint32Array.from([0, 1]),
      cols: Uint16Array.from([first4 ? 70 : 5]),
      residual: Uint16Array.from([f32ToF16Bits(0.25)]),
    };
    return grid;
  }

  it('n4 = round(nG/4) with halves up; geometry', () => {
    expect([1, 2, 3, 4, 5, 6, 10, 64].map(w2n4)).toEqual([0, 1, 1, 1, 1, 2, 3, 16]);
    const g = w2Geometry(4096);
    expect(g).toEqual({
      Kp: 4096,
      nG: 64,
      n4: 16,
      wordsPerRow: 4 * 48 + 8 * 16,
      maskWords: 2,
      codeWords: 16,
    });
  });

  it('packs a hand-worked row (2-bit group then 4-bit group)', () => {
    const c = packGrid(handGrid(false));
    expect(Array.from(c.mask as Uint32Array)).toEqual([0b10]);
    const qw = c.qweight as Uint32Array;
    expect(qw.length).toBe(12);
    // 2-bit group 0: weight 16w+i at bits 2i; q = k % 4 → 0,1,2,3,0,1,... → 0b11100100 repeated = 0xE4E4E4E4
    expect(Array.from(qw.subarray(0, 4))).toEqual([0xe4e4e4e4, 0xe4e4e4e4, 0xe4e4e4e4, 0xe4e4e4e4]);
    // 4-bit group 1 is slot n2 + rank4(1) = 1 + 0, at word 4·n2 = 4; q = k % 16 → 0x76543210, 0xFEDCBA98, ...
    expect(Array.from(qw.subarray(4, 12))).toEqual([
      0x76543210, 0xfedcba98, 0x76543210, 0xfedcba98, 0x76543210, 0xfedcba98, 0x76543210, 0xfedcba98,
    ]);
    expect(Array.from(c.scaleCodes as Uint32Array)).toEqual([3 | (200 << 8)]);
    expect(Array.from(c.rowScale as Float32Array)).toEqual([0.125]);
    expect(Array.from(c.outlierRowPtr as Uint32Array)).toEqual([0, 1]);
    expect(Array.from(c.outliers as Uint32Array)).toEqual([(5 | (0x3400 << 16)) >>> 0]);
    const W = dequantize('w2-4-16', c, 1, 128);
    const s0 = 0.125 * 3;
    const s1 = 0.125 * 200;
    expect(W[0]).toBe(s0 * (0 - 1.5));
    expect(W[3]).toBe(s0 * (3 - 1.5));
    expect(W[5]).toBe(Math.fround(s0 * (1 - 1.5) + 0.25)); // outlier residual added
    expect(W[64]).toBe(s1 * (0 - 7.5));
    expect(W[79]).toBe(s1 * (15 - 7.5));
  });

  it('stores a row in slot order: its 2-bit groups first even when a 4-bit group precedes them in K', () => {
    const c = packGrid(handGrid(true));
    expect(Array.from(c.mask as Uint32Array)).toEqual([0b01]);
    const qw = c.qweight as Uint32Array;
    expect(Array.from(qw.subarray(0, 4))).toEqual([0xe4e4e4e4, 0xe4e4e4e4, 0xe4e4e4e4, 0xe4e4e4e4]);
    expect(Array.from(qw.subarray(4, 12))).toEqual([
      0x76543210, 0xfedcba98, 0x76543210, 0xfedcba98, 0x76543210, 0xfedcba98, 0x76543210, 0xfedcba98,
    ]);
    // The scale codes stay in K order: group 0 (4-bit) has code 3.
    expect(Array.from(c.scaleCodes as Uint32Array)).toEqual([3 | (200 << 8)]);
    const W = dequantize('w2-4-16', c, 1, 128);
    expect(W[0]).toBe(0.125 * 3 * (0 - 7.5));
    expect(W[64]).toBe(0.125 * 200 * (0 - 1.5));
  });

  it('reorders a version-1 row (groups in K order) into slot order, and rejects a mask with the wrong count', () => {
    // Version 1 of the hand-worked row: the 4-bit group 0 at words 0-7, the 2-bit group 1 at 8-11.
    const w4 = [1, 2, 3, 4, 5, 6, 7, 8];
    const w2 = [9, 10, 11, 12];
    const v1 = Uint32Array.from([...w4, ...w2]);
    expect(Array.from(kOrderToSlotOrder(v1, Uint32Array.from([0b01]), 1, 128))).toEqual([...w2, ...w4]);
    expect(() => kOrderToSlotOrder(v1, Uint32Array.from([0b11]), 1, 128)).toThrow(/exactly 1 4-bit/);
    expect(() => kOrderToSlotOrder(v1, Uint32Array.from([0b00]), 1, 128)).toThrow(/exactly 1 4-bit/);
  });

  it('version-1 words (built group by group in K order) reorder to what the packer writes', () => {
    const rng = makeRng(testSeed('w2 k order'));
    for (const [N, K] of SHAPES) {
      const grid = rtnQuantize(heavyWeights(rng, N, K, 0.05), N, K, 'w2-4-16', { outlierFraction: 0.02 });
      const c = packGrid(grid);
      const { nG, wordsPerRow } = w2Geometry(K);
      // The version-1 packer's loop: every group's words appended in K order.
      const v1 = new Uint32Array(N * wordsPerRow);
      let at = 0;
      for (let n = 0; n < N; n++) {
        for (let g = 0; g < nG; g++) {
          const four = grid.is4![n * nG + g] !== 0;
          for (let w = 0; w < (four ? 8 : 4); w++) {
            let v = 0;
            for (let i = 0; i < (four ? 8 : 16); i++) {
              const k = 64 * g + (four ? 8 : 16) * w + i;
              if (k < K) v |= (grid.q[n * K + k] & (four ? 0xf : 0x3)) << ((four ? 4 : 2) * i);
            }
            v1[at++] = v >>> 0;
          }
        }
      }
      expect(Array.from(kOrderToSlotOrder(v1, c.mask as Uint32Array, N, K))).toEqual(
        Array.from(c.qweight as Uint32Array),
      );
    }
  });

  it('rejects rows with the wrong number of 4-bit groups', () => {
    const grid = handGrid(false);
    grid.is4!.set([1, 1]);
    expect(() => packGrid(grid)).toThrow(/exactly 1/);
  });
});

describe('f16 layout', () => {
  it('packs k=2j low, k=2j+1 high, pads odd K with 0', () => {
    const c = packF16(Float32Array.from([1, -2, 0.5]), 1, 3);
    expect(Array.from(c.data as Uint32Array)).toEqual([0xc0003c00, 0x3800]);
    expect(Array.from(dequantize('f16', c, 1, 3))).toEqual([1, -2, 0.5]);
  });
});

const SHAPES: [number, number][] = [
  [1, 8],
  [3, 100],
  [5, 65],
  [7, 172],
  [2, 33],
  [4, 64],
  [3, 130],
  [1, 1],
  [2, 300],
  [9, 257],
];

function gridsEqual(a: QuantGrid, b: QuantGrid): void {
  expect(Array.from(b.q)).toEqual(Array.from(a.q));
  expect(Array.from(b.scale)).toEqual(Array.from(a.scale));
  expect(Array.from(b.bias)).toEqual(Array.from(a.bias));
  expect(b.groupSize).toBe(a.groupSize);
  if (a.scheme === 'w2-4-16') {
    expect(Array.from(b.is4!)).toEqual(Array.from(a.is4!));
    expect(Array.from(b.codes!)).toEqual(Array.from(a.codes!));
    expect(Array.from(b.rowScale!)).toEqual(Array.from(a.rowScale!));
    expect(Array.from(b.outliers!.rowPtr)).toEqual(Array.from(a.outliers!.rowPtr));
    expect(Array.from(b.outliers!.cols)).toEqual(Array.from(a.outliers!.cols));
    expect(Array.from(b.outliers!.residual)).toEqual(Array.from(a.outliers!.residual));
  }
}

describe('RTN round trip on odd shapes', () => {
  const seed = testSeed('layout round trip');
  const cases: [QuantScheme, number | undefined][] = [
    ['w4a8', undefined],
    ['w4a8', 32],
    ['w4a8', 64],
    ['w4a8', 96],
    ['w4a16', undefined],
    ['w2-4-16', undefined],
  ];
  for (const [scheme, g] of cases) {
    it(`${scheme}${g ? ` g=${g}` : ''}: pack → dequantize equals the grid exactly; error ≤ scale/2`, () => {
      const rng = makeRng(seed + (g ?? 0) + scheme.length);
      for (const [N, K] of SHAPES) {
        const W = heavyWeights(rng, N, K, 0.05);
        const grid = rtnQuantize(W, N, K, scheme, { groupSize: g, outlierFraction: 0.02 });
        const c = packGrid(grid);
        const Wd = dequantize(scheme, c, N, K);
        const Wg = dequantizeGrid(grid);
        expect(Array.from(Wd)).toEqual(Array.from(Wg));
        gridsEqual(grid, unpackGrid(scheme, c, N, K));
        const outlier = new Set<number>();
        if (grid.outliers) {
          for (let n = 0; n < N; n++) {
            for (let i = grid.outliers.rowPtr[n]; i < grid.outliers.rowPtr[n + 1]; i++) {
              outlier.add(n * K + grid.outliers.cols[i]);
            }
          }
        }
        for (let n = 0; n < N; n++) {
          for (let k = 0; k < K; k++) {
            const idx = n * K + k;
            const gi = n * grid.nGroups + Math.floor(k / grid.groupSize);
            const err = Math.abs(W[idx] - Wd[idx]);
            if (outlier.has(idx)) {
              // Exact up to the f16 rounding of the residual (half an f16 ulp) and one f32 rounding.
              const dq = dequantizeValue(grid.q[idx], grid.scale[gi], grid.bias[gi]);
              const res = Math.abs(W[idx] - dq);
              expect(err).toBeLessThanOrEqual(
                Math.max(res * 2 ** -11, 2 ** -25) + Math.abs(W[idx]) * 2 ** -23,
              );
            } else {
              expect(err).toBeLessThanOrEqual(grid.scale[gi] / 2 + Math.abs(W[idx]) * 2 ** -22 + 1e-12);
            }
          }
        }
      }
    });
  }

  it('w2-4-16 outliers are exact to f16 precision and only inside 2-bit groups', () => {
    const rng = makeRng(seed + 7);
    const N = 6;
    const K = 300;
    const W = heavyWeights(rng, N, K, 0.05);
    const grid = rtnQuantize(W, N, K, 'w2-4-16', { outlierFraction: 0.05 });
    const o = grid.outliers!;
    expect(o.cols.length).toBeGreaterThan(0);
    const Wd = dequantize('w2-4-16', packGrid(grid), N, K);
    for (let n = 0; n < N; n++) {
      for (let i = o.rowPtr[n]; i < o.rowPtr[n + 1]; i++) {
        const k = o.cols[i];
        const gi = n * grid.nGroups + Math.floor(k / 64);
        expect(grid.is4![gi]).toBe(0);
        const res = f16BitsToF32(o.residual[i]);
        const idx = n * K + k;
        expect(Math.abs(W[idx] - Wd[idx])).toBeLessThanOrEqual(
          Math.max(Math.abs(res) * 2 ** -10, 2 ** -25) + Math.abs(W[idx]) * 2 ** -23,
        );
        if (i > o.rowPtr[n]) expect(k).toBeGreaterThan(o.cols[i - 1]);
      }
    }
  });
});

describe('bits per weight', () => {
  const rng = makeRng(testSeed('bits per weight'));
  it('w4a8 per channel = 4·Kp/K + 32/K', () => {
    for (const K of [4096, 100, 172]) {
      const N = 16;
      const g = rtnQuantize(randn(rng, N * K), N, K, 'w4a8');
      const bpw = bitsPerWeight(packGrid(g), N, K);
      expect(bpw).toBeCloseTo((4 * roundUp(K, 32)) / K + 32 / K, 12);
      if (K === 4096) expect(bpw).toBeCloseTo(4 + 32 / 4096, 12);
    }
  });
  it('w4a16 = 4.25 when K is a multiple of 128', () => {
    const g = rtnQuantize(randn(rng, 8 * 512), 8, 512, 'w4a16');
    expect(bitsPerWeight(packGrid(g), 8, 512)).toBe(4.25);
  });
  it('w2-4-16 lies in [2.6, 3.0] at K = 4096', () => {
    const N = 32;
    const K = 4096;
    const g = rtnQuantize(heavyWeights(rng, N, K), N, K, 'w2-4-16');
    const bpw = bitsPerWeight(packGrid(g), N, K);
    console.log(
      `w2-4-16 bits/weight at K=4096: ${bpw.toFixed(4)} (outliers/row ${g.outliers!.cols.length / N})`,
    );
    expect(bpw).toBeGreaterThan(2.6);
    expect(bpw).toBeLessThan(3.0);
  });
});

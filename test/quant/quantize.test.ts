import { describe, expect, it } from 'vitest';
import {
  bitsPerWeight,
  CalibContext,
  dequantize,
  dequantizeGrid,
  GramAccumulator,
  type Method,
  type QuantScheme,
  quantizeLinear,
} from '../../src/quant/index';
import { activationSource, heavyWeights, makeRng, outputError, testSeed } from './helpers';

describe('quantizeLinear', () => {
  const seed = testSeed('quantizeLinear');
  const shapes: [number, number][] = [
    [3, 100],
    [5, 65],
    [7, 172],
    [1, 40],
    [4, 130],
  ];
  const schemes: [QuantScheme, number | undefined][] = [
    ['w4a8', undefined],
    ['w4a8', 32],
    ['w4a16', undefined],
    ['w2-4-16', undefined],
  ];
  const methods: Method[] = ['rtn', 'clip', 'gptq'];

  for (const [scheme, g] of schemes) {
    for (const method of methods) {
      it(`${scheme}${g ? ` g=${g}` : ''} ${method}: components dequantize to the grid on odd shapes`, () => {
        const rng = makeRng(seed + scheme.length + (g ?? 0));
        for (const [N, K] of shapes) {
          const W = heavyWeights(rng, N, K, 0.05);
          const T = 80;
          const X = activationSource(rng, K, { outliers: 2 }).sample(T);
          const r = quantizeLinear(W, N, K, {
            scheme,
            method,
            groupSize: g,
            calib: { X, T },
            outlierFraction: 0.02,
            measureOutputError: true,
          });
          const Wd = dequantize(scheme, r.components, N, K);
          expect(Array.from(Wd)).toEqual(Array.from(dequantizeGrid(r.grid!)));
          expect(r.bitsPerWeight).toBe(bitsPerWeight(r.components, N, K));
          expect(r.stats.method).toBe(method);
          // stats.relOutputError (through the clip factor) equals the direct computation.
          expect(r.stats.relOutputError!).toBeCloseTo(outputError(W, Wd, X, N, K, T), 9);
          for (const v of Object.values(r.components))
            expect(v instanceof Uint32Array || v instanceof Float32Array).toBe(true);
        }
      });
    }
  }

  it('f32 and f16 schemes', () => {
    const rng = makeRng(seed);
    const W = heavyWeights(rng, 3, 7, 1);
    const a = quantizeLinear(W, 3, 7, { scheme: 'f32' });
    expect(Array.from(dequantize('f32', a.components, 3, 7))).toEqual(Array.from(W));
    expect(a.bitsPerWeight).toBe(32);
    const b = quantizeLinear(W, 3, 7, { scheme: 'f16' });
    expect(b.stats.maxAbsError).toBeLessThan(2 ** -10 * 8);
    expect(b.bitsPerWeight).toBeCloseTo((16 * 8) / 7, 12);
  });

  it('a shared CalibContext (q/k/v reading one input) from a GramAccumulator', () => {
    const rng = makeRng(seed + 1);
    const K = 96;
    const src = activationSource(rng, K);
    const acc = new GramAccumulator(K);
    const chunks: Float32Array[] = [];
    for (let i = 0; i < 4; i++) {
      const X = src.sample(50);
      chunks.push(X);
      acc.add(X, 50);
    }
    const ctx = new CalibContext(acc.result(), K);
    const f1 = ctx.gptqFactor();
    for (const N of [96, 32, 32]) {
      const W = heavyWeights(rng, N, K);
      const r = quantizeLinear(W, N, K, { scheme: 'w4a8', method: 'gptq', calib: ctx });
      expect(r.stats.rmsError).toBeGreaterThan(0);
    }
    expect(ctx.gptqFactor()).toBe(f1); // computed once
    expect(() =>
      quantizeLinear(new Float32Array(64), 1, 64, { scheme: 'w4a8', method: 'gptq', calib: ctx }),
    ).toThrow(/K=96/);
  });

  it('rejects bad options', () => {
    const W = new Float32Array(64);
    expect(() => quantizeLinear(W, 1, 64, { scheme: 'w4a16', groupSize: 64 })).toThrow(/w4a8 only/);
    expect(() => quantizeLinear(W, 1, 64, { scheme: 'w4a8', groupSize: 48 })).toThrow(/multiple of 32/);
    expect(() => quantizeLinear(W, 2, 64, { scheme: 'w4a8' })).toThrow(/expected/);
    expect(() => quantizeLinear(new Float32Array(70000), 1, 70000, { scheme: 'w2-4-16' })).toThrow(/16-bit/);
  });

  it('all-zero and constant rows quantize exactly', () => {
    const N = 3;
    const K = 70;
    const W = new Float32Array(N * K);
    for (let k = 0; k < K; k++) W[K + k] = 0.25; // row 1 constant, rows 0 and 2 zero
    for (const scheme of ['w4a8', 'w4a16'] as const) {
      const r = quantizeLinear(W, N, K, { scheme });
      expect(r.stats.maxAbsError).toBe(0);
    }
    const r = quantizeLinear(W, N, K, { scheme: 'w2-4-16' });
    // 0.25 is not on the zero-free 2-bit grid ±0.5s, ±1.5s unless 0.25 = 1.5s: exact by construction.
    expect(r.stats.maxAbsError).toBeLessThan(1e-7);
  });
});

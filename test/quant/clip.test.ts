import { describe, expect, it } from 'vitest';
import { CalibContext } from '../../src/quant/calib';
import { clipSearch } from '../../src/quant/clip';
import { assignCodes, dequantizeValue, newGrid, quantizeValue, w4a8Scale } from '../../src/quant/grid';
import { quantizeLinear } from '../../src/quant/index';
import { dequantizeGrid } from '../../src/quant/layouts';
import { rtnParams } from '../../src/quant/rtn';
import {
  activationSource,
  correlatedActivations,
  heavyWeights,
  makeRng,
  outputError,
  testSeed,
  weightMse,
} from './helpers';

/** Direct ‖e·Xᵀ‖² of one row error e. */
function rowOutErr(e: Float64Array, X: Float32Array, T: number, K: number): number {
  let s = 0;
  for (let t = 0; t < T; t++) {
    let d = 0;
    for (let k = 0; k < K; k++) d += e[k] * X[t * K + k];
    s += d * d;
  }
  return s;
}

describe('clip search', () => {
  const seed = testSeed('clip');

  it('per-channel w4a8 picks the brute-force best γ of the grid', () => {
    const rng = makeRng(seed);
    const N = 6;
    const K = 96;
    const T = 40;
    const W = heavyWeights(rng, N, K, 0.05);
    const { X } = correlatedActivations(rng, T, K, { outliers: 3 });
    for (const ctx of [new CalibContext({ X, T }, K), new CalibContext({ X, T }, K, { clipRank: 8 })]) {
      const grid = newGrid('w4a8', N, K);
      rtnParams(grid, W);
      assignCodes(grid, W);
      clipSearch(grid, W, ctx, { steps: 20, minRatio: 0.5 });
      if (ctx.clipFactor().residual) continue; // the truncated factor optimises an approximation
      for (let n = 0; n < N; n++) {
        let am = 0;
        for (let k = 0; k < K; k++) am = Math.max(am, Math.abs(W[n * K + k]));
        let best = Number.POSITIVE_INFINITY;
        let bestS = 0;
        for (let t = 0; t < 20; t++) {
          const s = w4a8Scale(am, t === 0 ? 1 : 1 - (t * 0.5) / 19);
          const e = new Float64Array(K);
          for (let k = 0; k < K; k++)
            e[k] = W[n * K + k] - dequantizeValue(quantizeValue(W[n * K + k], s, 0, -8, 7), s, 0);
          const v = rowOutErr(e, X, T, K);
          if (v < best * (1 - 1e-12)) {
            best = v;
            bestS = s;
          }
        }
        expect(grid.scale[n]).toBe(bestS);
        for (let k = 0; k < K; k++)
          expect(grid.q[n * K + k]).toBe(quantizeValue(W[n * K + k], bestS, 0, -8, 7) + 0);
      }
    }
  });

  it('gram-only (pivoted Cholesky factor) gives the same choice as X when the factor is exact', () => {
    const rng = makeRng(seed + 1);
    const N = 8;
    const K = 128;
    const T = 48;
    const W = heavyWeights(rng, N, K, 0.05);
    const { X } = correlatedActivations(rng, T, K);
    const a = quantizeLinear(W, N, K, { scheme: 'w2-4-16', method: 'clip', calib: { X, T } });
    const ctx = new CalibContext({ X, T }, K);
    const b = quantizeLinear(W, N, K, { scheme: 'w2-4-16', method: 'clip', calib: { gram: ctx.gram(), T } });
    const ea = outputError(W, dequantizeGrid(a.grid!), X, N, K, T);
    const eb = outputError(W, dequantizeGrid(b.grid!), X, N, K, T);
    expect(Math.abs(ea - eb)).toBeLessThan(1e-6 * ea);
  });

  for (const [scheme, g] of [
    ['w4a8', undefined],
    ['w4a8', 64],
    ['w4a16', undefined],
    ['w2-4-16', undefined],
  ] as const) {
    it(`${scheme}${g ? ` g=${g}` : ''}: beats RTN on layer output error (held-out tokens)`, () => {
      const rng = makeRng(seed + 2);
      const N = 32;
      const K = 256;
      const T = 512;
      const W = heavyWeights(rng, N, K);
      const src = activationSource(rng, K, { rank: 8, outliers: 4, outlierScale: 20 });
      const X = src.sample(T);
      const Xh = src.sample(T);
      const rtn = quantizeLinear(W, N, K, { scheme, groupSize: g });
      const clip = quantizeLinear(W, N, K, { scheme, groupSize: g, method: 'clip', calib: { X, T } });
      const eR = outputError(W, dequantizeGrid(rtn.grid!), Xh, N, K, T);
      const eC = outputError(W, dequantizeGrid(clip.grid!), Xh, N, K, T);
      const eCin = outputError(W, dequantizeGrid(clip.grid!), X, N, K, T);
      console.log(
        `clip ${scheme}${g ? ` g=${g}` : ''}: held-out rel output error RTN ${eR.toExponential(3)} → clip ${eC.toExponential(3)} ` +
          `(${((1 - eC / eR) * 100).toFixed(1)}% lower; on calibration tokens ${eCin.toExponential(3)}), ` +
          `mean ratio ${clip.stats.meanClipRatio?.toFixed(3)}`,
      );
      expect(eC).toBeLessThan(eR);
    });
  }

  it('without calibration minimises the weight error', () => {
    const rng = makeRng(seed + 3);
    const N = 16;
    const K = 200;
    const W = heavyWeights(rng, N, K);
    for (const scheme of ['w4a8', 'w4a16', 'w2-4-16'] as const) {
      const rtn = quantizeLinear(W, N, K, { scheme, outlierFraction: 0 });
      const clip = quantizeLinear(W, N, K, { scheme, method: 'clip', outlierFraction: 0 });
      expect(weightMse(W, dequantizeGrid(clip.grid!))).toBeLessThanOrEqual(
        weightMse(W, dequantizeGrid(rtn.grid!)),
      );
    }
  });
});

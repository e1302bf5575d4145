/**
 * SmoothQuant (Xiao et al. 2022) migration for the A8 schemes: per input channel j,
 * s_j = max|X_j|^α / max|W_j|^(1−α); the preceding RMSNorm weight is divided by s and the weight
 * columns of every linear that reads that norm's output (q/k/v, or gate/up) are multiplied by s,
 * so X·Wᵀ is unchanged in exact arithmetic while activation outlier channels shrink.
 *
 * Caveat (measured on synthetic layers, test/quant/smoothquant.test.ts): with 4-bit per-channel
 * weights the weight error grows with the largest |W_j·s_j| of the row, so α = 0.5 — tuned for
 * W8A8 — helps a lot with extreme activation outliers but can hurt with mild ones; α ≈ 0.25–0.4
 * was the best of {0, 0.1, 0.25, 0.4, 0.5, 0.75} in every synthetic case we tried.
 * chooseSmoothAlpha picks α on calibration data.
 */

import { dequantizeGrid } from './layouts';
import { rtnQuantize } from './rtn';

export interface LinearWeight {
  W: Float32Array;
  N: number;
  K: number;
}

export interface SmoothOptions {
  /** Migration strength (default 0.5). */
  alpha?: number;
  /** Clamp range of s (default [1e-2, 1e2]): keeps the norm weight and the columns finite and sane. */
  min?: number;
  max?: number;
}

/**
 * s_j = a_j^α / w_j^(1−α), clamped to [min, max]; channels with a_j = 0 or w_j = 0 (dead input or
 * all-zero column) get s_j = 1. Returned as f32 (what gets folded into the weights).
 */
export function smoothFactors(
  actAbsMax: ArrayLike<number>,
  weightAbsMax: ArrayLike<number>,
  opts: SmoothOptions = {},
): Float32Array {
  const alpha = opts.alpha ?? 0.5;
  const lo = opts.min ?? 1e-2;
  const hi = opts.max ?? 1e2;
  if (actAbsMax.length !== weightAbsMax.length) throw new Error('smoothFactors: length mismatch');
  const s = new Float32Array(actAbsMax.length);
  for (let j = 0; j < s.length; j++) {
    const a = Math.abs(actAbsMax[j]);
    const w = Math.abs(weightAbsMax[j]);
    if (!(a > 0 && w > 0 && Number.isFinite(a) && Number.isFinite(w))) {
      s[j] = 1;
      continue;
    }
    const v = a ** alpha / w ** (1 - alpha);
    s[j] = Math.min(hi, Math.max(lo, v));
  }
  return s;
}

/** Per input column max |W[n, j]| over all rows of all linears sharing the input. */
export function weightColumnAbsMax(linears: LinearWeight[]): Float32Array {
  if (linears.length === 0) throw new Error('weightColumnAbsMax: no linears');
  const K = linears[0].K;
  const out = new Float32Array(K);
  for (const { W, N, K: k2 } of linears) {
    if (k2 !== K) throw new Error('weightColumnAbsMax: linears have different K');
    for (let n = 0; n < N; n++) {
      for (let j = 0; j < K; j++) {
        const a = Math.abs(W[n * K + j]);
        if (a > out[j]) out[j] = a;
      }
    }
  }
  return out;
}

/**
 * Pure: returns the smoothed norm weight (normWeight / s) and copies of the linears with
 * columns multiplied by s. Inputs are not modified.
 */
export function applySmoothing(
  normWeight: Float32Array,
  linears: LinearWeight[],
  s: Float32Array,
): { normWeight: Float32Array; linears: LinearWeight[] } {
  const K = s.length;
  if (normWeight.length !== K) throw new Error('applySmoothing: norm weight length differs from s');
  const nw = new Float32Array(K);
  for (let j = 0; j < K; j++) nw[j] = normWeight[j] / s[j];
  const out = linears.map(({ W, N, K: k2 }) => {
    if (k2 !== K) throw new Error('applySmoothing: linear K differs from s');
    const W2 = new Float32Array(N * K);
    for (let n = 0; n < N; n++) for (let j = 0; j < K; j++) W2[n * K + j] = W[n * K + j] * s[j];
    return { W: W2, N, K };
  });
  return { normWeight: nw, linears: out };
}

/** X / s per column (what the smoothed norm produces), X row-major [T, K]. */
export function smoothActivations(X: Float32Array, T: number, K: number, s: Float32Array): Float32Array {
  const out = new Float32Array(T * K);
  for (let t = 0; t < T; t++) for (let j = 0; j < K; j++) out[t * K + j] = X[t * K + j] / s[j];
  return out;
}

/** Gram matrix of the smoothed activations from the unsmoothed one: G'_ij = G_ij / (s_i·s_j). */
export function smoothGram(gram: Float64Array, K: number, s: Float32Array): Float64Array {
  const out = new Float64Array(K * K);
  for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) out[i * K + j] = gram[i * K + j] / (s[i] * s[j]);
  return out;
}

/** Round half to even, like WGSL round(). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Per-token int8 activation fake-quantization, the rule of docs/FORMAT.md w4a8:
 * s_x = max|x|/127, xq = round(x/s_x) clamped to ±127 (WGSL round: half to even); returns xq·s_x.
 */
export function fakeQuantActivationsA8(X: Float32Array, T: number, K: number): Float32Array {
  const out = new Float32Array(T * K);
  for (let t = 0; t < T; t++) {
    let m = 0;
    for (let k = 0; k < K; k++) m = Math.max(m, Math.abs(X[t * K + k]));
    const sx = Math.fround(m / 127);
    if (sx === 0) continue;
    for (let k = 0; k < K; k++) {
      const q = Math.max(-127, Math.min(127, roundHalfEven(X[t * K + k] / sx)));
      out[t * K + k] = q * sx;
    }
  }
  return out;
}

/** ‖W·Xᵀ − Wq·Xqᵀ‖² / ‖W·Xᵀ‖² (helper for choosing α and for tests). */
export function relativeOutputError(
  W: Float32Array,
  Wq: Float32Array,
  X: Float32Array,
  Xq: Float32Array,
  N: number,
  K: number,
  T: number,
): number {
  let num = 0;
  let den = 0;
  for (let t = 0; t < T; t++) {
    const xo = t * K;
    for (let n = 0; n < N; n++) {
      const wo = n * K;
      let a = 0;
      let b = 0;
      for (let k = 0; k < K; k++) {
        a += W[wo + k] * X[xo + k];
        b += Wq[wo + k] * Xq[xo + k];
      }
      num += (a - b) ** 2;
      den += a * a;
    }
  }
  return den > 0 ? num / den : 0;
}

/**
 * Pick α from `alphas` by the measured W4A8 output error (RTN per-channel weights, per-token int8
 * activations) on calibration tokens X [T, K]; α = 0 means no smoothing. Cost per α: one RTN pass
 * and one N·K·T product, so pass a token subset for big layers.
 */
export function chooseSmoothAlpha(
  linears: LinearWeight[],
  X: Float32Array,
  T: number,
  alphas: number[] = [0, 0.25, 0.4, 0.5, 0.6, 0.75],
  opts: Omit<SmoothOptions, 'alpha'> = {},
): { alpha: number; alphas: number[]; errors: number[] } {
  const K = linears[0].K;
  const actMax = new Float32Array(K);
  for (let t = 0; t < T; t++)
    for (let k = 0; k < K; k++) actMax[k] = Math.max(actMax[k], Math.abs(X[t * K + k]));
  const wMax = weightColumnAbsMax(linears);
  const errors = alphas.map((alpha) => {
    const s = alpha === 0 ? new Float32Array(K).fill(1) : smoothFactors(actMax, wMax, { ...opts, alpha });
    const Xs = smoothActivations(X, T, K, s);
    const Xq = fakeQuantActivationsA8(Xs, T, K);
    let err = 0;
    for (const lin of linears) {
      const Ws = applySmoothing(new Float32Array(K).fill(1), [lin], s).linears[0].W;
      const Wq = dequantizeGrid(rtnQuantize(Ws, lin.N, K, 'w4a8'));
      err += relativeOutputError(lin.W, Wq, X, Xq, lin.N, K, T);
    }
    return err;
  });
  let best = 0;
  for (let i = 1; i < alphas.length; i++) if (errors[i] < errors[best]) best = i;
  return { alpha: alphas[best], alphas, errors };
}

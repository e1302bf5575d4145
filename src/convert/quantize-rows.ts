import { componentSpec, manifestGroupSize } from '../format/pack-layout';
import {
  type CalibContext,
  dequantize,
  dequantizeGrid,
  type QuantizeOptions,
  quantizeLinear,
} from '../quant';
import type { Components, Method, QuantStats, Scheme } from '../quant/types';
import type { RowSource } from './fuse';

/**
 * Quantizes a linear weight block of rows at a time. Every method treats rows independently
 * (RTN and clip per row or group, GPTQ per row given the shared Hessian factor, which the
 * CalibContext caches), so the result is identical to quantizing the whole matrix while the
 * working set stays at one block (default 16 MiB of f32) plus the packed output. That is what
 * keeps converting a 128k-row lm_head from needing several copies of it.
 */

export interface RowQuantOptions {
  scheme: Scheme;
  method: Method;
  /** w4a8 only: columns per scale group (multiple of 32, < K); undefined = per output channel. */
  groupSize?: number;
  /** Calibration statistics of the input (clip's output-error objective, GPTQ, outlier weighting). */
  calib?: CalibContext;
  /** GPTQ knobs passed to the quantizer (e.g. scale: 'clip'). */
  gptq?: QuantizeOptions['gptq'];
  /** SmoothQuant: multiply column j of every row by colScale[j] before quantizing. */
  colScale?: Float32Array;
  /** f32 bytes per block (default 16 MiB; at least one row). */
  blockBytes?: number;
  /** Also compute relOutputError = Σ eᵀGe / Σ wᵀGw from the calibration Gram (costs N·K²). */
  measureOutputError?: boolean;
}

/** Per-tensor statistics are the quantizer's own (maxAbsError is in the smoothed space under SmoothQuant). */
export type TensorQuantStats = QuantStats;

export interface RowQuantResult {
  components: Components;
  /** The manifest's groupSize for this tensor (see manifestGroupSize). */
  groupSize: number | undefined;
  stats: TensorQuantStats;
}

const DEFAULT_BLOCK_BYTES = 16 * 1024 * 1024;

function now(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}

export function quantizeRows(src: RowSource, opts: RowQuantOptions): RowQuantResult {
  const { N, K } = src;
  const { scheme, colScale } = opts;
  if (colScale && colScale.length !== K)
    throw new Error(`quantizeRows: colScale has ${colScale.length} values, K=${K}`);
  const groupSize = scheme === 'w4a8' && opts.groupSize && opts.groupSize < K ? opts.groupSize : undefined;
  const spec = componentSpec(scheme, N, K, manifestGroupSize(scheme, K, groupSize));
  const blockRows = Math.max(1, Math.floor((opts.blockBytes ?? DEFAULT_BLOCK_BYTES) / (4 * K)));

  // Fixed-size components are allocated once and filled block by block; the CSR outliers of
  // w2-4-16 are variable and are joined at the end.
  const out: Components = {};
  for (const [key, s] of Object.entries(spec)) {
    if (s.bytes === null) continue;
    out[key] = s.dtype === 'f32' ? new Float32Array(s.bytes / 4) : new Uint32Array(s.bytes / 4);
  }
  const rowPtr = out.outlierRowPtr as Uint32Array | undefined;
  const outlierParts: Uint32Array[] = [];
  let outlierCount = 0;

  const t0 = now();
  let maxAbs = 0;
  let sumSq = 0;
  let clipSum = 0;
  let clipRows = 0;
  let num = 0;
  let den = 0;
  let method: TensorQuantStats['method'] = 'none';
  for (let r0 = 0; r0 < N; r0 += blockRows) {
    const r1 = Math.min(N, r0 + blockRows);
    const rows = r1 - r0;
    const W = src.rows(r0, r1);
    if (colScale) for (let i = 0; i < W.length; i++) W[i] *= colScale[i % K];
    const q = quantizeLinear(W, rows, K, {
      scheme,
      method: opts.method,
      groupSize,
      calib: opts.calib,
      gptq: opts.gptq,
    });
    method = q.stats.method;
    for (const [key, arr] of Object.entries(q.components)) {
      if (key === 'outlierRowPtr') {
        const base = rowPtr![r0];
        for (let i = 1; i <= rows; i++) rowPtr![r0 + i] = base + arr[i];
      } else if (key === 'outliers') {
        outlierParts.push(arr as Uint32Array);
        outlierCount += arr.length;
      } else {
        const dst = out[key];
        if (!dst) throw new Error(`quantizeRows: the quantizer produced an unexpected component ${key}`);
        const perRow = dst.length / N;
        if (arr.length !== perRow * rows) {
          throw new Error(
            `quantizeRows: component ${key} has ${arr.length} values for ${rows} rows, expected ${perRow * rows}`,
          );
        }
        dst.set(arr, r0 * perRow);
      }
    }
    maxAbs = Math.max(maxAbs, q.stats.maxAbsError);
    sumSq += q.stats.rmsError * q.stats.rmsError * rows * K;
    if (q.stats.meanClipRatio !== undefined) {
      clipSum += q.stats.meanClipRatio * rows;
      clipRows += rows;
    }
    if (opts.measureOutputError && opts.calib) {
      const Wq = q.grid ? dequantizeGrid(q.grid) : dequantize(scheme, q.components, rows, K);
      const parts = outputErrorParts(W, Wq, rows, K, opts.calib.gram());
      num += parts.num;
      den += parts.den;
    }
  }
  if (outlierParts.length) {
    const all = new Uint32Array(outlierCount);
    let at = 0;
    for (const p of outlierParts) {
      all.set(p, at);
      at += p.length;
    }
    out.outliers = all;
  }
  const stats: TensorQuantStats = {
    method,
    seconds: (now() - t0) / 1000,
    maxAbsError: maxAbs,
    rmsError: Math.sqrt(sumSq / (N * K)),
  };
  if (scheme === 'w2-4-16') stats.outliers = outlierCount;
  if (clipRows) stats.meanClipRatio = clipSum / clipRows;
  if (opts.measureOutputError && opts.calib) stats.relOutputError = den > 0 ? num / den : 0;
  return { components: out, groupSize: manifestGroupSize(scheme, K, groupSize), stats };
}

/** Σ_n eₙᵀ G eₙ and Σ_n wₙᵀ G wₙ (e = W − Wq), G the calibration Gram XᵀX. */
function outputErrorParts(
  W: Float32Array,
  Wq: Float32Array,
  rows: number,
  K: number,
  G: Float64Array,
): { num: number; den: number } {
  let num = 0;
  let den = 0;
  const e = new Float64Array(K);
  for (let n = 0; n < rows; n++) {
    const o = n * K;
    for (let k = 0; k < K; k++) e[k] = W[o + k] - Wq[o + k];
    for (let i = 0; i < K; i++) {
      const gi = i * K;
      let se = 0;
      let sw = 0;
      for (let j = 0; j < K; j++) {
        se += G[gi + j] * e[j];
        sw += G[gi + j] * W[o + j];
      }
      num += e[i] * se;
      den += W[o + i] * sw;
    }
  }
  return { num, den };
}

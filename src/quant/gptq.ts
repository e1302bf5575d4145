/**
 * GPTQ (Frantar et al. 2022), the "GPTQ picks the integers" half of the OdysseyLLM recipe.
 *
 * Columns are quantized in order; the error of each is compensated on the columns not yet
 * quantized, optimally for the layer-output error with H = 2XᵀX/T + λI. The reference
 * implementation spreads err_i = (x_i − q_i)/U_ii with the upper Cholesky factor U of H⁻¹
 * ("right-looking", lazily in blocks of 128 columns). We use the algebraically identical
 * left-looking form with H = R·Rᵀ (R upper, U = R⁻¹):
 *   x_i = w_i + Σ_{l<i} (w_l − Q(x_l))·R[l, i] / R[i, i],
 * which needs one Cholesky (K³/6, shared by all linears reading the same input) and no inverse,
 * and whose bulk, per block of B columns, is one dot-product GEMM over the batch of rows
 * (gemmNT, register-blocked) — about twice as fast in plain JS as the axpy updates of the
 * right-looking form. Rows are independent: a batch of rows at a time bounds memory.
 * Cost ≈ N·K²/2 multiply-adds.
 *
 * Scales: chosen before the integers.
 *  - per-channel w4a8, and any scheme with scale 'clip': static, from W (RTN rule or clip search);
 *  - grouped w4a8 / w4a16 with scale 'rtn': the standard GPTQ groupwise rule — a group's scale is
 *    computed from the current (already error-compensated) weights when the group starts (the
 *    values the right-looking form would hold then: see groupCurrentValues). Blocks are a
 *    multiple of the group size so a group never straddles a block.
 *  - w2-4-16: precisions, rowScale and codes from W (static), then GPTQ picks the integers.
 *
 * w2-4-16 outliers: positions are chosen BEFORE the pass, from the static grid's rounding error
 * weighted by 1/U_kk = R_kk (e_k²/U_kk² is the loss GPTQ cannot compensate for weight k). Inside the
 * pass, an outlier weight is stored exactly (nearest code + f16 residual of the *current* value), so
 * its propagated error is only the f16 rounding. Choosing them after the pass and adding
 * W − Q(W) back would double-count: GPTQ has already compensated that error in later columns.
 */
import type { CalibContext } from './calib';
import { type ClipOptions, clipSearch } from './clip';
import { f16BitsToF32, f32ToF16Bits } from './f16';
import {
  assignCodes,
  dequantizeValue,
  groupStats,
  newGrid,
  qRange,
  quantizeValue,
  w4a8Scale,
  w4a16Params,
} from './grid';
import { gemmNT } from './linalg';
import { pickOutlierPositions } from './mixed-2-4';
import { DEFAULT_OUTLIER_FRACTION, rtnParams } from './rtn';
import type { QuantGrid, QuantScheme } from './types';

export interface GptqOptions {
  /** w4a8 only: group size (multiple of 32); 0/undefined = per output channel. */
  groupSize?: number;
  /** How scales are chosen before GPTQ picks the integers (default 'rtn'). */
  scale?: 'rtn' | 'clip';
  clip?: ClipOptions;
  /** Lazy block size in columns (default 128). */
  blockSize?: number;
  /** Relative diagonal damping (default 0.01 of mean diag H). */
  damp?: number;
  /** w2-4-16: fraction of 2-bit-group weights kept as fp16 residuals (default 0.005). */
  outlierFraction?: number;
  /** Rows processed together (memory: rowBatch·K f64). */
  rowBatch?: number;
}

export function gptqQuantize(
  W: Float32Array,
  N: number,
  K: number,
  scheme: QuantScheme,
  ctx: CalibContext,
  opts: GptqOptions = {},
): QuantGrid {
  const grid = newGrid(scheme, N, K, opts.groupSize);
  const { Rt, dead } = ctx.gptqFactor(opts.damp ?? 0.01);
  rtnParams(grid, W);
  const scaleMode = opts.scale ?? 'rtn';
  if (scaleMode === 'clip' || scheme === 'w2-4-16') {
    assignCodes(grid, W);
    if (scaleMode === 'clip') clipSearch(grid, W, ctx, opts.clip);
  }
  const dynamic = scaleMode === 'rtn' && grid.nGroups > 1 && scheme !== 'w2-4-16';
  let outlierPos: { rowPtr: Uint32Array; cols: Uint16Array } | null = null;
  if (scheme === 'w2-4-16') {
    const colWeight = new Float64Array(K);
    // 1/U_kk = R_kk (U = R⁻¹ is triangular).
    for (let k = 0; k < K; k++) colWeight[k] = dead[k] ? 0 : Rt[k * K + k];
    outlierPos = pickOutlierPositions(grid, W, opts.outlierFraction ?? DEFAULT_OUTLIER_FRACTION, colWeight);
  }
  const residual = outlierPos ? new Uint16Array(outlierPos.cols.length) : null;
  gptqCore(grid, W, Rt, dead, {
    blockSize: opts.blockSize ?? 128,
    dynamic,
    rowBatch: opts.rowBatch ?? 64,
    outlierPos,
    residual,
  });
  if (outlierPos && residual) grid.outliers = { rowPtr: outlierPos.rowPtr, cols: outlierPos.cols, residual };
  return grid;
}

export interface CoreOptions {
  blockSize: number;
  dynamic: boolean;
  rowBatch: number;
  outlierPos: { rowPtr: Uint32Array; cols: Uint16Array } | null;
  residual: Uint16Array | null;
  /** Test hook: receives, per weight, the compensated value that was quantized. [N * K] */
  trace?: Float64Array;
}

/**
 * The GPTQ pass over all rows, in the left-looking form (see ulCholeskyTransposed): with
 * H = R·Rᵀ, R upper, the value of column i when it is quantized is
 *   x_i = w_i + Σ_{l<i} d_l·R[l, i] / R[i, i],   d_l = w_l − Q(x_l),
 * which is algebraically the same as the usual right-looking update with U = R⁻¹ (Uᵀ·U = H⁻¹),
 * but needs no inverse and its bulk is dot products. Per block [i1, i2) of columns:
 * S = D[:, :i1]·R[:i1, i1:i2] for the row batch (one gemmNT), then the block's columns in order.
 * grid holds the scales (static) or receives them (dynamic); grid.q receives the integers;
 * o.residual[i] receives the f16 residual of outlier i.
 */
export function gptqCore(
  grid: QuantGrid,
  W: Float32Array,
  Rt: Float64Array,
  dead: Uint8Array,
  o: CoreOptions,
): void {
  const { N, K, groupSize: gsz, nGroups: nG } = grid;
  let B = Math.max(1, Math.floor(o.blockSize));
  if (o.dynamic) B = gsz >= B ? gsz : gsz * Math.floor(B / gsz);
  const R = Math.max(1, Math.min(N, o.rowBatch));
  const w = new Float64Array(R * K); // original weights (dead inputs zeroed)
  const D = new Float64Array(R * K); // d_l = w_l − Q(x_l), filled as columns are quantized
  const S = new Float64Array(R * B);
  const part = new Float64Array(B); // dynamic groups: current values of the group's columns
  const isOut = o.outlierPos ? new Uint8Array(R * K) : null;
  const resVal = o.outlierPos ? new Uint16Array(R * K) : null;
  const q = grid.q;

  for (let n0 = 0; n0 < N; n0 += R) {
    const rows = Math.min(R, N - n0);
    for (let r = 0; r < rows; r++) {
      const src = (n0 + r) * K;
      for (let k = 0; k < K; k++) w[r * K + k] = dead[k] ? 0 : W[src + k];
    }
    if (isOut && o.outlierPos) {
      isOut.fill(0);
      const { rowPtr, cols } = o.outlierPos;
      for (let r = 0; r < rows; r++)
        for (let i = rowPtr[n0 + r]; i < rowPtr[n0 + r + 1]; i++) isOut[r * K + cols[i]] = 1;
    }
    for (let i1 = 0; i1 < K; i1 += B) {
      const i2 = Math.min(K, i1 + B);
      const bl = i2 - i1;
      S.fill(0);
      // S[r, j] = Σ_{l<i1} D[r, l]·Rt[i1+j, l]: everything the earlier blocks contribute.
      if (i1 > 0) gemmNT(rows, bl, i1, D, 0, K, Rt, i1 * K, K, S, 0, B, 1);
      for (let r = 0; r < rows; r++) {
        const n = n0 + r;
        const ro = r * K;
        const so = r * B;
        let gi = -1;
        let s = 0;
        let b = 0;
        let qmin = 0;
        let qmax = 0;
        for (let i = i1; i < i2; i++) {
          const g = Math.floor(i / gsz);
          if (n * nG + g !== gi) {
            gi = n * nG + g;
            if (o.dynamic && i === g * gsz) {
              groupCurrentValues(w, D, S, Rt, K, ro, so, i1, i, Math.min(K, i + gsz), part);
              setDynamicParams(grid, gi, part, Math.min(K, i + gsz) - i);
            }
            s = grid.scale[gi];
            b = grid.bias[gi];
            [qmin, qmax] = qRange(grid, gi);
          }
          const ri = i * K;
          let acc = S[so + i - i1];
          for (let l = i1; l < i; l++) acc += D[ro + l] * Rt[ri + l];
          const wi = w[ro + i];
          const x = wi + acc / Rt[ri + i];
          if (o.trace) o.trace[n * K + i] = x;
          const qi = quantizeValue(x, s, b, qmin, qmax);
          q[n * K + i] = qi;
          let val = dequantizeValue(qi, s, b);
          if (isOut?.[ro + i] && resVal) {
            const h = f32ToF16Bits(x - val);
            resVal[ro + i] = h;
            val += f16BitsToF32(h);
          }
          D[ro + i] = wi - val;
        }
      }
    }
    if (isOut && resVal && o.outlierPos && o.residual) {
      const { rowPtr, cols } = o.outlierPos;
      for (let r = 0; r < rows; r++) {
        for (let i = rowPtr[n0 + r]; i < rowPtr[n0 + r + 1]; i++) o.residual[i] = resVal[r * K + cols[i]];
      }
    }
  }
}

/**
 * Current (compensated) values of columns [a, e) after columns < a are quantized, as the
 * right-looking GPTQ would hold them: with t_j = Σ_{l<a} d_l·R[l, j], they are w + t·R_gg⁻¹ where
 * R_gg = R[a:e, a:e] (the least-squares compensation of the fixed errors, restricted to the group;
 * R⁻¹ is upper triangular, so only this block is needed). Solved by forward substitution.
 */
function groupCurrentValues(
  w: Float64Array,
  D: Float64Array,
  S: Float64Array,
  Rt: Float64Array,
  K: number,
  ro: number,
  so: number,
  i1: number,
  a: number,
  e: number,
  out: Float64Array,
): void {
  for (let j = a; j < e; j++) {
    const rj = j * K;
    let t = S[so + j - i1];
    for (let l = i1; l < a; l++) t += D[ro + l] * Rt[rj + l];
    // y_j = (t_j − Σ_{a≤l<j} y_l·R[l, j]) / R[j, j]
    for (let l = a; l < j; l++) t -= out[l - a] * Rt[rj + l];
    out[j - a] = t / Rt[rj + j];
  }
  for (let j = a; j < e; j++) out[j - a] += w[ro + j];
}

/** Standard GPTQ groupwise: the group's RTN parameters from its current values v[0..len). */
function setDynamicParams(grid: QuantGrid, gi: number, v: Float64Array, len: number): void {
  const st = groupStats(v, 0, len);
  if (grid.scheme === 'w4a8') {
    grid.scale[gi] = w4a8Scale(st.absmax);
    grid.bias[gi] = 0;
  } else {
    const [s, bias] = w4a16Params(st.min, st.max);
    grid.scale[gi] = s;
    grid.bias[gi] = bias;
  }
}

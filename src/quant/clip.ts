/**
 * Clip search: a training-free stand-in for OmniQuant/OdysseyLLM's learnable weight clipping.
 * For each group (the whole row for per-channel w4a8) try scales γ·s_RTN for γ from 1 down to
 * minRatio (w2-4-16: the representable codes in that range) and keep the one with the smallest
 * layer-output error ‖(W_row − Q(W_row))·Xᵀ‖² on the calibration activations.
 *
 * Cost. With G = XᵀX ≈ Fcᵀ·Fc (Fc: X itself when T is small, else a pivoted Cholesky factor of
 * rank r), the error of a row is ‖y‖² with y = Σ_k e_k·Fc[k] ∈ R^r. We keep, per group, F·w and
 * F·q; moving to the next candidate scale changes only the few integers that cross a rounding
 * boundary (a few % of them), each an O(r) update, and the objective is O(r). A row costs about
 * 2·K·r for the initial products plus a small multiple of that for all candidates — versus
 * 20·K² for evaluating eᵀGe from scratch per candidate.
 *
 * Groups of a row are coupled through XᵀX (their errors add up in y), so grouped schemes use one
 * sweep of coordinate descent in K order: each group is optimised with the others held fixed.
 * Without calibration data the objective is the plain weight error ‖W_row − Q(W_row)‖².
 */
import type { CalibContext, ClipFactor } from './calib';
import {
  dequantizeValue,
  groupStats,
  qRange,
  quantizeValue,
  setW2Code,
  w2Offset,
  w4a8Scale,
  w4a16Params,
} from './grid';
import { gemmNT } from './linalg';
import { w2CodeCandidates } from './mixed-2-4';
import type { QuantGrid } from './types';

export interface ClipOptions {
  /** Number of candidate ratios γ, evenly spaced from 1 down to minRatio (default 20). */
  steps?: number;
  /** Smallest ratio γ tried (default 0.5). */
  minRatio?: number;
}

/**
 * Re-choose the (scale, bias) of every group of an RTN-initialised grid (rtnParams + assignCodes
 * done) and its integers, minimising the output error (or weight error when ctx is null).
 * Returns the mean chosen scale ratio s/s_RTN.
 */
export function clipSearch(
  grid: QuantGrid,
  W: Float32Array,
  ctx: CalibContext | null,
  opts: ClipOptions = {},
): { meanRatio: number } {
  const steps = Math.max(1, Math.floor(opts.steps ?? 20));
  const minRatio = opts.minRatio ?? 0.5;
  if (!(minRatio > 0 && minRatio <= 1)) throw new Error(`clip: minRatio must be in (0, 1], got ${minRatio}`);
  const { N, K, nGroups: nG, groupSize } = grid;
  const f: ClipFactor | null = ctx ? ctx.clipFactor() : null;
  const r = f ? f.r : 0;
  const asym = grid.scheme === 'w4a16';
  const mid = grid.scheme === 'w2-4-16';
  // Scratch for a batch of rows, allocated once. Fw/Fq: [row][group][r].
  // Rows sharing each pass over FcT (more reuse), fewer when per-group products make the batch big.
  const RB = f ? Math.max(1, Math.min(nG === 1 ? 32 : 8, N)) : 1;
  const Fw = new Float64Array(RB * nG * r);
  const Fq = new Float64Array(RB * nG * r);
  const wB = new Float64Array(f ? RB * K : 0);
  const qB = new Float64Array(f ? RB * K : 0);
  const ct = new Float64Array(f ? r * RB : 0); // one group's products, [t][row]
  // F1[g] = Σ_{k∈g} Fc[k] (w4a16 only: the bias term); the same for every row.
  const F1 = new Float64Array(asym ? nG * r : 0);
  if (f && asym) {
    for (let g = 0; g < nG; g++) {
      for (let k = g * groupSize; k < Math.min(K, (g + 1) * groupSize); k++) {
        for (let t = 0; t < r; t++) F1[g * r + t] += f.Fc[k * r + t];
      }
    }
  }
  const y = new Float64Array(r);
  const z = new Float64Array(r);
  const fqWork = new Float64Array(r);
  const fqBest = new Float64Array(r);
  const qWork = new Int8Array(groupSize);
  const qBest = new Int8Array(groupSize);
  const chK = new Int32Array(groupSize); // columns whose integer changed for the current candidate
  const chD = new Float64Array(groupSize); // and by how much
  const candS: number[] = [];
  const candB: number[] = [];
  const candCode: number[] = [];
  let ratioSum = 0;

  for (let n = 0; n < N; n++) {
    const wRow = W.subarray(n * K, (n + 1) * K);
    const qRow = grid.q.subarray(n * K, (n + 1) * K);
    const rb = n % RB;
    if (f && rb === 0) batchProducts(grid, W, n, Math.min(RB, N - n), f, Fw, Fq, wB, qB, ct, mid);
    const po = rb * nG * r; // this row's slice of Fw / Fq
    if (f) {
      y.fill(0);
      for (let g = 0; g < nG; g++) {
        const gi = n * nG + g;
        const s = grid.scale[gi];
        const b = asym ? grid.bias[gi] : 0;
        const fo = po + g * r;
        for (let t = 0; t < r; t++) y[t] += Fw[fo + t] - s * Fq[fo + t] - (asym ? b * F1[g * r + t] : 0);
      }
    }
    for (let g = 0; g < nG; g++) {
      const gi = n * nG + g;
      const k0 = g * groupSize;
      const k1 = Math.min(K, k0 + groupSize);
      const len = k1 - k0;
      const [qmin, qmax] = qRange(grid, gi);
      const off = mid ? w2Offset(grid.is4![gi] !== 0) : 0;
      // Candidate parameters, candidate 0 = the current (RTN) ones.
      candS.length = 0;
      candB.length = 0;
      candCode.length = 0;
      const s0 = grid.scale[gi];
      if (mid) {
        for (const c of w2CodeCandidates(grid.codes![gi], steps, minRatio)) {
          const s = Math.fround(grid.rowScale![n] * c);
          candS.push(s);
          candB.push(-off * s);
          candCode.push(c);
        }
      } else {
        const st = groupStats(wRow, k0, k1);
        for (let t = 0; t < steps; t++) {
          const gamma = 1 - (t * (1 - minRatio)) / Math.max(1, steps - 1);
          if (asym) {
            const [s, b] = w4a16Params(st.min, st.max, gamma);
            candS.push(s);
            candB.push(b);
          } else {
            candS.push(w4a8Scale(st.absmax, gamma));
            candB.push(0);
          }
        }
      }
      // Candidate 0 is exactly the grid's current parameters, which the current integers belong to.
      candS[0] = grid.scale[gi];
      candB[0] = grid.bias[gi];
      for (let j = 0; j < len; j++) qWork[j] = qRow[k0 + j];
      let bestT = 0;
      let best: number;
      if (f) {
        const fo = po + g * r;
        // z = (y without this group's contribution) + F·w_g; a candidate's error is z − s·F·q̃ − b·F·1.
        for (let t = 0; t < r; t++) {
          const contrib = Fw[fo + t] - candS[0] * Fq[fo + t] - (asym ? candB[0] * F1[g * r + t] : 0);
          z[t] = y[t] - contrib + Fw[fo + t];
          fqWork[t] = Fq[fo + t];
        }
        best = groupObjective(
          z,
          fqWork,
          F1,
          g * r,
          asym,
          candS[0],
          candB[0],
          r,
          f.residual,
          wRow,
          qWork,
          k0,
          len,
        );
        fqBest.set(fqWork);
      } else {
        best = weightError(wRow, qWork, k0, len, candS[0], candB[0]);
      }
      qBest.set(qWork.subarray(0, len));
      for (let t = 1; t < candS.length; t++) {
        const s = candS[t];
        const b = candB[t];
        let nc = 0;
        for (let j = 0; j < len; j++) {
          const qn = quantizeValue(wRow[k0 + j], s, b, qmin, qmax);
          const dq = qn - qWork[j];
          if (dq !== 0) {
            qWork[j] = qn;
            chK[nc] = k0 + j;
            chD[nc++] = dq;
          }
        }
        if (f) addColumns(fqWork, f.Fc, r, chK, chD, nc);
        const obj = f
          ? groupObjective(z, fqWork, F1, g * r, asym, s, b, r, f.residual, wRow, qWork, k0, len)
          : weightError(wRow, qWork, k0, len, s, b);
        if (obj < best) {
          best = obj;
          bestT = t;
          qBest.set(qWork.subarray(0, len));
          if (f) fqBest.set(fqWork);
        }
      }
      // Commit the best candidate.
      if (mid) setW2Code(grid, n, gi, candCode[bestT]);
      else {
        grid.scale[gi] = candS[bestT];
        grid.bias[gi] = candB[bestT];
      }
      ratioSum += s0 > 0 ? candS[bestT] / s0 : 1;
      for (let j = 0; j < len; j++) qRow[k0 + j] = qBest[j];
      if (f) {
        const fo = po + g * r;
        const s = candS[bestT];
        const b = candB[bestT];
        for (let t = 0; t < r; t++) {
          Fq[fo + t] = fqBest[t];
          y[t] = z[t] - s * fqBest[t] - (asym ? b * F1[g * r + t] : 0);
        }
      }
    }
  }
  return { meanRatio: ratioSum / (N * nG) };
}

/**
 * For rows n0..n0+rows−1 and every group g: Fw = Σ_{k∈g} w_k·Fc[k] and Fq = Σ_{k∈g} q̃_k·Fc[k]
 * (q̃ = q − off for w2-4-16, whose bias −off·s folds into q̃), as dot-product GEMMs against FcT.
 */
function batchProducts(
  grid: QuantGrid,
  W: Float32Array,
  n0: number,
  rows: number,
  f: ClipFactor,
  Fw: Float64Array,
  Fq: Float64Array,
  wB: Float64Array,
  qB: Float64Array,
  ct: Float64Array,
  mid: boolean,
): void {
  const { K, nGroups: nG, groupSize } = grid;
  const { FcT, r } = f;
  for (let rb = 0; rb < rows; rb++) {
    const n = n0 + rb;
    for (let k = 0; k < K; k++) {
      const gi = n * nG + Math.floor(k / groupSize);
      wB[rb * K + k] = W[n * K + k];
      qB[rb * K + k] = grid.q[n * K + k] - (mid ? w2Offset(grid.is4![gi] !== 0) : 0);
    }
  }
  // FcT is the big operand (r × K) and the batch rows the small one, so FcT goes first: gemmNT
  // keeps its second operand's tile in cache, and FcT is then streamed once per batch.
  for (let g = 0; g < nG; g++) {
    const k0 = g * groupSize;
    const len = Math.min(K, k0 + groupSize) - k0;
    for (const [src, dst] of [
      [wB, Fw],
      [qB, Fq],
    ] as const) {
      ct.fill(0);
      gemmNT(r, rows, len, FcT, k0, K, src, k0, K, ct, 0, rows, 1);
      for (let rb = 0; rb < rows; rb++) {
        const o = (rb * nG + g) * r;
        for (let t = 0; t < r; t++) dst[o + t] = ct[t * rows + rb];
      }
    }
  }
}

/** acc += Σ_i d[i]·Fc[k[i]] (rows of Fc, length r), four at a time so acc is loaded/stored once per four. */
function addColumns(
  acc: Float64Array,
  Fc: Float64Array,
  r: number,
  k: Int32Array,
  d: Float64Array,
  n: number,
): void {
  let i = 0;
  for (; i + 3 < n; i += 4) {
    const d0 = d[i];
    const d1 = d[i + 1];
    const d2 = d[i + 2];
    const d3 = d[i + 3];
    const f0 = k[i] * r;
    const f1 = k[i + 1] * r;
    const f2 = k[i + 2] * r;
    const f3 = k[i + 3] * r;
    for (let u = 0; u < r; u++)
      acc[u] += d0 * Fc[f0 + u] + d1 * Fc[f1 + u] + d2 * Fc[f2 + u] + d3 * Fc[f3 + u];
  }
  for (; i < n; i++) {
    const d0 = d[i];
    const f0 = k[i] * r;
    for (let u = 0; u < r; u++) acc[u] += d0 * Fc[f0 + u];
  }
}

/** ‖z − s·Fq − b·F1‖² (+ Σ residual_k·e_k² for a truncated factor). */
function groupObjective(
  z: Float64Array,
  Fq: Float64Array,
  F1: Float64Array,
  fo: number,
  asym: boolean,
  s: number,
  b: number,
  r: number,
  residual: Float64Array | null,
  wRow: Float32Array,
  q: Int8Array,
  k0: number,
  len: number,
): number {
  let acc = 0;
  if (asym) {
    for (let t = 0; t < r; t++) {
      const v = z[t] - s * Fq[t] - b * F1[fo + t];
      acc += v * v;
    }
  } else {
    for (let t = 0; t < r; t++) {
      const v = z[t] - s * Fq[t];
      acc += v * v;
    }
  }
  if (residual) {
    for (let j = 0; j < len; j++) {
      const e = wRow[k0 + j] - dequantizeValue(q[j], s, b);
      acc += residual[k0 + j] * e * e;
    }
  }
  return acc;
}

function weightError(
  wRow: Float32Array,
  q: Int8Array,
  k0: number,
  len: number,
  s: number,
  b: number,
): number {
  let acc = 0;
  for (let j = 0; j < len; j++) {
    const e = wRow[k0 + j] - dequantizeValue(q[j], s, b);
    acc += e * e;
  }
  return acc;
}

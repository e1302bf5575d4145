/**
 * The w2-4-16 specifics: range-aware choice of the 4-bit groups, the two-level scales
 * (f32 rowScale × u8 code), and the sparse fp16 outliers.
 */
import { f16BitsToF32, f32ToF16Bits } from './f16';
import { dequantizeValue, groupStats, setW2Code, w2Offset } from './grid';
import { w2Geometry } from './layouts';
import type { QuantGrid } from './types';

/**
 * Choose row n's precisions and RTN scales from its weights (row = W[n, 0..K)):
 *  - the n4 groups with the largest range max − min are 4-bit (FORMAT.md: same count per row);
 *  - the scale a group needs to represent its absmax without clipping is absmax/1.5 (2-bit: levels
 *    ±0.5s, ±1.5s) or absmax/7.5 (4-bit);
 *  - rowScale = max needed / 255 and code = ceil(needed / rowScale).
 * Why ceil: it never clips (RTN error stays ≤ s/2 for every weight, which the outlier selection and
 * tests rely on) and costs a scale at most 1/code too large (on average 0.5/code). Measured on the
 * TinyStories-656K weights and on synthetic 4096-wide rows: 2-bit groups get codes ≳ 120 (mostly
 * 255), 4-bit groups ≈ 35–65 (their scale is absmax/7.5, ~5× smaller), so the average overshoot is
 * ≈ 0.2% (2-bit) and ≈ 0.9% (4-bit). Rounding would halve that on average but clip the group's
 * largest weight half the time; the clip method searches the codes against the real error anyway.
 */
export function planW2Row(grid: QuantGrid, row: ArrayLike<number>, n: number): void {
  const { K, nGroups: nG, groupSize } = grid;
  const { n4 } = w2Geometry(K);
  const ranges = new Float64Array(nG);
  const absmax = new Float64Array(nG);
  for (let g = 0; g < nG; g++) {
    const st = groupStats(row, g * groupSize, Math.min(K, (g + 1) * groupSize));
    ranges[g] = st.max - st.min;
    absmax[g] = st.absmax;
  }
  const order = Array.from({ length: nG }, (_, g) => g).sort((a, b) => ranges[b] - ranges[a] || a - b);
  const is4 = grid.is4!;
  for (let g = 0; g < nG; g++) is4[n * nG + g] = 0;
  for (let i = 0; i < n4; i++) is4[n * nG + order[i]] = 1;
  let maxNeeded = 0;
  const needed = new Float64Array(nG);
  for (let g = 0; g < nG; g++) {
    needed[g] = absmax[g] / w2Offset(is4[n * nG + g] !== 0);
    if (needed[g] > maxNeeded) maxNeeded = needed[g];
  }
  const rowScale = Math.fround(maxNeeded / 255);
  grid.rowScale![n] = rowScale;
  for (let g = 0; g < nG; g++) {
    const code = rowScale > 0 ? Math.min(255, Math.max(1, Math.ceil(needed[g] / rowScale))) : 1;
    setW2Code(grid, n, n * nG + g, code);
  }
}

/** Distinct candidate codes for a clip search from the RTN code c0 down to ratio minRatio. */
export function w2CodeCandidates(c0: number, steps: number, minRatio: number): number[] {
  const out: number[] = [];
  for (let t = 0; t < steps; t++) {
    const gamma = 1 - (t * (1 - minRatio)) / Math.max(1, steps - 1);
    const c = Math.max(1, Math.round(gamma * c0));
    if (out.length === 0 || out[out.length - 1] !== c) out.push(c);
  }
  return out;
}

/**
 * Per row, pick the `fraction` of the row's real weights in 2-bit groups with the largest
 * score |W − Q(W)|·colWeight[k] (colWeight: ‖X_k‖ with calibration data, 1/U_kk in GPTQ, else 1).
 * Returns CSR positions (columns ascending); residuals are filled separately.
 */
export function pickOutlierPositions(
  grid: QuantGrid,
  W: ArrayLike<number>,
  fraction: number,
  colWeight?: ArrayLike<number>,
): { rowPtr: Uint32Array; cols: Uint16Array } {
  const { N, K, nGroups: nG, groupSize, q, scale, bias } = grid;
  const is4 = grid.is4!;
  const rowPtr = new Uint32Array(N + 1);
  const chosen: number[][] = [];
  const score = new Float64Array(K);
  let total = 0;
  for (let n = 0; n < N; n++) {
    let count = 0;
    for (let k = 0; k < K; k++) {
      const gi = n * nG + Math.floor(k / groupSize);
      if (is4[gi]) {
        score[k] = -1;
        continue;
      }
      count++;
      const e = Math.abs(W[n * K + k] - dequantizeValue(q[n * K + k], scale[gi], bias[gi]));
      score[k] = colWeight ? e * colWeight[k] : e;
    }
    const m = Math.min(count, Math.round(fraction * count));
    const top = topIndices(score, m).filter((k) => score[k] > 0);
    top.sort((a, b) => a - b);
    chosen.push(top);
    total += top.length;
    rowPtr[n + 1] = total;
  }
  const cols = new Uint16Array(total);
  let i = 0;
  for (const row of chosen) for (const k of row) cols[i++] = k;
  return { rowPtr, cols };
}

/** Fill grid.outliers from positions, with residual = f16(W − dequant(q)) (RTN / clip methods). */
export function setOutlierResiduals(
  grid: QuantGrid,
  W: ArrayLike<number>,
  pos: { rowPtr: Uint32Array; cols: Uint16Array },
): void {
  const { N, K, nGroups, groupSize, q, scale, bias } = grid;
  const residual = new Uint16Array(pos.cols.length);
  for (let n = 0; n < N; n++) {
    for (let i = pos.rowPtr[n]; i < pos.rowPtr[n + 1]; i++) {
      const k = pos.cols[i];
      const gi = n * nGroups + Math.floor(k / groupSize);
      residual[i] = f32ToF16Bits(W[n * K + k] - dequantizeValue(q[n * K + k], scale[gi], bias[gi]));
    }
  }
  grid.outliers = { rowPtr: pos.rowPtr, cols: pos.cols, residual };
}

/** Indices of the m largest entries of score (unordered), via a size-m min-heap: O(K log m). */
export function topIndices(score: ArrayLike<number>, m: number): number[] {
  if (m <= 0) return [];
  const heap: number[] = [];
  const less = (a: number, b: number) => score[a] < score[b] || (score[a] === score[b] && a > b);
  const siftDown = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let s = i;
      if (l < heap.length && less(heap[l], heap[s])) s = l;
      if (r < heap.length && less(heap[r], heap[s])) s = r;
      if (s === i) return;
      [heap[i], heap[s]] = [heap[s], heap[i]];
      i = s;
    }
  };
  for (let k = 0; k < score.length; k++) {
    if (heap.length < m) {
      heap.push(k);
      let i = heap.length - 1;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!less(heap[i], heap[p])) break;
        [heap[i], heap[p]] = [heap[p], heap[i]];
        i = p;
      }
    } else if (less(heap[0], k)) {
      heap[0] = k;
      siftDown(0);
    }
  }
  return heap;
}

/** The f32 value of outlier i's residual. */
export function residualValue(grid: QuantGrid, i: number): number {
  return f16BitsToF32(grid.outliers!.residual[i]);
}

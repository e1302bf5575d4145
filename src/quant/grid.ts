/**
 * Scheme rules shared by every method: group geometry, integer ranges, how a group's (scale,
 * bias) is derived from its statistics at a clip ratio γ (γ = 1 is plain RTN), and the scalar
 * quantize / dequantize formulas. RTN, clip search and GPTQ differ only in which (scale, bias)
 * they pick and how they pick the integers; they all go through these functions, so the grid
 * values they optimise are bit-identical to what the layouts store and the kernels compute.
 */
import { f16BitsToF32, f16CeilBits, f16FloorBits } from './f16';
import { W2_GROUP, W4A16_GROUP, w2Geometry, w4a8Geometry } from './layouts';
import type { QuantGrid, QuantScheme } from './types';

/** An empty grid of the right geometry (groupSize: w4a8 only; 0/undefined = per channel). */
export function newGrid(scheme: QuantScheme, N: number, K: number, groupSize?: number): QuantGrid {
  let gsz: number;
  let nGroups: number;
  if (scheme === 'w4a8') {
    const geo = w4a8Geometry(K, groupSize);
    gsz = geo.g;
    nGroups = geo.nGroups;
  } else if (scheme === 'w4a16') {
    gsz = W4A16_GROUP;
    nGroups = Math.ceil(K / gsz);
  } else {
    if (K > 65535) throw new Error(`w2-4-16: K=${K} does not fit the 16-bit outlier column index`);
    gsz = W2_GROUP;
    nGroups = w2Geometry(K).nG;
  }
  const grid: QuantGrid = {
    scheme,
    N,
    K,
    groupSize: gsz,
    nGroups,
    q: new Int8Array(N * K),
    scale: new Float32Array(N * nGroups),
    bias: new Float32Array(N * nGroups),
  };
  if (scheme === 'w2-4-16') {
    grid.is4 = new Uint8Array(N * nGroups);
    grid.rowScale = new Float32Array(N);
    grid.codes = new Uint8Array(N * nGroups);
    grid.outliers = {
      rowPtr: new Uint32Array(N + 1),
      cols: new Uint16Array(0),
      residual: new Uint16Array(0),
    };
  }
  return grid;
}

/** Integer range of group gi (flat index n·nGroups + g). */
export function qRange(grid: QuantGrid, gi: number): [number, number] {
  if (grid.scheme === 'w4a8') return [-8, 7];
  if (grid.scheme === 'w4a16') return [0, 15];
  return grid.is4![gi] ? [0, 15] : [0, 3];
}

/** Nearest integer code for w under (s, b), clamped: the one quantization rule of every method. */
export function quantizeValue(w: number, s: number, b: number, qmin: number, qmax: number): number {
  if (s === 0) return qmin > 0 ? qmin : Math.min(qmax, 0);
  const q = Math.round((w - b) / s);
  return q < qmin ? qmin : Math.min(q, qmax);
}

/** The f32 value the kernels compute for code q: fround(s·q + b). */
export function dequantizeValue(q: number, s: number, b: number): number {
  return Math.fround(s * q + b);
}

/** Statistics of one group of one row that the parameter rules need. */
export interface GroupStats {
  min: number;
  max: number;
  absmax: number;
}

export function groupStats(w: ArrayLike<number>, start: number, end: number): GroupStats {
  let mn = Number.POSITIVE_INFINITY;
  let mx = Number.NEGATIVE_INFINITY;
  for (let k = start; k < end; k++) {
    const v = w[k];
    if (v < mn) mn = v;
    if (v > mx) mx = v;
  }
  return { min: mn, max: mx, absmax: Math.max(Math.abs(mn), Math.abs(mx)) };
}

/** w4a8: symmetric scale γ·absmax/7 (f32). q ∈ [−8, 7]; −8 is reachable only after clipping. */
export function w4a8Scale(absmax: number, gamma = 1): number {
  return Math.fround((gamma * absmax) / 7);
}

/**
 * w4a16: asymmetric (scale, bias), both f16. The range [min, max] is shrunk by γ around its centre
 * (clip search), then bias = largest f16 ≤ min and scale = smallest f16 ≥ (max − bias)/15, so the
 * stored grid provably covers the (shrunk) range: RTN error ≤ scale/2 per element. The bias is a
 * real number, not −scale·(integer zero point): the kernel computes scale·Σq·x + bias·Σx, so an
 * integer zero point buys nothing and would cost accuracy.
 */
export function w4a16Params(min: number, max: number, gamma = 1): [number, number] {
  const c = 0.5 * (min + max);
  const lo = gamma === 1 ? min : c - gamma * (c - min);
  const hi = gamma === 1 ? max : c + gamma * (max - c);
  const b = f16BitsToF32(f16FloorBits(lo));
  const s = f16BitsToF32(f16CeilBits((hi - b) / 15));
  return [s, b];
}

/** w2-4-16 offset of the symmetric zero-free grid: value = s·(q − off). */
export function w2Offset(is4: boolean): number {
  return is4 ? 7.5 : 1.5;
}

/** Set w2-4-16 group gi to code c (scale = fround(rowScale·c), bias = −off·scale). */
export function setW2Code(grid: QuantGrid, n: number, gi: number, code: number): void {
  const s = Math.fround(grid.rowScale![n] * code);
  grid.codes![gi] = code;
  grid.scale[gi] = s;
  grid.bias[gi] = -w2Offset(grid.is4![gi] !== 0) * s;
}

/** Quantize every weight with the grid's current (scale, bias): fills grid.q. */
export function assignCodes(grid: QuantGrid, W: ArrayLike<number>): void {
  const { N, K, groupSize, nGroups, q, scale, bias } = grid;
  for (let n = 0; n < N; n++) {
    for (let g = 0; g < nGroups; g++) {
      const gi = n * nGroups + g;
      const [qmin, qmax] = qRange(grid, gi);
      const s = scale[gi];
      const b = bias[gi];
      const end = Math.min(K, (g + 1) * groupSize);
      for (let k = g * groupSize; k < end; k++) q[n * K + k] = quantizeValue(W[n * K + k], s, b, qmin, qmax);
    }
  }
}

/**
 * Shared types of the quantizers. A quantizer produces a QuantGrid (integers + group parameters,
 * one entry per real weight, no padding); a layout packer turns the grid into the exact
 * components of docs/FORMAT.md. Keeping the two apart lets every method (RTN, clip, GPTQ) share
 * the packers, and lets tests check the byte layout independently of the numerics.
 */

export type Scheme = 'f32' | 'f16' | 'w4a8' | 'w4a16' | 'w2-4-16';
export type QuantScheme = 'w4a8' | 'w4a16' | 'w2-4-16';
export type Method = 'rtn' | 'clip' | 'gptq';

/** The named typed arrays of one tensor, exactly as the kernels read them (docs/FORMAT.md). */
export type Components = Record<string, Uint32Array | Float32Array>;

/** Sparse fp16 residuals of the w2-4-16 scheme, CSR per row, columns ascending within a row. */
export interface OutlierSet {
  rowPtr: Uint32Array; // [N + 1]
  cols: Uint16Array; // [nnz]
  residual: Uint16Array; // [nnz], f16 bits of W − dequant(q)
}

/**
 * Integer codes and per-group parameters of a quantized [N, K] weight. Every scheme's weight is
 * `fround(scale[n, g] · q[n, k] + bias[n, g])` with g = floor(k / groupSize), plus the outlier
 * residual for w2-4-16:
 *  - w4a8:    q ∈ [−8, 7], bias = 0, scale f32.
 *  - w4a16:   q ∈ [0, 15], scale and bias exactly representable in f16.
 *  - w2-4-16: q ∈ [0, 3] (2-bit group) or [0, 15] (4-bit group), scale = fround(rowScale · code),
 *             bias = −1.5·scale or −7.5·scale (i.e. value = scale · (q − 1.5 | 7.5)).
 */
export interface QuantGrid {
  scheme: QuantScheme;
  N: number;
  K: number;
  /** Columns per group along K (w4a8 per channel: Kp, so one group per row). */
  groupSize: number;
  /** Groups per row (ceil(K / groupSize)). */
  nGroups: number;
  q: Int8Array; // [N * K]
  scale: Float32Array; // [N * nGroups]
  bias: Float32Array; // [N * nGroups]
  /** w2-4-16 only: 1 where group g of row n is 4-bit. [N * nGroups] */
  is4?: Uint8Array;
  /** w2-4-16 only: per-row f32 scale. [N] */
  rowScale?: Float32Array;
  /** w2-4-16 only: per-group scale code c ∈ [1, 255]. [N * nGroups] */
  codes?: Uint8Array;
  /** w2-4-16 only. */
  outliers?: OutlierSet;
}

export interface QuantStats {
  method: Method | 'none';
  seconds: number;
  /** max |W − Q(W)| over all elements (after outliers). */
  maxAbsError: number;
  /** sqrt(mean (W − Q(W))²). */
  rmsError: number;
  /** ‖(W − Q)Xᵀ‖² / ‖W Xᵀ‖² on the calibration data, when measured (opts.measureOutputError). */
  relOutputError?: number;
  /** w2-4-16: number of fp16 outliers. */
  outliers?: number;
  /** clip: mean chosen clip ratio (scale / RTN scale) over groups. */
  meanClipRatio?: number;
}

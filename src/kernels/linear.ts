import type { Scheme } from '../quant/types';

/**
 * A linear weight [N, K] resident on the GPU in its pack layout (docs/FORMAT.md). Tensors larger
 * than the device's maxStorageBufferBindingSize are split along rows into pieces, each with its
 * own buffers; kernels dispatch once per piece and write rows row0 … row0 + rows - 1.
 */
export interface GpuLinear {
  scheme: Scheme;
  N: number;
  K: number;
  /** Columns per scale group (w4a8: Kp when per channel). */
  groupSize: number;
  pieces: GpuLinearPiece[];
}

export interface GpuLinearPiece {
  row0: number;
  rows: number;
  /** Component name (qweight, scales, ...) → buffer holding this piece's rows. */
  buffers: Record<string, GPUBuffer>;
}

/**
 * Activations as a matmul reads them: int8 packed 4 per u32 + per-token scale (W4A8); 16-bit
 * fixed point split into int8 halves (`x16`, the W4A16 / 2/4/16 prefill token blocks; layout in
 * shaders/rmsnorm.wgsl, X16_OUT: 2 bytes per feature in `q`, one i32 Σ per 64 features in `sum`,
 * a per-token scale, in the lane order of 2/4/16 when `transposed`); or f32.
 * `stride` is the per-token length in elements (features), a multiple of ACT_ALIGN: every
 * layout's padded K fits, and the padding is zero.
 */
export type Activations =
  | { kind: 'int8'; q: GPUBuffer; scale: GPUBuffer; stride: number }
  | { kind: 'x16'; q: GPUBuffer; sum: GPUBuffer; scale: GPUBuffer; stride: number; transposed: boolean }
  | { kind: 'f32'; x: GPUBuffer; stride: number };

/** Bytes per token of each buffer of `x16` activations with `stride` features. */
export function x16Bytes(stride: number): { q: number; sum: number; scale: number } {
  return { q: 2 * stride, sum: (stride / 64) * 4, scale: 4 };
}

/** Per-token activation rows are padded to this many elements (covers every scheme's Kp). */
export const ACT_ALIGN = 128;

/** Workgroups for `tiles` tiles on a grid that respects the 65535-per-dimension limit. */
export function grid2d(tiles: number, maxPerDim: number): [number, number] {
  const x = Math.max(1, Math.min(tiles, maxPerDim));
  return [x, Math.ceil(tiles / x)];
}

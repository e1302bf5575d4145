import { f16BitsToF32 } from '../f16';
import type { Components, QuantGrid, Scheme } from '../types';
import { dequantizeF16, dequantizeF32 } from './f16';
import { packW2416, unpackW2416 } from './w2-4-16';
import { packW4A8, unpackW4A8 } from './w4a8';
import { packW4A16, unpackW4A16 } from './w4a16';

export { roundUp } from './common';
export { dequantizeF16, dequantizeF32, packF16, packF32 } from './f16';
export { kOrderToSlotOrder, packW2416, unpackW2416, W2_GROUP, w2Geometry, w2n4, w2SlotWord } from './w2-4-16';
export { packW4A8, unpackW4A8, w4a8Geometry } from './w4a8';
export { packW4A16, unpackW4A16, W4A16_GROUP } from './w4a16';

/** Grid → the scheme's components (docs/FORMAT.md). */
export function packGrid(grid: QuantGrid): Components {
  switch (grid.scheme) {
    case 'w4a8':
      return packW4A8(grid);
    case 'w4a16':
      return packW4A16(grid);
    case 'w2-4-16':
      return packW2416(grid);
  }
}

/** Components → grid (inverse of packGrid). */
export function unpackGrid(scheme: QuantGrid['scheme'], c: Components, N: number, K: number): QuantGrid {
  switch (scheme) {
    case 'w4a8':
      return unpackW4A8(c, N, K);
    case 'w4a16':
      return unpackW4A16(c, N, K);
    case 'w2-4-16':
      return unpackW2416(c, N, K);
  }
}

/**
 * The f32 weight a grid stands for: fround(scale·q + bias) (+ the f16 outlier residual for
 * w2-4-16, added in f32). This is the CPU reference's view of the kernels' arithmetic.
 */
export function dequantizeGrid(grid: QuantGrid): Float32Array {
  const { N, K, q, scale, bias, groupSize, nGroups } = grid;
  const out = new Float32Array(N * K);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      const gi = n * nGroups + Math.floor(k / groupSize);
      out[n * K + k] = scale[gi] * q[n * K + k] + bias[gi];
    }
  }
  const o = grid.outliers;
  if (o) {
    for (let n = 0; n < N; n++) {
      for (let i = o.rowPtr[n]; i < o.rowPtr[n + 1]; i++) {
        const idx = n * K + o.cols[i];
        out[idx] = out[idx] + f16BitsToF32(o.residual[i]);
      }
    }
  }
  return out;
}

/** Exact inverse of the layout: the [N, K] f32 weight the kernels compute with. */
export function dequantize(scheme: Scheme, components: Components, N: number, K: number): Float32Array {
  switch (scheme) {
    case 'f32':
      return dequantizeF32(components, N, K);
    case 'f16':
      return dequantizeF16(components, N, K);
    default:
      return dequantizeGrid(unpackGrid(scheme, components, N, K));
  }
}

/** Total bytes of all components (without the 256-byte alignment padding of the pack). */
export function componentBytes(components: Components): number {
  let bytes = 0;
  for (const key of Object.keys(components)) bytes += components[key].byteLength;
  return bytes;
}

/** Storage cost: total component bytes · 8 / (N·K). */
export function bitsPerWeight(components: Components, N: number, K: number): number {
  return (componentBytes(components) * 8) / (N * K);
}

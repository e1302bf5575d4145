import type { Components, QuantGrid } from '../types';
import { checkShape, expectLength, roundUp } from './common';

/**
 * `w4a8` layout (OdysseyLLM / FastGEMM), docs/FORMAT.md:
 *  - Kp = roundUp(K, max(32, g)); per channel g = Kp.
 *  - qweight u32 [N][Kp/8], pre-interleaved for the shift trick: weight 8j+i (i < 4) is the LOW
 *    nibble of byte i, weight 8j+4+i the HIGH nibble of byte i. Then `(w << 4) & 0xF0F0F0F0` holds
 *    16·q(8j..8j+3) as four int8 and `w & 0xF0F0F0F0` holds 16·q(8j+4..8j+7): no arithmetic
 *    dequantization in the kernel, the 1/16 folds into the float scale.
 *  - scales f32 [N][Kp/g].
 */

/** Padded K and groups per row for a w4a8 tensor; groupSize 0/undefined = per output channel. */
export function w4a8Geometry(K: number, groupSize?: number): { Kp: number; g: number; nGroups: number } {
  if (groupSize !== undefined && groupSize !== 0) {
    if (!Number.isInteger(groupSize) || groupSize <= 0 || groupSize % 32 !== 0) {
      throw new Error(`w4a8: group size must be a positive multiple of 32, got ${groupSize}`);
    }
    const Kp = roundUp(K, groupSize);
    return { Kp, g: groupSize, nGroups: Kp / groupSize };
  }
  const Kp = roundUp(K, 32);
  return { Kp, g: Kp, nGroups: 1 };
}

export function packW4A8(grid: QuantGrid): Components {
  const { N, K, q, scale } = grid;
  checkShape(N, K);
  // Per channel is the one-group case g = Kp = roundUp(K, 32); K ≤ g with a larger g pads to Kp = g.
  const { Kp, g, nGroups } = w4a8Geometry(K, grid.groupSize);
  if (g !== grid.groupSize || nGroups !== grid.nGroups) {
    throw new Error(`w4a8: grid group size ${grid.groupSize} does not match K=${K}`);
  }
  expectLength('q', q, N * K);
  expectLength('scale', scale, N * nGroups);
  const wpr = Kp / 8;
  const qweight = new Uint32Array(N * wpr);
  for (let n = 0; n < N; n++) {
    const row = n * K;
    for (let j = 0; j < wpr; j++) {
      let word = 0;
      for (let i = 0; i < 4; i++) {
        const k0 = 8 * j + i;
        const k1 = k0 + 4;
        const lo = k0 < K ? q[row + k0] & 0xf : 0;
        const hi = k1 < K ? q[row + k1] & 0xf : 0;
        word |= (lo | (hi << 4)) << (8 * i);
      }
      qweight[n * wpr + j] = word >>> 0;
    }
  }
  return { qweight, scales: Float32Array.from(scale) };
}

export function unpackW4A8(c: Components, N: number, K: number): QuantGrid {
  checkShape(N, K);
  const { qweight, scales } = c;
  if (!(qweight instanceof Uint32Array) || !(scales instanceof Float32Array)) {
    throw new Error('w4a8: expected qweight: Uint32Array and scales: Float32Array');
  }
  if (qweight.length % N !== 0 || scales.length % N !== 0) throw new Error('w4a8: components not [N][*]');
  const wpr = qweight.length / N;
  const Kp = wpr * 8;
  const nGroups = scales.length / N;
  const g = Kp / nGroups;
  const geo = w4a8Geometry(K, g);
  if (!Number.isInteger(g) || geo.Kp !== Kp || geo.nGroups !== nGroups) {
    throw new Error(`w4a8: component sizes (Kp=${Kp}, groups=${nGroups}) do not fit K=${K}`);
  }
  const q = new Int8Array(N * K);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      const j = k >> 3;
      const r = k & 7;
      const word = qweight[n * wpr + j];
      const shift = r < 4 ? 8 * r : 8 * (r - 4) + 4;
      q[n * K + k] = (((word >>> shift) & 0xf) << 28) >> 28; // sign-extend the nibble
    }
  }
  return {
    scheme: 'w4a8',
    N,
    K,
    groupSize: g,
    nGroups,
    q,
    scale: Float32Array.from(scales),
    bias: new Float32Array(N * nGroups),
  };
}

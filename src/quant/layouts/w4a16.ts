import { f16BitsToF32, pack2x16float } from '../f16';
import type { Components, QuantGrid } from '../types';
import { checkShape, expectLength, roundUp } from './common';

/**
 * `w4a16` layout, docs/FORMAT.md: asymmetric uint4 per group of 128 columns.
 *  - Kp = roundUp(K, 32); G = ceil(K / 128) (the last group may be partial).
 *  - qweight u32 [N][Kp/8], natural order: weight 8j+i is bits 4i..4i+3 of word j.
 *  - scales u32 [N][G] = pack2x16float(scale, bias): W ≈ scale·q + bias.
 */
export const W4A16_GROUP = 128;

export function packW4A16(grid: QuantGrid): Components {
  const { N, K, q, scale, bias } = grid;
  checkShape(N, K);
  const G = Math.ceil(K / W4A16_GROUP);
  if (grid.groupSize !== W4A16_GROUP || grid.nGroups !== G)
    throw new Error('w4a16: grid must use groups of 128');
  expectLength('q', q, N * K);
  expectLength('scale', scale, N * G);
  expectLength('bias', bias, N * G);
  const wpr = roundUp(K, 32) / 8;
  const qweight = new Uint32Array(N * wpr);
  for (let n = 0; n < N; n++) {
    const row = n * K;
    for (let j = 0; j < wpr; j++) {
      let word = 0;
      for (let i = 0; i < 8; i++) {
        const k = 8 * j + i;
        if (k < K) word |= (q[row + k] & 0xf) << (4 * i);
      }
      qweight[n * wpr + j] = word >>> 0;
    }
  }
  const scales = new Uint32Array(N * G);
  for (let i = 0; i < N * G; i++) {
    // The quantizers keep scale and bias exactly f16-representable, so this rounding is a no-op.
    scales[i] = pack2x16float(scale[i], bias[i]);
  }
  return { qweight, scales };
}

export function unpackW4A16(c: Components, N: number, K: number): QuantGrid {
  checkShape(N, K);
  const { qweight, scales } = c;
  if (!(qweight instanceof Uint32Array) || !(scales instanceof Uint32Array)) {
    throw new Error('w4a16: expected qweight: Uint32Array and scales: Uint32Array');
  }
  const wpr = roundUp(K, 32) / 8;
  const G = Math.ceil(K / W4A16_GROUP);
  expectLength('qweight', qweight, N * wpr);
  expectLength('scales', scales, N * G);
  const q = new Int8Array(N * K);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) q[n * K + k] = (qweight[n * wpr + (k >> 3)] >>> (4 * (k & 7))) & 0xf;
  }
  const scale = new Float32Array(N * G);
  const bias = new Float32Array(N * G);
  for (let i = 0; i < N * G; i++) {
    scale[i] = f16BitsToF32(scales[i] & 0xffff);
    bias[i] = f16BitsToF32(scales[i] >>> 16);
  }
  return { scheme: 'w4a16', N, K, groupSize: W4A16_GROUP, nGroups: G, q, scale, bias };
}

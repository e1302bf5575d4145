import { f16BitsToF32, f32ToF16Bits } from '../f16';
import type { Components } from '../types';
import { checkShape, expectLength, roundUp } from './common';

/**
 * `f16` layout: data u32 [N][Kp/2], Kp = roundUp(K, 2); word j holds k = 2j in the low half and
 * k = 2j + 1 in the high half (what `unpack2x16float` returns as .x / .y). Padding is +0.
 */
export function packF16(W: Float32Array, N: number, K: number): Components {
  checkShape(N, K);
  expectLength('W', W, N * K);
  const wpr = roundUp(K, 2) / 2;
  const data = new Uint32Array(N * wpr);
  for (let n = 0; n < N; n++) {
    const src = n * K;
    const dst = n * wpr;
    for (let j = 0; j < wpr; j++) {
      const k = 2 * j;
      const lo = f32ToF16Bits(W[src + k]);
      const hi = k + 1 < K ? f32ToF16Bits(W[src + k + 1]) : 0;
      data[dst + j] = (lo | (hi << 16)) >>> 0;
    }
  }
  return { data };
}

export function dequantizeF16(c: Components, N: number, K: number): Float32Array {
  checkShape(N, K);
  const wpr = roundUp(K, 2) / 2;
  const data = c.data;
  if (!(data instanceof Uint32Array)) throw new Error("quant layout: f16 'data' must be a Uint32Array");
  expectLength('data', data, N * wpr);
  const out = new Float32Array(N * K);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      const w = data[n * wpr + (k >> 1)];
      out[n * K + k] = f16BitsToF32(k & 1 ? w >>> 16 : w & 0xffff);
    }
  }
  return out;
}

/** `f32` layout: data f32 [N][K], row-major. */
export function packF32(W: Float32Array, N: number, K: number): Components {
  checkShape(N, K);
  expectLength('W', W, N * K);
  return { data: Float32Array.from(W) };
}

export function dequantizeF32(c: Components, N: number, K: number): Float32Array {
  const data = c.data;
  if (!(data instanceof Float32Array)) throw new Error("quant layout: f32 'data' must be a Float32Array");
  expectLength('data', data, N * K);
  return Float32Array.from(data);
}

import { manifestGroupSize } from '../src/format/pack-layout';
import { roundUp, storageBuffer, uploadBuffer } from '../src/gpu/buffers';
import type { GpuContext } from '../src/gpu/device';
import type { Encodable } from '../src/kernels/encodable';
import { MATRIX_GEMM_TOKENS, matrixGemm, matrixUnitsAvailable } from '../src/kernels/gemm-matrix';
import { gemv } from '../src/kernels/gemv';
import { ACT_ALIGN, type GpuLinear } from '../src/kernels/linear';
import { LAYER_SHAPES } from './gemv';
import { randomComponents } from './synthetic';
import { calibrateIterations, timeGpu } from './timer';

/**
 * The prefill matmul (W4A8, int8 activations, token blocks) on the 7B/1B layer shapes for a
 * chunk of `tokens` tokens: µs, and integer ops per second (2·N·K·tokens) ÷ the dp4a peak the
 * issue measured on the lent H100 (113 T int-ops/s; other devices: a ratio to that figure).
 */
export const DP4A_PEAK_OPS = 113e12;

export interface GemmVariant {
  name: string;
  threadsPerRow: number;
  tokensPerWorkgroup: number;
  /** The matrix-unit GEMM (skipped where the adapter lacks i8 subgroup matrices) and its K tile. */
  matrixKTile?: number;
}

export const GEMM_VARIANTS: GemmVariant[] = [
  { name: 'matrix units, K tile 64', threadsPerRow: 0, tokensPerWorkgroup: 0, matrixKTile: 64 },
  { name: 'matrix units, K tile 128', threadsPerRow: 0, tokensPerWorkgroup: 0, matrixKTile: 128 },
  { name: 'block8 tpr4', threadsPerRow: 4, tokensPerWorkgroup: 8 },
  { name: 'block8 tpr8', threadsPerRow: 8, tokensPerWorkgroup: 8 },
  { name: 'block4 tpr4', threadsPerRow: 4, tokensPerWorkgroup: 4 },
  { name: 'block1 tpr32 (batched GEMV)', threadsPerRow: 32, tokensPerWorkgroup: 1 },
];

export interface GemmResult {
  shape: string;
  layer: string;
  variant: string;
  N: number;
  K: number;
  tokens: number;
  microseconds: number;
  opsPerSecond: number;
  peakFraction: number;
}

export async function benchGemm(gpu: GpuContext, shape: string, tokens: number): Promise<GemmResult[]> {
  const { device } = gpu;
  const results: GemmResult[] = [];
  for (const [layer, N, K] of LAYER_SHAPES[shape]) {
    const groupSize = manifestGroupSize('w4a8', K) ?? K;
    const comps = randomComponents('w4a8', N, K, groupSize, N * 17 + K);
    const buffers: Record<string, GPUBuffer> = {};
    for (const [name, arr] of Object.entries(comps)) buffers[name] = uploadBuffer(device, arr);
    const w: GpuLinear = { scheme: 'w4a8', N, K, groupSize, pieces: [{ row0: 0, rows: N, buffers }] };
    const stride = roundUp(K, ACT_ALIGN);
    const rows = roundUp(tokens, MATRIX_GEMM_TOKENS);
    const x = {
      kind: 'int8' as const,
      q: uploadBuffer(device, new Uint32Array((rows * stride) / 4).fill(0x01ff02fe)),
      scale: uploadBuffer(device, new Float32Array(rows).fill(0.01)),
      stride,
    };
    const y = storageBuffer(device, rows * N * 4);
    for (const v of GEMM_VARIANTS) {
      if (v.matrixKTile && !matrixUnitsAvailable(gpu, v.matrixKTile)) continue;
      const k: Encodable = v.matrixKTile
        ? await matrixGemm(gpu, w, x, y, { kTile: v.matrixKTile })
        : await gemv(gpu, w, x, y, {
            threadsPerRow: v.threadsPerRow,
            tokensPerWorkgroup: v.tokensPerWorkgroup,
          });
      const encode = (pass: GPUComputePassEncoder) => k.encode(pass, tokens);
      const iterations = await calibrateIterations(gpu, encode, 0.03);
      const t = await timeGpu(gpu, encode, { iterations, samples: 5 });
      const opsPerSecond = (2 * N * K * tokens) / t.secondsPerIteration;
      results.push({
        shape,
        layer,
        variant: v.name,
        N,
        K,
        tokens,
        microseconds: t.secondsPerIteration * 1e6,
        opsPerSecond,
        peakFraction: opsPerSecond / DP4A_PEAK_OPS,
      });
      k.destroy();
    }
    for (const b of [...Object.values(buffers), x.q, x.scale, y]) b.destroy();
  }
  return results;
}

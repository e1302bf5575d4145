import { manifestGroupSize } from '../src/format/pack-layout';
import { roundUp, storageBuffer, uploadBuffer } from '../src/gpu/buffers';
import type { GpuContext } from '../src/gpu/device';
import type { Encodable } from '../src/kernels/encodable';
import {
  MATRIX_GEMM_TOKENS,
  type MatrixGemmOptions,
  type MatrixGrid,
  matrixGemm,
  matrixUnitsAvailable,
} from '../src/kernels/gemm-matrix';
import { canStageInt16, fitThreadsPerRow, gemv, x16BlocksFit } from '../src/kernels/gemv';
import { ACT_ALIGN, type Activations, type GpuLinear, x16Bytes } from '../src/kernels/linear';
import type { Scheme } from '../src/quant/types';
import { LAYER_SHAPES } from './gemv';
import { randomComponents } from './synthetic';
import { calibrateIterations, timeGpu } from './timer';

/**
 * The prefill matmul on the 7B/1B layer shapes for a chunk of `tokens` tokens: W4A8 (int8
 * activations: token blocks, matrix units), W4A16 / 2/4/16 (x16 activations in token blocks,
 * against one token per workgroup staging its own f32 row, the model's prefill before). µs, and
 * integer ops per second (2·N·K·tokens; W4A16 / 2/4/16 do twice the dot4I8Packed per weight, the
 * two halves) ÷ the dp4a peak the issue measured on the lent H100 (113 T int-ops/s; other
 * devices: a ratio to that figure).
 */
export const DP4A_PEAK_OPS = 113e12;

export interface GemmVariant {
  name: string;
  threadsPerRow: number;
  tokensPerWorkgroup: number;
  /**
   * The matrix-unit GEMM (skipped where the adapter lacks what it needs): `{}` as the model runs it
   * (`auto` grid and K tile), or a named grid / K tile, and the diagnostic STRIP bits (parts of its
   * K loop left out; wrong results).
   */
  matrix?: Pick<MatrixGemmOptions, 'kTile' | 'strip' | 'stageRotate'> & {
    grid?: MatrixGrid;
  };
  /** W4A16 / 2/4/16: x16 activations in token blocks (else f32 activations, one token per workgroup). */
  x16?: boolean;
}

/** A matrix-unit GEMM row of the suite (the token-block fields do not apply to it). */
function matrixVariant(name: string, matrix: NonNullable<GemmVariant['matrix']>): GemmVariant {
  return { name, threadsPerRow: 0, tokensPerWorkgroup: 0, matrix };
}

/** Named grids and their K tiles, as the rows below take them. */
type GridTile = readonly [MatrixGrid, number];

export const GEMM_VARIANTS: GemmVariant[] = [
  matrixVariant('matrix auto (default)', {}),
  // The lane-rotated staging stores (the default from session 10 to 18).
  matrixVariant('matrix auto, rotated stores', { stageRotate: true }),
  ...(
    [
      ['1x1', 64],
      ['1x1', 128],
      ['2x2', 64],
      ['2x2', 128],
      ['4x2', 64],
      ['4x2', 128],
      ['4x4', 64],
    ] as GridTile[]
  ).map(([grid, kTile]) => matrixVariant(`matrix ${grid}, K tile ${kTile}`, { grid, kTile })),
  // Where the 4x2 and 4x4 kernels' time goes: their K loop without the global loads, without the
  // staging stores (the loads then die too), without the MMAs.
  ...(
    [
      ['4x2', 128],
      ['4x4', 64],
    ] as GridTile[]
  ).flatMap(([grid, kTile]) =>
    (
      [
        ['loads', 1],
        ['staging', 2],
        ['MMAs', 4],
      ] as const
    ).map(([part, strip]) => matrixVariant(`matrix ${grid} K${kTile} −${part}`, { grid, kTile, strip })),
  ),
  { name: 'block8 tpr4', threadsPerRow: 4, tokensPerWorkgroup: 8 },
  { name: 'block8 tpr8', threadsPerRow: 8, tokensPerWorkgroup: 8 },
  { name: 'block4 tpr4', threadsPerRow: 4, tokensPerWorkgroup: 4 },
  { name: 'block1 tpr32 (batched GEMV)', threadsPerRow: 32, tokensPerWorkgroup: 1 },
];

/** W4A16 / 2/4/16 (threadsPerRow doubles where the group table does not fit, as in the model). */
export const GEMM_X16_VARIANTS: GemmVariant[] = [
  { name: 'x16 block8 tpr4', threadsPerRow: 4, tokensPerWorkgroup: 8, x16: true },
  { name: 'x16 block8 tpr8', threadsPerRow: 8, tokensPerWorkgroup: 8, x16: true },
  { name: 'x16 block4 tpr8', threadsPerRow: 8, tokensPerWorkgroup: 4, x16: true },
  { name: 'f32 in, token per WG, tpr8', threadsPerRow: 8, tokensPerWorkgroup: 1 },
];

export interface GemmResult {
  shape: string;
  scheme: Scheme;
  layer: string;
  variant: string;
  N: number;
  K: number;
  tokens: number;
  microseconds: number;
  opsPerSecond: number;
  peakFraction: number;
}

export async function benchGemm(
  gpu: GpuContext,
  shape: string,
  tokens: number,
  scheme: Scheme = 'w4a8',
): Promise<GemmResult[]> {
  const { device } = gpu;
  const results: GemmResult[] = [];
  const int8 = scheme === 'w4a8';
  for (const [layer, N, K] of LAYER_SHAPES[shape]) {
    const groupSize = manifestGroupSize(scheme, K) ?? K;
    const comps = randomComponents(scheme, N, K, groupSize, N * 17 + K);
    const buffers: Record<string, GPUBuffer> = {};
    for (const [name, arr] of Object.entries(comps)) buffers[name] = uploadBuffer(device, arr);
    const w: GpuLinear = { scheme, N, K, groupSize, pieces: [{ row0: 0, rows: N, buffers }] };
    const stride = roundUp(K, ACT_ALIGN);
    const rows = roundUp(tokens, MATRIX_GEMM_TOKENS);
    // Activation values do not change the speed; any in range will do.
    const inputs: Record<string, Activations> = {};
    if (int8) {
      inputs.int8 = {
        kind: 'int8',
        q: uploadBuffer(device, new Uint32Array((rows * stride) / 4).fill(0x01ff02fe)),
        scale: uploadBuffer(device, new Float32Array(rows).fill(0.01)),
        stride,
      };
    } else {
      const bytes = x16Bytes(stride);
      inputs.x16 = {
        kind: 'x16',
        q: uploadBuffer(device, new Uint32Array((rows * bytes.q) / 4).fill(0x01ff02fe)),
        sum: uploadBuffer(device, new Int32Array((rows * bytes.sum) / 4).fill(3)),
        scale: uploadBuffer(device, new Float32Array(rows).fill(0.01)),
        stride,
        transposed: scheme === 'w2-4-16',
      };
      inputs.f32 = {
        kind: 'f32',
        x: uploadBuffer(device, new Float32Array(rows * stride).fill(0.25)),
        stride,
      };
    }
    const y = storageBuffer(device, rows * N * 4);
    for (const v of int8 ? GEMM_VARIANTS : GEMM_X16_VARIANTS) {
      // `auto` runs wherever the 1×1 kernel does (its fallback), as in the model.
      if (v.matrix && !matrixUnitsAvailable(gpu, v.matrix.kTile, v.matrix.grid)) continue;
      // As the model picks them: doubled until the tile's table (and a staged row) fits.
      const threadsPerRow = fitThreadsPerRow(v.threadsPerRow, (t) =>
        v.x16 ? x16BlocksFit(gpu, scheme, K, t) : int8 || canStageInt16(gpu, scheme, K, t),
      );
      const x = int8 ? inputs.int8 : v.x16 ? inputs.x16 : inputs.f32;
      const k: Encodable = v.matrix
        ? await matrixGemm(gpu, w, x, y, { ...v.matrix, tokens })
        : await gemv(gpu, w, x, y, { threadsPerRow, tokensPerWorkgroup: v.tokensPerWorkgroup });
      const encode = (pass: GPUComputePassEncoder) => k.encode(pass, tokens);
      const iterations = await calibrateIterations(gpu, encode, 0.03);
      const t = await timeGpu(gpu, encode, { iterations, samples: 5 });
      const opsPerSecond = (2 * N * K * tokens) / t.secondsPerIteration;
      results.push({
        shape,
        scheme,
        layer,
        variant: threadsPerRow === v.threadsPerRow ? v.name : `${v.name} (tpr${threadsPerRow}: fit)`,
        N,
        K,
        tokens,
        microseconds: t.secondsPerIteration * 1e6,
        opsPerSecond,
        peakFraction: opsPerSecond / DP4A_PEAK_OPS,
      });
      k.destroy();
    }
    for (const b of Object.values(buffers)) b.destroy();
    for (const x of Object.values(inputs)) {
      for (const b of x.kind === 'f32' ? [x.x] : x.kind === 'int8' ? [x.q, x.scale] : [x.q, x.sum, x.scale]) {
        b.destroy();
      }
    }
    y.destroy();
  }
  return results;
}

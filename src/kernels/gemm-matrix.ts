import gemmMatrixWgsl from '../../shaders/gemm_w4a8_matrix.wgsl?raw';
import { uniformBuffer } from '../gpu/buffers';
import type { GpuContext } from '../gpu/device';
import { bindGroup, dispatch } from '../gpu/dispatch';
import { w4a8Geometry } from '../quant/layouts';
import type { Encodable } from './encodable';
import type { Activations, GpuLinear } from './linear';

/**
 * The W4A8 prefill GEMM on matrix units (shaders/gemm_w4a8_matrix.wgsl): WebGPU's experimental
 * subgroup-matrix feature (Dawn with allow_unsafe_apis on the H100/H200; Chrome behind a flag),
 * i8 × i8 → i32 tiles of 16 × 16 × 32. Same math and pack layout as the dp4a GEMV's token blocks,
 * in 32-token blocks: x and y must hold the token count rounded up to MATRIX_GEMM_TOKENS rows.
 */
export const matrixGemmShader = { name: 'gemm_w4a8_matrix', code: gemmMatrixWgsl };

/** Tokens per workgroup (BM in the shader): activation buffers hold whole blocks of these. */
export const MATRIX_GEMM_TOKENS = 32;
const ROWS_PER_WG = 64; // BN
const WG = 32; // one subgroup

/** Bytes of workgroup memory at K tile `bk`: the staged tiles (rows padded by 16) + result tiles. */
function sharedBytes(bk: number): number {
  return (MATRIX_GEMM_TOKENS + ROWS_PER_WG) * (bk + 16) + 256 * 4;
}

/**
 * Whether this adapter runs the matrix GEMM: the subgroup-matrix feature with the i8 → i32
 * 16 × 16 × 32 configuration, subgroups of exactly 32 (a workgroup is one subgroup), and the
 * workgroup memory.
 */
export function matrixUnitsAvailable(gpu: GpuContext, bk = DEFAULT_K_TILE): boolean {
  const c = gpu.caps;
  return (
    c.features.subgroupMatrix &&
    c.subgroupMatrixConfigs.some(
      (m) =>
        m.componentType === 'i8' && m.resultComponentType === 'i32' && m.M === 16 && m.N === 16 && m.K === 32,
    ) &&
    c.subgroupMinSize === 32 &&
    c.subgroupMaxSize === 32 &&
    c.limits.maxComputeInvocationsPerWorkgroup >= WG &&
    sharedBytes(bk) <= c.limits.maxComputeWorkgroupStorageSize
  );
}

/** Whether this weight and input can take the matrix GEMM: W4A8, one scale per channel, int8 input. */
export function matrixGemmFits(gpu: GpuContext, w: GpuLinear, x: Activations, bk?: number): boolean {
  return (
    w.scheme === 'w4a8' &&
    w.groupSize >= w.K &&
    x.kind === 'int8' &&
    matrixUnitsAvailable(gpu, bk ?? DEFAULT_K_TILE)
  );
}

export interface MatrixGemmOptions {
  /** y += W x (the residual add). */
  accumulate?: boolean;
  /** Interleaved (gate, up) rows: y gets silu(gate)·up, N/2 outputs. */
  gated?: boolean;
  /** Per-token stride of y in f32 (default: the number of outputs). */
  yStride?: number;
  /** K per staged tile, 64 or 128 (default DEFAULT_K_TILE). */
  kTile?: number;
}

/**
 * The K tile: 128 (gemm suite, H100, 512 tokens: Llama-2-7B's four matmuls 1,458 vs 1,556 µs at
 * 64, Llama-3.2-1B's 519.7 vs 531.4; docs/benchmarks.md, session 4). 64 is the ablation.
 */
export const DEFAULT_K_TILE = 128;

export async function matrixGemm(
  gpu: GpuContext,
  w: GpuLinear,
  x: Activations,
  y: GPUBuffer,
  opts: MatrixGemmOptions = {},
): Promise<Encodable> {
  const bk = opts.kTile ?? DEFAULT_K_TILE;
  if (bk !== 64 && bk !== 128) throw new Error(`matrix gemm: kTile ${bk} must be 64 or 128`);
  if (x.kind !== 'int8' || !matrixGemmFits(gpu, w, x, bk)) {
    throw new Error('matrix gemm: needs W4A8 per-channel weights, int8 input and i8 subgroup matrices');
  }
  if (x.stride % 16) throw new Error(`matrix gemm: activation stride ${x.stride} is not a multiple of 16`);
  const { device } = gpu;
  const { Kp } = w4a8Geometry(w.K);
  const chunks = Kp / 32;
  const yStride = opts.yStride ?? (opts.gated ? w.N / 2 : w.N);
  const pipeline = await gpu.pipelines.get({
    shader: matrixGemmShader,
    entryPoint: 'main',
    flags: { KTILE_128: bk === 128 },
    constants: { ACCUMULATE: opts.accumulate ? 1 : 0, GATED: opts.gated ? 1 : 0 },
  });
  const parts = w.pieces.map((piece) => {
    if (opts.gated && (piece.row0 % 2 || piece.rows % 2)) {
      throw new Error('matrix gemm: gated pieces must hold whole (gate, up) row pairs');
    }
    const params = uniformBuffer(
      device,
      new Uint32Array([
        piece.rows,
        chunks,
        piece.row0,
        x.stride / 16,
        yStride,
        Math.ceil(chunks / (bk / 32)),
      ]),
    );
    const group = bindGroup(device, pipeline, [
      piece.buffers.qweight,
      piece.buffers.scales,
      x.q,
      x.scale,
      y,
      params,
    ]);
    return { group, params, rowBlocks: Math.ceil(piece.rows / ROWS_PER_WG) };
  });
  return {
    encode: (pass, tokens = 1) => {
      const blocks = Math.ceil(tokens / MATRIX_GEMM_TOKENS);
      for (const p of parts) dispatch(pass, pipeline, p.group, blocks, p.rowBlocks);
    },
    destroy: () => {
      for (const p of parts) p.params.destroy();
    },
  };
}

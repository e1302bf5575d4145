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
 * in token blocks of 32, 64 or 128 (the grid): x and y must hold the token count rounded up to
 * MATRIX_GEMM_TOKENS rows.
 */
export const matrixGemmShader = { name: 'gemm_w4a8_matrix', code: gemmMatrixWgsl };

/**
 * The subgroup grid of a workgroup (SGM × SGN in the shader): each subgroup owns 32 tokens × 64
 * rows, so a workgroup owns 32·SGM tokens × 64·SGN rows. Bigger tiles stage fewer bytes per
 * multiply (see the shader's comment); 2×2 and 4×2 need WGSL's subgroup_id and
 * subgroup_uniformity.
 */
export type MatrixGrid = '1x1' | '2x2' | '4x2' | '4x4';

/**
 * `auto`: 4×2 where that gives at least MIN_GRID_WORKGROUPS workgroups at the expected token
 * count, else 2×2. Gemm suite, H100, 512 tokens, K tile 128 (session 10, run 2; µs): 4×2 was the
 * fastest on every layer with ≥ 96 of its workgroups (7B qkv 253 vs 369 for 1×1 and 389 for 2×2,
 * o 74.6 / 108 / 106, gate_up 485 / 645 / 705, down 205 / 333 / 330; 1B qkv (96 workgroups) 44.0 /
 * 45.7 / 63.6, gate_up 187 / 301 / 294, lm_head 1,410 / 2,226 / 2,201) and 2×2 on the two with 64
 * (1B o 32.4 vs 43.9 for 4×2 and 45.2 for 1×1, down 98.0 / 141.5 / 127.8).
 */
export type MatrixGridChoice = MatrixGrid | 'auto';
const MIN_GRID_WORKGROUPS = 96;

/** The grid `auto` picks for N output rows and about `tokens` tokens per dispatch. */
export function autoMatrixGrid(N: number, tokens: number): MatrixGrid {
  return Math.ceil(N / 128) * Math.ceil(tokens / 128) >= MIN_GRID_WORKGROUPS ? '4x2' : '2x2';
}

const GRIDS: Record<MatrixGrid, { sgm: number; sgn: number }> = {
  '1x1': { sgm: 1, sgn: 1 },
  '2x2': { sgm: 2, sgn: 2 },
  '4x2': { sgm: 4, sgn: 2 },
  '4x4': { sgm: 4, sgn: 4 },
};

/**
 * Tokens x and y must be rounded up to (a whole number of every grid's token block, 32·SGM):
 * activation buffers hold whole blocks of these.
 */
export const MATRIX_GEMM_TOKENS = 128;

/**
 * Bytes of workgroup memory at K tile `bk`: the staged tiles, rows padded by 16 (the epilogue's
 * result tiles reuse the weight tile).
 */
function sharedBytes(bk: number, grid: MatrixGrid): number {
  const { sgm, sgn } = GRIDS[grid];
  return (32 * sgm + 64 * sgn) * (bk + 16);
}

/**
 * Whether this adapter runs the matrix GEMM: the subgroup-matrix feature with the i8 → i32
 * 16 × 16 × 32 configuration, subgroups of exactly 32, the workgroup memory and invocations, and
 * for the multi-subgroup grids WGSL's subgroup_id and subgroup_uniformity.
 */
export function matrixUnitsAvailable(
  gpu: GpuContext,
  bk = DEFAULT_K_TILE,
  grid: MatrixGrid = '1x1',
): boolean {
  const c = gpu.caps;
  const { sgm, sgn } = GRIDS[grid];
  const multi = sgm * sgn > 1;
  return (
    c.features.subgroupMatrix &&
    c.subgroupMatrixConfigs.some(
      (m) =>
        m.componentType === 'i8' && m.resultComponentType === 'i32' && m.M === 16 && m.N === 16 && m.K === 32,
    ) &&
    c.subgroupMinSize === 32 &&
    c.subgroupMaxSize === 32 &&
    c.limits.maxComputeInvocationsPerWorkgroup >= 32 * sgm * sgn &&
    sharedBytes(bk, grid) <= c.limits.maxComputeWorkgroupStorageSize &&
    (!multi ||
      (c.features.subgroups &&
        c.wgslLanguageFeatures.includes('subgroup_id') &&
        c.wgslLanguageFeatures.includes('subgroup_uniformity')))
  );
}

/** Whether this weight and input can take the matrix GEMM: W4A8, one scale per channel, int8 input. */
export function matrixGemmFits(
  gpu: GpuContext,
  w: GpuLinear,
  x: Activations,
  bk?: number,
  grid: MatrixGridChoice = 'auto',
  tokens = DEFAULT_TOKENS,
): boolean {
  return (
    w.scheme === 'w4a8' &&
    w.groupSize >= w.K &&
    x.kind === 'int8' &&
    resolveGrid(gpu, grid, w.N, tokens, bk ?? DEFAULT_K_TILE) !== null
  );
}

/** Tokens per dispatch the `auto` grid assumes when not told: a full prefill chunk. */
const DEFAULT_TOKENS = 512;

/**
 * The grid a choice resolves to on this adapter, or null where the matrix GEMM cannot run: `auto`
 * falls back to 1×1 where the adapter lacks subgroup_id; a named grid is taken or refused.
 */
function resolveGrid(
  gpu: GpuContext,
  choice: MatrixGridChoice,
  N: number,
  tokens: number,
  bk: number,
): MatrixGrid | null {
  const grid = choice === 'auto' ? autoMatrixGrid(N, tokens) : choice;
  if (matrixUnitsAvailable(gpu, bk, grid)) return grid;
  return choice === 'auto' && matrixUnitsAvailable(gpu, bk, '1x1') ? '1x1' : null;
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
  /** The workgroup's subgroup grid (default `auto`: autoMatrixGrid for `tokens`). */
  grid?: MatrixGridChoice;
  /** Tokens a dispatch is expected to hold, for the `auto` grid (default 512). */
  tokens?: number;
  /** Diagnostic (the gemm bench suite): the shader's STRIP bits; results are wrong with any. */
  strip?: number;
  /** Issue the next K tile's loads before this tile's multiplies (default true; the shader's PREFETCH). */
  prefetch?: boolean;
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
  const choice = opts.grid ?? 'auto';
  if (bk !== 64 && bk !== 128) throw new Error(`matrix gemm: kTile ${bk} must be 64 or 128`);
  if (choice !== 'auto' && !(choice in GRIDS)) {
    throw new Error(`matrix gemm: grid ${choice} must be auto, 1x1, 2x2, 4x2 or 4x4`);
  }
  const grid = resolveGrid(gpu, choice, w.N, opts.tokens ?? DEFAULT_TOKENS, bk);
  if (x.kind !== 'int8' || grid === null || !matrixGemmFits(gpu, w, x, bk, grid)) {
    throw new Error('matrix gemm: needs W4A8 per-channel weights, int8 input and i8 subgroup matrices');
  }
  if (x.stride % 16) throw new Error(`matrix gemm: activation stride ${x.stride} is not a multiple of 16`);
  const { device } = gpu;
  const { sgm, sgn } = GRIDS[grid];
  const { Kp } = w4a8Geometry(w.K);
  const chunks = Kp / 32;
  const yStride = opts.yStride ?? (opts.gated ? w.N / 2 : w.N);
  const pipeline = await gpu.pipelines.get({
    shader: matrixGemmShader,
    entryPoint: 'main',
    flags: {
      KTILE_128: bk === 128,
      GRID: grid !== '1x1',
      GRID_4X2: grid === '4x2',
      GRID_4X4: grid === '4x4',
    },
    constants: {
      ACCUMULATE: opts.accumulate ? 1 : 0,
      GATED: opts.gated ? 1 : 0,
      ...(opts.strip ? { STRIP: opts.strip } : {}),
      ...(opts.prefetch === false ? { PREFETCH: 0 } : {}),
    },
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
    return { group, params, rowBlocks: Math.ceil(piece.rows / (64 * sgn)) };
  });
  return {
    encode: (pass, tokens = 1) => {
      const blocks = Math.ceil(tokens / (32 * sgm));
      for (const p of parts) dispatch(pass, pipeline, p.group, blocks, p.rowBlocks);
    },
    destroy: () => {
      for (const p of parts) p.params.destroy();
    },
  };
}

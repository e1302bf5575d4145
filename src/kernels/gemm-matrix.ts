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
 * multiply (see the shader's comment); the multi-subgroup grids need WGSL's subgroup_id and
 * subgroup_uniformity.
 */
export type MatrixGrid = '1x1' | '2x2' | '4x2' | '4x4';

/**
 * `auto` (autoMatrixTiles): the biggest tile that still gives the GPU enough workgroups at the
 * step's token bucket (tokenBuckets: 32, 64, 128, … up to the chunk; each step takes the largest
 * not above its token count) and computes no whole padded token block. Gemm suite, H100, 512 tokens
 * (docs/benchmarks.md, session 10, µs): 4×4 at K tile 64 (its 55 KiB at 128 do not fit) was the
 * fastest where it has ≥ 256 workgroups (run 6: 7B gate_up 411 vs 468 for 4×2; 1B gate_up 155 vs
 * 180, lm_head 1,171 vs 1,361) and slower with 192 or fewer (7B qkv 277 vs 245, o 131 vs 70); 4×2
 * at K tile 128 was the fastest on every other layer with ≥ 96 of its workgroups (run 3: 7B qkv 254
 * vs 370 for 1×1 and 389 for 2×2, o 74.5 / 108 / 106, down 210 / 334 / 331; 1B qkv (96 workgroups)
 * 44.0 / 45.8 / 63.6), and 2×2 at 128 on the two with 64 of 4×2's, 128 of its own (1B o 32.6 vs
 * 43.9 for 4×2 and 45.2 for 1×1, down 97.4 / 141.2 / 127.1). Below 96 workgroups, and for steps
 * shorter than a grid's token block (4×4 and 4×2 would multiply 128 rows for 64), the choice falls
 * back towards 1×1, the kernel every size ran on before (session 4); the grids at short steps are
 * measured only through the prefill suite's chunk sizes (session 11).
 */
export type MatrixGridChoice = MatrixGrid | 'auto';

/** A grid and K tile. */
export interface MatrixTile {
  grid: MatrixGrid;
  kTile: number;
}

/** Workgroups a grid needs at the expected token count for `auto` to take it. */
const AUTO_MIN_WORKGROUPS: Record<'4x4' | '4x2' | '2x2', number> = { '4x4': 256, '4x2': 96, '2x2': 96 };

/**
 * `auto`'s preferences for N output rows and about `tokens` tokens per dispatch, best first; the
 * first the adapter runs is taken (1×1 last: no subgroup_id needed).
 */
export function autoMatrixTiles(N: number, tokens: number): MatrixTile[] {
  const tiles: MatrixTile[] = [];
  const take = (grid: '4x4' | '4x2' | '2x2', kTile: number) => {
    const { sgm, sgn } = GRIDS[grid];
    const workgroups = Math.ceil(N / (64 * sgn)) * Math.ceil(tokens / (32 * sgm));
    if (tokens >= 32 * sgm && workgroups >= AUTO_MIN_WORKGROUPS[grid]) tiles.push({ grid, kTile });
  };
  take('4x4', 64);
  take('4x2', 128);
  take('2x2', 128);
  // 1×1 at K tile 64: with this K loop (issue next, multiply, stage) 64 beat 128 on every 7B layer
  // (runs 6–8: qkv 341 vs 431 µs, o 133 vs 145, gate_up 594 vs 751, down 348 vs 395).
  tiles.push({ grid: '1x1', kTile: 64 });
  return tiles;
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
  return matrixGemmTile(gpu, w, x, bk, grid, tokens) !== null;
}

/** The grid and K tile this weight and input run at, or null where they cannot take the matrix GEMM. */
function matrixGemmTile(
  gpu: GpuContext,
  w: GpuLinear,
  x: Activations,
  bk: number | undefined,
  grid: MatrixGridChoice,
  tokens: number,
): MatrixTile | null {
  if (w.scheme !== 'w4a8' || w.groupSize < w.K || x.kind !== 'int8') return null;
  return resolveTile(gpu, grid, w.N, tokens, bk);
}

/** The largest step the matrix GEMM is built for when not told: a full 512-token prefill chunk. */
const DEFAULT_TOKENS = 512;

/**
 * The grid and K tile a choice resolves to on this adapter, or null where the matrix GEMM cannot
 * run: `auto` takes the first of autoMatrixTiles() that runs here (with `kTile` where given); a
 * named grid is taken at `kTile` (default DEFAULT_K_TILE) or refused.
 */
function resolveTile(
  gpu: GpuContext,
  choice: MatrixGridChoice,
  N: number,
  tokens: number,
  kTile?: number,
): MatrixTile | null {
  const candidates =
    choice === 'auto'
      ? autoMatrixTiles(N, tokens).map((t) => ({ grid: t.grid, kTile: kTile ?? t.kTile }))
      : [{ grid: choice, kTile: kTile ?? DEFAULT_K_TILE }];
  return candidates.find((t) => matrixUnitsAvailable(gpu, t.kTile, t.grid)) ?? null;
}

export interface MatrixGemmOptions {
  /** y += W x (the residual add). */
  accumulate?: boolean;
  /** Interleaved (gate, up) rows: y gets silu(gate)·up, N/2 outputs. */
  gated?: boolean;
  /** Per-token stride of y in f32 (default: the number of outputs). */
  yStride?: number;
  /** K per staged tile, 64 or 128 (default: `auto`'s choice, or DEFAULT_K_TILE with a named grid). */
  kTile?: number;
  /** The workgroup's subgroup grid (default `auto`: autoMatrixTiles per step, by its token bucket). */
  grid?: MatrixGridChoice;
  /**
   * The largest step (tokens) it will run — the activation buffers' rows (rounded up to
   * MATRIX_GEMM_TOKENS) must hold it; `auto` builds a kernel per token bucket up to it (default
   * 512; each tile is one more pipeline to compile when the session is made).
   */
  tokens?: number;
  /**
   * Staging stores rotated per lane so a warp's 32 stores hit 32 banks (default false: each lane
   * stores its words in order). Rotation won while every store carried Tint's bounds clamp (scalar
   * stores, 4-way conflicts); with the stores proven in bounds the plain ones were faster on every
   * 7B and 1B matmul (session 18, H100: 7B 617 vs 669 µs per layer) — most likely stored whole.
   */
  stageRotate?: boolean;
  /** Diagnostic (the gemm bench suite): the shader's STRIP bits; results are wrong with any. */
  strip?: number;
}

/**
 * The K tile of a named grid: 128 (gemm suite, H100, 512 tokens, 1×1 with session 4's K loop:
 * Llama-2-7B's four matmuls 1,458 vs 1,556 µs at 64, Llama-3.2-1B's 519.7 vs 531.4;
 * docs/benchmarks.md). With the current K loop 1×1 is faster at 64, which `auto` takes.
 */
export const DEFAULT_K_TILE = 128;

export async function matrixGemm(
  gpu: GpuContext,
  w: GpuLinear,
  x: Activations,
  y: GPUBuffer,
  opts: MatrixGemmOptions = {},
): Promise<Encodable> {
  const choice = opts.grid ?? 'auto';
  if (opts.kTile !== undefined && opts.kTile !== 64 && opts.kTile !== 128) {
    throw new Error(`matrix gemm: kTile ${opts.kTile} must be 64 or 128`);
  }
  if (choice !== 'auto' && !(choice in GRIDS)) {
    throw new Error(`matrix gemm: grid ${choice} must be auto, 1x1, 2x2, 4x2 or 4x4`);
  }
  const maxTokens = opts.tokens ?? DEFAULT_TOKENS;
  if (x.kind !== 'int8' || matrixGemmTile(gpu, w, x, opts.kTile, choice, maxTokens) === null) {
    throw new Error('matrix gemm: needs W4A8 per-channel weights, int8 input and i8 subgroup matrices');
  }
  if (x.stride % 16) throw new Error(`matrix gemm: activation stride ${x.stride} is not a multiple of 16`);
  const { device } = gpu;
  const { Kp } = w4a8Geometry(w.K);
  const chunks = Kp / 32;
  const yStride = opts.yStride ?? (opts.gated ? w.N / 2 : w.N);
  for (const piece of w.pieces) {
    if (opts.gated && (piece.row0 % 2 || piece.rows % 2)) {
      throw new Error('matrix gemm: gated pieces must hold whole (gate, up) row pairs');
    }
  }
  // One kernel per tile the dispatches can need: `auto` picks per step by its token count (a
  // short prompt in a session made for 512-token chunks must not multiply 128-row blocks), from
  // the token buckets 32, 64, 128, … up to the largest step; a named grid has one tile.
  const buckets = tokenBuckets(maxTokens);
  const tileOf = (t: number) => {
    const tile = resolveTile(gpu, choice, w.N, t, opts.kTile);
    if (!tile) throw new Error(`matrix gemm: no ${choice} tile runs on this adapter for ${t} tokens`);
    return tile;
  };
  const tileKernel = async ({ grid, kTile: bk }: MatrixTile) => {
    const { sgm, sgn } = GRIDS[grid];
    const pipeline = await gpu.pipelines.get({
      shader: matrixGemmShader,
      entryPoint: 'main',
      flags: {
        KTILE_128: bk === 128,
        GRID: grid !== '1x1',
        GRID_4X2: grid === '4x2',
        GRID_4X4: grid === '4x4',
        STAGE_ROTATE: opts.stageRotate ?? false,
      },
      constants: {
        ACCUMULATE: opts.accumulate ? 1 : 0,
        GATED: opts.gated ? 1 : 0,
        ...(opts.strip ? { STRIP: opts.strip } : {}),
      },
    });
    const parts = w.pieces.map((piece) => {
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
    return { pipeline, parts, tokenBlock: 32 * sgm };
  };
  // A named grid resolves to the same tile at every bucket: one kernel.
  const kernels = new Map<string, Awaited<ReturnType<typeof tileKernel>>>();
  const bucketKernel: Awaited<ReturnType<typeof tileKernel>>[] = [];
  for (const b of buckets) {
    const tile = tileOf(b);
    const key = `${tile.grid}/${tile.kTile}`;
    let k = kernels.get(key);
    if (!k) {
      k = await tileKernel(tile);
      kernels.set(key, k);
    }
    bucketKernel.push(k);
  }
  return {
    encode: (pass, tokens = 1) => {
      if (tokens > maxTokens)
        throw new Error(`matrix gemm: ${tokens} tokens exceed the ${maxTokens} it was built for`);
      const k = bucketKernel[bucketIndex(buckets, tokens)];
      const blocks = Math.ceil(tokens / k.tokenBlock);
      for (const p of k.parts) dispatch(pass, k.pipeline, p.group, blocks, p.rowBlocks);
    },
    destroy: () => {
      for (const k of kernels.values()) for (const p of k.parts) p.params.destroy();
    },
  };
}

/** 32, 64, 128, … while below `maxTokens`, then `maxTokens` itself (≥ 32): the steps' token buckets. */
export function tokenBuckets(maxTokens: number): number[] {
  const out: number[] = [];
  for (let b = 32; b < maxTokens; b *= 2) out.push(b);
  out.push(Math.max(32, maxTokens));
  return out;
}

/**
 * The bucket a step of `tokens` runs in: the largest not above it (the first for fewer than 32),
 * so `auto`'s grid never has a token block longer than the step (autoMatrixTiles).
 */
export function bucketIndex(buckets: number[], tokens: number): number {
  let i = 0;
  while (i + 1 < buckets.length && buckets[i + 1] <= tokens) i++;
  return i;
}

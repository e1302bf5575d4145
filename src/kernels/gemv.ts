import gemvFloatWgsl from '../../shaders/gemv_float.wgsl?raw';
import gemvW2416Wgsl from '../../shaders/gemv_w2_4_16.wgsl?raw';
import gemvW4a8Wgsl from '../../shaders/gemv_w4a8.wgsl?raw';
import gemvW4a16Wgsl from '../../shaders/gemv_w4a16.wgsl?raw';
import { f32Bits, uniformBuffer } from '../gpu/buffers';
import type { GpuContext } from '../gpu/device';
import { bindGroup, dispatch } from '../gpu/dispatch';
import type { PipelineSpec } from '../gpu/pipelines';
import { roundUp, w2Geometry, w4a8Geometry } from '../quant/layouts';
import type { Encodable } from './encodable';
import { type MatrixGridChoice, matrixGemm, matrixGemmFits } from './gemm-matrix';
import { type Activations, type GpuLinear, type GpuLinearPiece, grid2d } from './linear';
import { partialsAfterSubgroups, subgroupsFit } from './subgroups';

/**
 * Batch-1 GEMV for every weight scheme: y[row0 + n] (+)= W x, one dispatch per weight piece.
 * Pipelines and bind groups are made here once; encode() only records dispatches.
 */
export const gemvShaders = {
  w4a8: { name: 'gemv_w4a8', code: gemvW4a8Wgsl },
  w4a16: { name: 'gemv_w4a16', code: gemvW4a16Wgsl },
  'w2-4-16': { name: 'gemv_w2_4_16', code: gemvW2416Wgsl },
  float: { name: 'gemv_float', code: gemvFloatWgsl },
};

export interface GemvOptions {
  /** y += W x instead of y = W x (fuses the residual add). */
  accumulate?: boolean;
  /**
   * W4A8, and W4A16 / 2-4-16 with 16-bit activations: weight chunks (groups) each invocation
   * loads per step, all issued before their math (1 … 16; default 4 — 2 for the 2/4/16 kernel
   * with the norm fused, w2TileDefaults — and 1 on software adapters: SOFTWARE_UNROLL).
   */
  unroll?: number;
  /** Stage the tile's scales in workgroup memory (default) or load them per invocation. */
  scalesInShared?: boolean;
  /** Invocations per output row (a power of two dividing 256). */
  threadsPerRow?: number;
  /** Use subgroup reductions when the adapter has them (default true). */
  subgroups?: boolean;
  /** Rows are interleaved (gate, up) pairs: y gets silu(gate)·up, N/2 outputs. */
  gated?: boolean;
  /** Per-token stride of y in f32 (default: the number of outputs). */
  yStride?: number;
  /**
   * W4A8 given f32 activations: each workgroup quantizes its token's row to int8 itself (after
   * RMSNorm with `norm`, if given) instead of reading a separate quantizer's output. See
   * canStageActivations() for the size limit. W4A16 and 2/4/16 with `int16Activations`: RMSNorm
   * fused into the 16-bit staging prologue (see canStageInt16()).
   */
  norm?: { weight: GPUBuffer; eps: number };
  /**
   * W4A16 and 2/4/16 (default true): each workgroup quantizes its token's f32 row to 16-bit fixed
   * point, split into two int8 halves in workgroup memory, and multiplies with dot4I8Packed in
   * i32 (shaders/lib/stage_x16.wgsl). false, or a row that does not fit (canStageInt16()): the
   * f32 kernels (weights unpacked to f32 against f32 activations from global memory), the
   * benchmark's baseline. The interface is f32 activations either way, except for `x16`
   * activations (already quantized and split, the prefill token blocks; see Activations).
   */
  int16Activations?: boolean;
  /**
   * 2/4/16 staging its own row (int16Activations): the levels its activations are quantized to,
   * 16 (default) or 8 (s = max|x| / 127 per token, as W4A8 quantizes; one dot4I8Packed per 4
   * weights instead of two and half the workgroup-memory reads, at int8 activation precision).
   */
  stagedActivationBits?: 8 | 16;
  /**
   * Kernels staging their own row with a fused `norm`: load the norm weights after the sum of
   * squares instead of with the row (NORM_W_LATE, shaders/lib/stage_row.wgsl): fewer live
   * registers in the prologue, one more L2 round trip. Default: on for 2/4/16 with the norm only
   * (w2TileDefaults; H100: at int8 it lets 3 tiles fit an SM instead of 2, at 16 bits it takes
   * 0.2–1.1 µs more off the 16-bit schedule + unroll 2 tile).
   */
  normWeightsLate?: boolean;
  /**
   * 2/4/16 16-bit kernels (staged or x16 token blocks): 16-bit schedule entries, two per word
   * (SCHED16 in gemv_w2_4_16.wgsl): half the schedule's workgroup memory, a few more
   * operations per entry. Default: w2TileDefaults (where it lets more tiles fit an SM).
   */
  schedule16?: boolean;
  /**
   * W4A8 with int8 input, W4A16 / 2/4/16 with x16 input: tokens per workgroup (1 … 8, default
   * 1). Each weight chunk is then read once per block of tokens (prefill). x and y must hold
   * whole blocks: rows up to the token count rounded up to this; the extra rows are computed and
   * written, never read.
   */
  tokensPerWorkgroup?: number;
  /**
   * W4A8 with int8 input and one scale per channel (prefill): the matrix-unit GEMM
   * (src/kernels/gemm-matrix.ts, blocks of 32–128 tokens: x and y hold whole blocks of
   * MATRIX_GEMM_TOKENS) where the adapter
   * offers i8 subgroup matrices; elsewhere the options above apply.
   */
  matrixUnits?: boolean;
  /** The matrix GEMM's K tile (64 or 128; default: `auto`'s choice, or 128 with a named grid). */
  matrixKTile?: number;
  /** The matrix GEMM's subgroup grid (default `auto`: per step, by its token bucket). */
  matrixGrid?: MatrixGridChoice;
  /** The largest step a matrix GEMM will run (the prefill chunk; default 512): `auto` tiles per bucket up to it. */
  matrixTokens?: number;
  /** The matrix GEMM's lane-rotated staging stores (MatrixGemmOptions.stageRotate; default false). */
  matrixStageRotate?: boolean;
  /**
   * Diagnostic (the gemv bench suite): the STRIP bits of the 2/4/16 kernel staging its own row
   * (parts left out, see gemv_w2_4_16.wgsl); results are wrong with any.
   */
  strip?: number;
}

/** Invocations per output row unless GemvOptions.threadsPerRow says otherwise. */
export const GEMV_THREADS_PER_ROW = 32;

/**
 * Weight chunks in flight per invocation on software adapters (lavapipe, SwiftShader): loads in
 * flight buy nothing on a CPU, and the unrolled loads and dot4I8Packed cost compile time that a
 * user waits for at the first token (cold Mesa cache, tinystories session + first token on
 * lavapipe, unroll 4 → 1: w2-4-16 10.3 → 7.5 s, w4a16 4.1 → 3.2 s, w4a8 10.8 → 10.0 s; decode
 * steps as fast or faster). GPUs keep 4.
 */
const SOFTWARE_UNROLL = 1;

/** Chunks of 16 activations one invocation stages at most (XCH_MAX in gemv_w4a8.wgsl). */
const STAGE_CHUNKS_MAX = 4;

/** Workgroup memory of the W4A8 kernel besides the staged row: scales, row sums, reductions. */
function w4a8SharedBytes(rowsPerWg: number, nGroups: number, stagedK: number): number {
  return 4 * rowsPerWg * nGroups + COMMON_SHARED_BYTES + (stagedK ? roundUp(stagedK, 128) : 0);
}

/**
 * Whether a W4A8 GEMV over K features can take f32 activations and quantize them in its
 * prologue: the int8 row must fit in workgroup memory beside the kernel's other arrays.
 */
export function canStageActivations(
  gpu: GpuContext,
  K: number,
  threadsPerRow: number,
  groupSize = K,
): boolean {
  const { Kp, nGroups } = w4a8Geometry(K, groupSize >= K ? undefined : groupSize);
  return (
    K % 4 === 0 && // rows are read a vec4 at a time
    Kp / 16 <= STAGE_CHUNKS_MAX * WG &&
    w4a8SharedBytes(WG / threadsPerRow, nGroups, K) <= gpu.caps.limits.maxComputeWorkgroupStorageSize
  );
}

const WG = 256;

/**
 * Workgroup memory every GEMV tile has besides its tables and staged row, at most: gemv_common's
 * row outputs, row_sum's and wg_reduce's partials (one f32 per invocation each without subgroups;
 * the row outputs and, with subgroups, wg_reduce's partials are fewer). The fit checks use this
 * bound, and the 16-bit row's size also where X8 stages half of it.
 */
const COMMON_SHARED_BYTES = 3 * 4 * WG;

/**
 * Workgroup memory of the 16-bit staged W4A16 / 2/4/16 kernels: the row (2 bytes per feature,
 * hi and lo int8, plus an i32 sum per 16 features), the tile's group table (w4a16: scale + bias
 * pairs; 2/4/16: one schedule word per group), and gemv_common / row_sum / wg_reduce's arrays.
 */
function int16SharedBytes(scheme: 'w4a16' | 'w2-4-16', K: number, rowsPerWg: number): number {
  const g = int16Geometry(scheme, K);
  return 36 * g.chunks16 + g.slotBytes * rowsPerWg * g.groups + COMMON_SHARED_BYTES;
}

/**
 * Groups per row the 2/4/16 16-bit kernels' schedule handles (MASK_MAX mask words in
 * gemv_w2_4_16.wgsl; SCHED16's 8-bit group index): K ≤ 16,384. The staged kernels stay within it
 * (STAGE_CHUNKS_MAX · WG chunks of 16); the token blocks are checked (x16BlocksFit).
 */
const W2_SCHEDULE_GROUPS_MAX = 256;

function int16Geometry(scheme: 'w4a16' | 'w2-4-16', K: number) {
  if (scheme === 'w4a16') return { chunks16: roundUp(K, 32) / 16, groups: Math.ceil(K / 128), slotBytes: 8 };
  const g = w2Geometry(K);
  return { chunks16: g.Kp / 16, groups: g.nG, slotBytes: 4 };
}

/**
 * Whether a W4A16 / 2/4/16 GEMV over K features can stage its f32 activations as 16-bit fixed
 * point (GemvOptions.int16Activations; with a fused RMSNorm given `norm`): the row must fit in
 * workgroup memory beside the tile's group table, and be read a vec4 at a time. 2/4/16 also needs
 * the tile's table in workgroup memory (scalesInShared): its 16-bit kernel schedules by it.
 */
export function canStageInt16(
  gpu: GpuContext,
  scheme: string,
  K: number,
  threadsPerRow: number,
  scalesInShared = true,
): boolean {
  if (scheme !== 'w4a16' && scheme !== 'w2-4-16') return false;
  if (scheme === 'w2-4-16' && !scalesInShared) return false;
  const rows = WG / threadsPerRow;
  const bytes = int16SharedBytes(scheme, K, scalesInShared ? rows : 0);
  return (
    K % 4 === 0 &&
    int16Geometry(scheme, K).chunks16 <= STAGE_CHUNKS_MAX * WG &&
    bytes <= gpu.caps.limits.maxComputeWorkgroupStorageSize
  );
}

/**
 * Whether the W4A16 / 2/4/16 token-block kernel (`x16` activations from the standalone
 * quantizer, flag X16_BLOCKS) fits at `threadsPerRow`: its tile's group table in workgroup
 * memory beside gemv_common / row_sum's arrays (no staged row).
 */
export function x16BlocksFit(gpu: GpuContext, scheme: string, K: number, threadsPerRow: number): boolean {
  if (scheme !== 'w4a16' && scheme !== 'w2-4-16') return false;
  const g = int16Geometry(scheme, K);
  if (scheme === 'w2-4-16' && g.groups > W2_SCHEDULE_GROUPS_MAX) return false;
  const bytes = g.slotBytes * (WG / threadsPerRow) * g.groups + COMMON_SHARED_BYTES;
  return bytes <= gpu.caps.limits.maxComputeWorkgroupStorageSize;
}

/**
 * Whether the token-block kernel takes rows of K at some threads per row (the fewest rows a tile,
 * one): the model prefills per token where it does not.
 */
export function x16BlocksTakeRows(gpu: GpuContext, scheme: string, K: number): boolean {
  return x16BlocksFit(gpu, scheme, K, WG);
}

/**
 * The fewest invocations per row, from `threadsPerRow` up by doubling (at most WG), for which
 * `fits` holds: tiles of fewer rows need less workgroup memory. The prefill token blocks start at
 * 4 and double where the tile's table does not fit (the model; the gemm benchmark as it does).
 */
export function fitThreadsPerRow(threadsPerRow: number, fits: (threadsPerRow: number) => boolean): number {
  let t = threadsPerRow;
  while (t < WG && !fits(t)) t *= 2;
  return t;
}

/**
 * Overrides and flags of a kernel staging its f32 row itself (W4A8's X_F32, the 16-bit X16).
 * `normWeightsLate`: load the norm weights after the sum of squares (NORM_W_LATE in
 * stage_row.wgsl; on where it measured faster: 2/4/16, w2TileDefaults).
 */
function stagingSpec(
  gpu: GpuContext,
  wantSubgroups: boolean,
  opts: GemvOptions,
  chunks16: number,
  normWeightsLate: boolean,
) {
  const sgReduce = wantSubgroups && subgroupsFit(gpu, WG);
  return {
    sgReduce,
    constants: {
      NORM: opts.norm ? 1 : 0,
      NORM_W_LATE: opts.norm && normWeightsLate ? 1 : 0,
      X_CHUNKS: Math.ceil(chunks16 / WG),
      RED_PARTIALS: partialsAfterSubgroups(gpu, WG, sgReduce),
    },
    eps: f32Bits(opts.norm?.eps ?? 0),
  };
}

/**
 * The 2/4/16 kernel staging its own row (`staged`): defaults that decide how many of its tiles
 * fit an SM on the H100 (the occupancy sweep, docs/benchmarks.md sessions 22–23), each
 * overridable by GemvOptions.
 * - With the norm fused at 16-bit activations (the model's qkv / gate_up) the tile fits 2 per SM
 *   unless both 16-bit schedule entries (−4 KB at 32 rows × 64 groups) and 2 weight chunks in
 *   flight instead of 4 (fewer registers) come together: then 3 (sweep m = 3: 26.96 → 20.17 µs;
 *   7B qkv 24.1 → 20.1 µs, gate_up 39.8 → 36.5; decode GPU step 5,395 → 4,729 µs, 1B 1,488 →
 *   1,390). Either alone, or with the late norm weights, keeps 2. The late norm weights make the
 *   pair 0.2–1.1 µs faster at every m but 4 (m = 3: 20.31 without, 20.12 with).
 * - At int8 with the norm the late norm weights alone give 3 per SM (session 22, with the compact
 *   row); all three give 4 (sweep m = 4: 25.68 → 19.65 µs, m = 8 39.93 → 35.80; 7B gate_up 28.8 →
 *   28.2 µs, qkv 16.7 either way: its 384 tiles fit one wave at 3).
 * - At int8 without the norm, a schedule of ≥ 8 KB at 4 bytes an entry (7B down: 16 rows × 172
 *   groups): 16-bit entries took its decode time 676 → 526 µs (session 23); at o's 4 KB they cost
 *   ~20 µs, and at 16-bit down (a 22 KB row beside it) ~37 µs, so they are off there.
 */
function w2TileDefaults(bits: 8 | 16, norm: boolean, staged: boolean, slots: number) {
  if (!staged) return { schedule16: false, normWeightsLate: false, unroll: 4 };
  if (norm) return { schedule16: true, normWeightsLate: true, unroll: 2 };
  return { schedule16: bits === 8 && 4 * slots >= 8192, normWeightsLate: false, unroll: 4 };
}

interface SchemePlan {
  spec: PipelineSpec;
  /** Uniform words for one piece (the kernel's Params struct). */
  params(p: GpuLinearPiece, wgX: number): number[];
  /** x_stride in the kernel's x element units (vec4<u32>, vec4<f32> or f32). */
  xStride: number;
  /** Params fields after the strides (w2-4-16). */
  extra?: number[];
  /** Bindings before `x, y, params` (or, for w4a8, before `xq, xscale, y, params`). */
  weights(p: GpuLinearPiece): GPUBuffer[];
  /** The activation bindings, when not the plain ones of `x` (w4a8 staging: `xf, norm_w`). */
  inputs?: GPUBuffer[];
}

function plan(gpu: GpuContext, w: GpuLinear, x: Activations, opts: GemvOptions, tpr: number): SchemePlan {
  const wantSubgroups = (opts.subgroups ?? true) && gpu.caps.features.subgroups;
  const rowSubgroups = wantSubgroups && subgroupsFit(gpu, tpr);
  const flags = { SUBGROUPS: rowSubgroups, SUBGROUP_BUILTINS: rowSubgroups };
  const common = {
    WG,
    TPR: tpr,
    ACCUMULATE: opts.accumulate ? 1 : 0,
    GATED: opts.gated ? 1 : 0,
    // Partials per row left after the subgroup step (bounds row_sum's tree; see row_sum.wgsl).
    ROW_PARTIALS: partialsAfterSubgroups(gpu, tpr, flags.SUBGROUPS),
  };
  const rowsPerWg = WG / tpr;
  const staged = (opts.scalesInShared ?? true) ? 1 : 0;
  const unrollFor = (gpuDefault: number) => {
    const unroll = opts.unroll ?? (gpu.caps.software ? SOFTWARE_UNROLL : gpuDefault);
    if (!Number.isInteger(unroll) || unroll < 1 || unroll > 16) {
      throw new Error(`gemv: unroll ${unroll} must be 1 … 16`);
    }
    return unroll;
  };
  const unroll = unrollFor(4);
  const needs = (kind: Activations['kind']) => {
    if (x.kind !== kind) throw new Error(`gemv ${w.scheme}: needs ${kind} activations, got ${x.kind}`);
  };
  switch (w.scheme) {
    case 'w4a8': {
      const perChannel = w.groupSize >= w.K;
      const { Kp, nGroups } = w4a8Geometry(w.K, perChannel ? undefined : w.groupSize);
      if (x.kind === 'x16') throw new Error('gemv w4a8: needs int8 or f32 activations, got x16');
      // f32 activations: the kernel quantizes them itself (X_F32), see GemvOptions.norm.
      const staging = x.kind === 'f32';
      if (!staging && opts.norm) throw new Error('gemv w4a8: a fused norm needs f32 activations');
      const tokens = opts.tokensPerWorkgroup ?? 1;
      if (!Number.isInteger(tokens) || tokens < 1 || tokens > 8 || (staging && tokens > 1)) {
        throw new Error(`gemv w4a8: tokensPerWorkgroup ${tokens} must be 1 … 8 (1 with f32 input)`);
      }
      if (staging && !canStageActivations(gpu, w.K, tpr, w.groupSize)) {
        throw new Error(
          `gemv w4a8: an int8 row of ${w.K} does not fit in workgroup memory; quantize separately`,
        );
      }
      const st = stagingSpec(gpu, wantSubgroups, opts, Kp / 16, opts.normWeightsLate ?? false);
      const sgReduce = staging && st.sgReduce;
      return {
        spec: {
          shader: gemvShaders.w4a8,
          entryPoint: 'main',
          flags: {
            ...flags,
            X_F32: staging,
            SG_REDUCE: sgReduce,
            SUBGROUP_BUILTINS: rowSubgroups || sgReduce,
            TOKEN_BLOCKS: tokens > 1,
          },
          constants: {
            ...common,
            UNROLL: unroll,
            GROUP_CHUNKS: perChannel ? 0 : w.groupSize / 32,
            SCALE_SLOTS: rowsPerWg * nGroups,
            SCALES_IN_SHARED: staged,
            TOKENS: tokens,
            SX_VEC4: staging ? Kp / 16 : 1,
            // Declared only with X_F32.
            ...(staging ? st.constants : { NORM: 0 }),
          },
        },
        params: (p, gx) => [p.rows, Kp / 32, nGroups, p.row0, gx],
        xStride: staging ? x.stride : x.stride / 16,
        extra: [w.K, st.eps],
        weights: (p) => [p.buffers.qweight, p.buffers.scales],
        inputs: staging ? [x.x, opts.norm?.weight ?? x.x] : undefined,
      };
    }
    case 'w4a16':
    case 'w2-4-16': {
      const w4 = w.scheme === 'w4a16';
      const g = w2Geometry(w.K);
      const geo = int16Geometry(w.scheme, w.K);
      // x16 input: the token-block kernel (prefill) on the standalone quantizer's output.
      const blocks = x.kind === 'x16';
      const tokens = opts.tokensPerWorkgroup ?? 1;
      if (blocks) {
        if (x.transposed !== !w4) {
          throw new Error(
            `gemv ${w.scheme}: x16 activations in the ${x.transposed ? '2/4/16' : 'w4a16'} lane order`,
          );
        }
        if (opts.norm || opts.int16Activations === false || !(opts.scalesInShared ?? true)) {
          throw new Error(
            `gemv ${w.scheme}: x16 activations take no fused norm, f32 kernel or per-invocation scales`,
          );
        }
        if (!Number.isInteger(tokens) || tokens < 1 || tokens > 8) {
          throw new Error(`gemv ${w.scheme}: tokensPerWorkgroup ${tokens} must be 1 … 8`);
        }
        if (!w4 && g.nG > W2_SCHEDULE_GROUPS_MAX) {
          throw new Error(
            `gemv ${w.scheme}: x16 token blocks take rows of at most ${64 * W2_SCHEDULE_GROUPS_MAX} features (the schedule's limit), got ${w.K}`,
          );
        }
        if (!x16BlocksFit(gpu, w.scheme, w.K, tpr)) {
          throw new Error(
            `gemv ${w.scheme}: the group table of ${WG / tpr} rows of ${w.K} does not fit in workgroup memory at threadsPerRow ${tpr}`,
          );
        }
      } else {
        needs('f32');
        if (tokens !== 1) throw new Error(`gemv ${w.scheme}: token blocks need x16 activations`);
      }
      const x16 =
        blocks ||
        ((opts.int16Activations ?? true) &&
          canStageInt16(gpu, w.scheme, w.K, tpr, opts.scalesInShared ?? true));
      if (opts.norm && !x16) {
        throw new Error(
          `gemv ${w.scheme}: a fused norm needs the 16-bit staged kernel (int16Activations, a row of ${w.K} that fits)`,
        );
      }
      const bits = opts.stagedActivationBits ?? 16;
      if (bits === 8 && (w4 || !x16 || blocks)) {
        throw new Error(
          `gemv ${w.scheme}: stagedActivationBits 8 needs the 2/4/16 kernel staging its own row (int16Activations, a row of ${w.K} that fits at threadsPerRow ${tpr})`,
        );
      }
      const tile = w2TileDefaults(bits, !!opts.norm, !w4 && x16 && !blocks, rowsPerWg * geo.groups);
      const sched16 = opts.schedule16 ?? tile.schedule16;
      if (sched16 && !x16) {
        throw new Error(`gemv ${w.scheme}: schedule16 needs the 2/4/16 16-bit kernel (int16Activations)`);
      }
      if (opts.strip && (w4 || !x16 || blocks)) {
        throw new Error('gemv: strip applies to the 2/4/16 kernel staging its own row only');
      }
      const st = stagingSpec(
        gpu,
        wantSubgroups,
        opts,
        geo.chunks16,
        opts.normWeightsLate ?? tile.normWeightsLate,
      );
      const sgReduce = x16 && !blocks && st.sgReduce;
      return {
        spec: {
          shader: gemvShaders[w.scheme],
          entryPoint: 'main',
          flags: {
            ...flags,
            X16: x16,
            X16_BLOCKS: blocks,
            SCHED16: sched16,
            SG_REDUCE: sgReduce,
            SUBGROUP_BUILTINS: rowSubgroups || sgReduce,
          },
          constants: {
            ...common,
            SCALE_SLOTS: rowsPerWg * geo.groups,
            ...(sched16 ? { SCHED_WORDS: Math.ceil((rowsPerWg * geo.groups) / 2) } : {}),
            SCALES_IN_SHARED: staged,
            NORM: opts.norm ? 1 : 0,
            // Declared only with X16 (the staging ones only without X16_BLOCKS).
            ...(blocks ? { UNROLL: unroll, X16_TRANSPOSE: w4 ? 0 : 1, TOKENS: tokens } : {}),
            ...(x16 && !blocks
              ? {
                  ...st.constants,
                  UNROLL: unrollFor(tile.unroll),
                  X16_TRANSPOSE: w4 ? 0 : 1,
                  X16_CHUNKS: geo.chunks16,
                  // X8 stages the lo halves only, compactly (stage_x16.wgsl).
                  X16_VEC4: bits === 8 ? geo.chunks16 : 2 * geo.chunks16,
                  ...(opts.strip ? { STRIP: opts.strip } : {}),
                  ...(bits === 8 ? { X8: 1 } : {}),
                }
              : {}),
          },
        },
        // Params: the struct's fields in order (x/y strides come after wg_per_row_x).
        params: w4
          ? (p, gx) => [p.rows, roundUp(w.K, 32) / 32, geo.groups, p.row0, gx]
          : (p, gx) => [p.rows, g.nG, g.wordsPerRow, p.row0, gx],
        extra: w4 ? [w.K, st.eps] : [g.maskWords, g.codeWords, w.K, st.eps, g.n4],
        // x16: vec4<u32> per token (2 bytes per feature); staged: f32; f32 kernel: vec4<f32>.
        xStride: blocks ? x.stride / 8 : x16 ? x.stride : x.stride / 4,
        weights: (p) => {
          const b = p.buffers;
          return w4
            ? [b.qweight, b.scales]
            : [b.mask, b.qweight, b.rowScale, b.scaleCodes, b.outlierRowPtr, b.outliers];
        },
        inputs:
          x.kind === 'x16'
            ? [x.q, x.sum, x.scale]
            : x16 && x.kind === 'f32'
              ? [x.x, opts.norm?.weight ?? x.x]
              : undefined,
      };
    }
    case 'f32':
    case 'f16': {
      needs('f32');
      const f16 = w.scheme === 'f16';
      return {
        spec: {
          shader: gemvShaders.float,
          entryPoint: 'main',
          flags,
          constants: { ...common, F16: f16 ? 1 : 0 },
        },
        params: (p, gx) => [p.rows, f16 ? roundUp(w.K, 2) / 2 : w.K, 0, p.row0, gx],
        xStride: x.stride,
        weights: (p) => [p.buffers.data],
      };
    }
  }
}

export async function gemv(
  gpu: GpuContext,
  w: GpuLinear,
  x: Activations,
  y: GPUBuffer,
  opts: GemvOptions = {},
): Promise<Encodable> {
  const bits = opts.stagedActivationBits;
  if (bits !== undefined && bits !== 16 && (bits !== 8 || w.scheme !== 'w2-4-16')) {
    throw new Error(
      `gemv ${w.scheme}: stagedActivationBits ${bits}: only 2/4/16 takes 8 (16 is the default)`,
    );
  }
  if (opts.schedule16 && w.scheme !== 'w2-4-16') {
    throw new Error(`gemv ${w.scheme}: schedule16: only 2/4/16 kernels have a schedule`);
  }
  if (opts.matrixUnits && matrixGemmFits(gpu, w, x, opts.matrixKTile, opts.matrixGrid, opts.matrixTokens)) {
    const { accumulate, gated, yStride, matrixKTile, matrixGrid, matrixTokens, matrixStageRotate } = opts;
    return matrixGemm(gpu, w, x, y, {
      accumulate,
      gated,
      yStride,
      kTile: matrixKTile,
      grid: matrixGrid,
      tokens: matrixTokens,
      stageRotate: matrixStageRotate,
    });
  }
  const { device } = gpu;
  const tpr = opts.threadsPerRow ?? GEMV_THREADS_PER_ROW;
  if (WG % tpr !== 0) throw new Error(`gemv: threadsPerRow ${tpr} must divide ${WG}`);
  if (opts.gated) {
    if (tpr > WG / 2) throw new Error('gemv: gated needs at least two rows per workgroup');
    for (const piece of w.pieces) {
      if (piece.row0 % 2 || piece.rows % 2)
        throw new Error('gemv: gated pieces must hold whole (gate, up) row pairs');
    }
  }
  const yStride = opts.yStride ?? (opts.gated ? w.N / 2 : w.N);
  const p = plan(gpu, w, x, opts, tpr);
  const tokenBlock = opts.tokensPerWorkgroup ?? 1;
  const pipeline = await gpu.pipelines.get(p.spec);
  const maxDim = gpu.caps.limits.maxComputeWorkgroupsPerDimension;
  const inputs = p.inputs ?? (x.kind === 'int8' ? [x.q, x.scale] : x.kind === 'f32' ? [x.x] : []);
  const parts = w.pieces.map((piece) => {
    const [gx, gy] = grid2d(Math.ceil(piece.rows / (WG / tpr)), maxDim);
    const words = [...p.params(piece, gx), p.xStride, yStride, ...(p.extra ?? [])];
    const params = uniformBuffer(device, new Uint32Array(words));
    const group = bindGroup(device, pipeline, [...p.weights(piece), ...inputs, y, params]);
    return { group, gx, gy, params };
  });
  return {
    encode: (pass, tokens = 1) => {
      const blocks = Math.ceil(tokens / tokenBlock);
      for (const part of parts) dispatch(pass, pipeline, part.group, part.gx, part.gy, blocks);
    },
    destroy: () => {
      for (const part of parts) part.params.destroy();
    },
  };
}

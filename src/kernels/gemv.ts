import gemvFloatWgsl from '../../shaders/gemv_float.wgsl?raw';
import gemvW2416Wgsl from '../../shaders/gemv_w2_4_16.wgsl?raw';
import gemvW4a8Wgsl from '../../shaders/gemv_w4a8.wgsl?raw';
import gemvW4a16Wgsl from '../../shaders/gemv_w4a16.wgsl?raw';
import { uniformBuffer } from '../gpu/buffers';
import type { GpuContext } from '../gpu/device';
import { bindGroup, dispatch } from '../gpu/dispatch';
import type { PipelineSpec } from '../gpu/pipelines';
import { roundUp, w2Geometry, w4a8Geometry } from '../quant/layouts';
import type { Encodable } from './encodable';
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
   * canStageActivations() for the size limit.
   */
  norm?: { weight: GPUBuffer; eps: number };
  /**
   * W4A8 with int8 input: tokens per workgroup (1 … 8, default 1). Each weight chunk is then
   * read once per block of tokens (prefill). x and y must hold whole blocks: rows up to the
   * token count rounded up to this; the extra rows are computed and written, never read.
   */
  tokensPerWorkgroup?: number;
}

/** Chunks of 16 activations one invocation stages at most (XCH_MAX in gemv_w4a8.wgsl). */
const STAGE_CHUNKS_MAX = 4;

/** Workgroup memory of the W4A8 kernel besides the staged row: scales, row sums, reductions. */
function w4a8SharedBytes(rowsPerWg: number, nGroups: number, stagedK: number): number {
  return 4 * rowsPerWg * nGroups + 3 * 4 * WG + (stagedK ? roundUp(stagedK, 128) : 0);
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
  const needs = (kind: Activations['kind']) => {
    if (x.kind !== kind) throw new Error(`gemv ${w.scheme}: needs ${kind} activations, got ${x.kind}`);
  };
  switch (w.scheme) {
    case 'w4a8': {
      const perChannel = w.groupSize >= w.K;
      const { Kp, nGroups } = w4a8Geometry(w.K, perChannel ? undefined : w.groupSize);
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
      const sgReduce = staging && wantSubgroups && subgroupsFit(gpu, WG);
      const eps = new Uint32Array(new Float32Array([opts.norm?.eps ?? 0]).buffer)[0];
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
            GROUP_CHUNKS: perChannel ? 0 : w.groupSize / 32,
            SCALE_SLOTS: rowsPerWg * nGroups,
            SCALES_IN_SHARED: staged,
            NORM: opts.norm ? 1 : 0,
            TOKENS: tokens,
            SX_VEC4: staging ? Kp / 16 : 1,
            // Declared only with X_F32.
            ...(staging
              ? {
                  X_CHUNKS: Math.ceil(Kp / 16 / WG),
                  RED_PARTIALS: partialsAfterSubgroups(gpu, WG, sgReduce),
                }
              : {}),
          },
        },
        params: (p, gx) => [p.rows, Kp / 32, nGroups, p.row0, gx],
        xStride: staging ? x.stride : x.stride / 16,
        extra: [w.K, eps],
        weights: (p) => [p.buffers.qweight, p.buffers.scales],
        inputs: staging ? [x.x, opts.norm?.weight ?? x.x] : undefined,
      };
    }
    case 'w4a16': {
      needs('f32');
      const groups = Math.ceil(w.K / 128);
      return {
        spec: {
          shader: gemvShaders.w4a16,
          entryPoint: 'main',
          flags,
          constants: { ...common, SCALE_SLOTS: rowsPerWg * groups, SCALES_IN_SHARED: staged },
        },
        params: (p, gx) => [p.rows, roundUp(w.K, 32) / 32, groups, p.row0, gx],
        xStride: x.stride / 4,
        weights: (p) => [p.buffers.qweight, p.buffers.scales],
      };
    }
    case 'w2-4-16': {
      needs('f32');
      const g = w2Geometry(w.K);
      return {
        spec: {
          shader: gemvShaders['w2-4-16'],
          entryPoint: 'main',
          flags,
          constants: { ...common, SCALE_SLOTS: rowsPerWg * g.nG, SCALES_IN_SHARED: staged },
        },
        // Params: the struct's fields in order (x/y strides come after wg_per_row_x).
        params: (p, gx) => [p.rows, g.nG, g.wordsPerRow, p.row0, gx],
        extra: [g.maskWords, g.codeWords],
        xStride: x.stride / 4,
        weights: (p) => {
          const b = p.buffers;
          return [b.mask, b.qweight, b.rowScale, b.scaleCodes, b.outlierRowPtr, b.outliers];
        },
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
  const { device } = gpu;
  const tpr = opts.threadsPerRow ?? 32;
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
  const inputs = p.inputs ?? (x.kind === 'int8' ? [x.q, x.scale] : [x.x]);
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

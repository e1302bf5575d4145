import attentionWgsl from '../../shaders/attention.wgsl?raw';
import attentionPrefillWgsl from '../../shaders/attention_prefill.wgsl?raw';
import attentionPrefillSubgroupWgsl from '../../shaders/attention_prefill_subgroup.wgsl?raw';
import ropeWgsl from '../../shaders/rope.wgsl?raw';
import { f32Bits, roundUp, uniformBuffer } from '../gpu/buffers';
import type { GpuContext } from '../gpu/device';
import { dispatch } from '../gpu/dispatch';
import type { Encodable } from './encodable';
import { partialsAfterSubgroups, subgroupsFit } from './subgroups';

export const ropeShader = { name: 'rope', code: ropeWgsl };
export const attentionShader = { name: 'attention', code: attentionWgsl };
export const attentionPrefillShader = { name: 'attention_prefill', code: attentionPrefillWgsl };
export const attentionPrefillSubgroupShader = {
  name: 'attention_prefill_subgroup',
  code: attentionPrefillSubgroupWgsl,
};

/** Query tokens per workgroup of the tiled prefill kernel (BQ in attention_prefill.wgsl). */
const PREFILL_QUERIES = 32;
const PREFILL_KEYS = 32; // BKEY
const PREFILL_PV_MAX = 8; // V words per invocation (16 invocations per row group at 128)

/**
 * Invocations per workgroup of the tiled prefill kernel: 256 (default; H100, 512-token prefill:
 * Llama-2-7B's attention 8.96 vs 13.07 ms at 128) or 128 (the ablation).
 */
export type PrefillThreads = 128 | 256;
const PREFILL_THREADS_DEFAULT: PrefillThreads = 256;

/**
 * Which kernel runs a chunk of several tokens: `tiled` (attention_prefill.wgsl: a workgroup per
 * 32 queries × query head, K/V tiles shared by them), `subgroup` (attention_prefill_subgroup.wgsl:
 * the same walk with each query row inside one subgroup, see prefillSubgroupFits), `split` (the
 * per-token `partial` kernel + merge: the baseline), or `auto` (on GPUs with 32-lane subgroups
 * the subgroup kernel where it runs, else tiled where it fits (see prefillKernelFits), else split;
 * CPU adapters skip the subgroup kernel).
 */
export type PrefillAttention = 'auto' | 'tiled' | 'subgroup' | 'split';

/** The subgroup size at which `auto` picks the `subgroup` prefill kernel (measured on the H100). */
const AUTO_SUBGROUP_SIZE = 32;

/** Query rows per subgroup of the `subgroup` prefill kernel (RQ: the components of its row vectors). */
const PREFILL_SUBGROUP_ROWS = 4;
/** Most staged quads per invocation and tile (SQ_MAX) and V words per lane (PV_MAX) in the shader. */
const PREFILL_SUBGROUP_SQ_MAX = 4;
const PREFILL_SUBGROUP_PV_MAX = 8;

/**
 * Whether the `subgroup` prefill kernel runs here: subgroups of one fixed size (its key tile is
 * a subgroup, one key per lane) numbered by WGSL's subgroup_id, a K/V row of at most 8 words per
 * lane, at most 4 staged quads per invocation, and its staged q, K and V within workgroup memory
 * (hd 128, f16 cache, subgroups of 32: 33 KiB).
 */
export function prefillSubgroupFits(gpu: GpuContext, s: AttentionShape): boolean {
  const c = gpu.caps;
  const sg = c.subgroupMinSize;
  const words = s.kv === 'f32' ? s.headDim : s.headDim / 2;
  const quads = words / 4;
  const subgroups = PREFILL_QUERIES / PREFILL_SUBGROUP_ROWS;
  // sq (two vec4<f32> per quad of each query row) + sk + sv (padded rows of vec4<u32>) + scales.
  const shared = 32 * PREFILL_QUERIES * quads + 2 * 16 * sg * (quads + 1) + 8 * sg;
  return (
    c.features.subgroups &&
    sg > 0 &&
    sg === c.subgroupMaxSize &&
    c.wgslLanguageFeatures.includes('subgroup_id') &&
    Number.isInteger(quads) &&
    words <= PREFILL_SUBGROUP_PV_MAX * sg &&
    Math.ceil(quads / subgroups) <= PREFILL_SUBGROUP_SQ_MAX &&
    // The project's workgroups stay within 256 invocations (WebGPU's default workgroup size X).
    subgroups * sg <= Math.min(256, c.limits.maxComputeInvocationsPerWorkgroup) &&
    shared <= c.limits.maxComputeWorkgroupStorageSize
  );
}

export interface AttentionOptions {
  /** Single-token steps (default `auto`). */
  decode?: DecodeAttention;
  /** Chunks of several tokens (default `auto`). */
  prefill?: PrefillAttention;
  /** Invocations per workgroup of the tiled chunk kernel (default 256). */
  prefillThreads?: PrefillThreads;
  /** Diagnostic (bench `attention` suite): parts of the decode kernel to leave out (STRIP in attention.wgsl). */
  strip?: number;
  /** The merge of split outputs (default `auto`), see AttentionMerge. */
  merge?: AttentionMerge;
  /**
   * The `partial` kernel issues its first K loads before staging q (default true); false: after,
   * as before session 15 (a benchmark ablation). K_FIRST in attention.wgsl.
   */
  kFirst?: boolean;
  /**
   * The `partial` kernel issues its V loads right after the Q·K dots, so they overlap the
   * softmax (V_AFTER_DOTS in attention.wgsl). Default: on GPUs (H100, session 15: attention at
   * 2,112 keys 10.95 vs 11.84 µs per layer for Llama-3.2-1B, 20.10 vs 20.63 for Llama-2-7B), off
   * on CPU adapters (not measured there); false loads V in P·V (a benchmark ablation).
   */
  vAfterDots?: boolean;
  /**
   * Keys per workgroup of the single-token `partial` kernel (DECODE_SPLITS; default
   * ATTN_SPLIT.decode). An ablation: longer splits were meant to spread each workgroup's fixed
   * cost (q staging, barriers, softmax) over more bytes, but its per-key work is serial and fewer
   * workgroups keep fewer loads in flight (H100, Llama-2-7B at 2,112 keys, a cache per layer:
   * 20.1 / 20.4 / 43.9 µs per layer at 32 / 64 / 128 keys; session 21).
   */
  decodeSplit?: number;
}

/** The `partial` kernel's single-token split lengths (AttentionOptions.decodeSplit): divisors of its 128 invocations. */
const DECODE_SPLITS = [32, 64, 128] as const;

/**
 * Whether the tiled prefill kernel fits: a K/V row of at most 16 · PV_MAX words, and its staged
 * tiles within workgroup memory (q as f32 pairs, K, V, the probability tile and the softmax
 * partials: 39 KiB at head_dim 128 with f16 K/V, so not on SwiftShader's 16 KiB nor lavapipe's
 * 32 KiB, where the split kernels run; 23 KiB at head_dim 64, 11 KiB at 16).
 */
export function prefillKernelFits(
  gpu: GpuContext,
  s: AttentionShape,
  threads: PrefillThreads = PREFILL_THREADS_DEFAULT,
): boolean {
  // int8 rows are staged as f16 pairs (their integers) with a K and a V scale per key.
  const words = s.kv === 'f32' ? s.headDim : s.headDim / 2;
  const shared =
    8 * PREFILL_QUERIES * (words + 1) +
    4 *
      (2 * PREFILL_KEYS * (words + 1) +
        PREFILL_QUERIES * (PREFILL_KEYS + 1) +
        2 * threads +
        2 * PREFILL_QUERIES +
        2 * PREFILL_KEYS);
  return (
    Number.isInteger(words) &&
    words <= 16 * PREFILL_PV_MAX &&
    threads <= gpu.caps.limits.maxComputeInvocationsPerWorkgroup &&
    shared <= gpu.caps.limits.maxComputeWorkgroupStorageSize
  );
}

export interface AttentionShape {
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  /** Positions the KV cache holds. */
  maxPos: number;
  /** How the KV cache stores a value (see KvFormat). */
  kv: KvFormat;
}

/**
 * KV-cache storage: `f32`; `f16` pairs in u32 (dims 2i, 2i+1); or `int8` rows, a head's dims as
 * pack4xI8 words with one f32 scale per row (max|x| / 127) after all rows (lib/kv_int8.wgsl):
 * half f16's bytes, the ones a long context's decode step reads. int8 needs head_dim % 16 == 0
 * (a row is whole vec4<u32> chunks).
 */
export type KvFormat = 'f32' | 'f16' | 'int8';

/** Whether a head dimension can use the int8 cache. */
export function kvInt8Fits(headDim: number): boolean {
  return headDim % 16 === 0;
}

/** Bytes a kernel reads for one cached row (a position of a KV head) of K or V: values + int8's scale. */
export function kvRowBytes(headDim: number, kv: KvFormat): number {
  return kv === 'int8' ? headDim + 4 : headDim * (kv === 'f16' ? 2 : 4);
}

/** Bytes of one of the two caches (K or V) for this shape. */
export function kvCacheBytes(s: AttentionShape): number {
  const rows = s.numKvHeads * s.maxPos;
  // int8: the scale words padded to whole vec4<u32>, so the kernels' vec4 view holds every scale.
  return s.kv === 'int8' ? rows * s.headDim + 4 * roundUp(rows, 4) : rows * kvRowBytes(s.headDim, s.kv);
}

/** The kernels' cache-layout constants. */
function kvConstants(s: AttentionShape): { KV_F16: number; KV_I8: number } {
  return { KV_F16: s.kv === 'f16' ? 1 : 0, KV_I8: s.kv === 'int8' ? 1 : 0 };
}

function entries(buffers: (GPUBuffer | null)[]): GPUBindGroupEntry[] {
  const out: GPUBindGroupEntry[] = [];
  buffers.forEach((buffer, binding) => {
    if (buffer) out.push({ binding, resource: { buffer } });
  });
  return out;
}

/** RoPE on q and k of a qkv chunk, q → qOut, k and v → the cache at positions pos0 + t. */
export async function ropeKernel(
  gpu: GpuContext,
  s: AttentionShape,
  b: {
    qkv: GPUBuffer;
    qkvStride: number;
    cosSin: GPUBuffer;
    qOut: GPUBuffer;
    qStride: number;
    k: GPUBuffer;
    v: GPUBuffer;
    step: GPUBuffer;
  },
): Promise<Encodable> {
  const { device } = gpu;
  const pipeline = await gpu.pipelines.get({
    shader: ropeShader,
    entryPoint: 'main',
    constants: { WG: 64, ...kvConstants(s) },
  });
  const params = uniformBuffer(
    device,
    new Uint32Array([s.numHeads, s.numKvHeads, s.headDim, b.qkvStride, b.qStride, s.maxPos]),
  );
  const group = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: entries([b.qkv, b.cosSin, b.qOut, b.k, b.v, params, b.step]),
  });
  return {
    encode: (pass, tokens = 1) => dispatch(pass, pipeline, group, s.numHeads + s.numKvHeads, tokens),
    destroy: () => params.destroy(),
  };
}

export interface AttentionKernel extends Encodable {
  /** Records partial + merge for `tokens` queries whose last position is `lastPos`. */
  encodeAt(pass: GPUComputePassEncoder, tokens: number, lastPos: number): void;
}

/** Invocations per attention workgroup. */
const ATTN_WG = 128;
/**
 * Keys per split. Decode (one query) has little work per layer, so it splits finely to occupy
 * the GPU; a prefill chunk has a workgroup per query token already, and coarse splits keep its
 * partial buffers small.
 */
export const ATTN_SPLIT = { decode: 32, prefill: 128 } as const;

/**
 * The merge of split outputs: `wide` (every load in one round trip, MERGE_WG invocations),
 * `serial` (the kernel before session 14: a round trip per 8 splits, HEAD_DIM-wide), or `auto`
 * (the default: `wide` on GPUs, `serial` on CPU adapters, where the wide merge's 256 invocations
 * and tree of barriers cost more than memory latency saves: Llama-3.2-1B at 300 keys on lavapipe,
 * 3.58 vs 2.87 ms per layer).
 */
export type AttentionMerge = 'auto' | 'wide' | 'serial';

/**
 * Invocations of the `merge` entry point: a power of two (its tree halves it) ≥ head_dim / 4
 * (attention.wgsl).
 */
const MERGE_WG = 256;

/** Invocations (= keys per split) of the `decode` entry point. */
const DECODE_WG = 256;
/** K/V row chunks (vec4<u32>) one `decode` invocation holds: DCH_MAX in attention.wgsl. */
const DECODE_CHUNKS_MAX = 16;
/** Below this many KV heads the decode kernel gives each query head its own workgroup. */
const DECODE_MIN_KV_WORKGROUPS = 16;

/**
 * Which kernel runs single-token (decode) attention: `split` (`decode` while one 256-key split
 * holds the context, `partial` + merge beyond), `auto` (the default: `split` on GPUs, `decode`
 * on CPU adapters, for compile time), `decode` (at every
 * length, merging past 256 keys), `decode-per-kv` (the same with one workgroup per KV head even
 * when they are few: an ablation), `decode-late-v` (V loaded after the softmax instead of with K:
 * an ablation), or the 32-key `partial` kernel + merge (the kernel `decode` replaced: an ablation).
 */
export type DecodeAttention = 'auto' | 'split' | 'decode' | 'decode-per-kv' | 'decode-late-v' | 'partial';

/**
 * Whether the `decode` entry point fits this shape: a K/V row of at most 16 vec4<u32> chunks
 * that divide its 256 invocations, at most 4 query heads per KV head, and its workgroup arrays
 * within the device's limit. Otherwise decode runs `partial` (32-key splits) + merge.
 */
export function decodeKernelFits(gpu: GpuContext, s: AttentionShape): boolean {
  const chunks = s.headDim / (s.kv === 'int8' ? 16 : s.kv === 'f16' ? 8 : 4);
  const group = s.numHeads / s.numKvHeads;
  const slots = partialsAfterSubgroups(gpu, DECODE_WG, subgroupsFit(gpu, DECODE_WG));
  // sq + dnew + dred + dp + dacc (attention.wgsl), in bytes.
  const shared =
    group * s.headDim * 4 + 2 * DECODE_CHUNKS_MAX * 16 + slots * 16 + DECODE_WG * 16 + 2 * DECODE_WG * 16;
  return (
    Number.isInteger(chunks) &&
    chunks <= DECODE_CHUNKS_MAX &&
    DECODE_WG % chunks === 0 &&
    group <= 4 &&
    shared <= gpu.caps.limits.maxComputeWorkgroupStorageSize
  );
}

/**
 * Split-sequence attention: partial (per split × KV head × token) then merge (per head × token)
 * into `out`. `maxTokens` sizes the prefill partial buffers. A chunk of several tokens needs the
 * rope kernel to have written q and the cache first; a single token (decode) is rotated and
 * cached by the partial kernel itself, from `qkv`, so the rope dispatch is skipped.
 */
export async function attentionKernel(
  gpu: GpuContext,
  s: AttentionShape,
  b: {
    q: GPUBuffer;
    qStride: number;
    k: GPUBuffer;
    v: GPUBuffer;
    out: GPUBuffer;
    outStride: number;
    step: GPUBuffer;
    /** The qkv rows and RoPE table: single-token steps apply RoPE and write K/V here (see below). */
    qkv: GPUBuffer;
    qkvStride: number;
    cosSin: GPUBuffer;
  },
  maxTokens: number,
  opts: AttentionOptions = {},
): Promise<AttentionKernel> {
  const decode = opts.decode ?? 'auto';
  const strip = opts.strip ?? 0;
  const { device } = gpu;
  if (s.numHeads % s.numKvHeads) throw new Error('attention: numHeads must be a multiple of numKvHeads');
  // K is read 8 values (one vec4<u32> of f16 pairs) at a time, 16 in int8.
  if (s.headDim % 8) throw new Error(`attention: head_dim ${s.headDim} is not a multiple of 8`);
  if (s.headDim > 4 * MERGE_WG) throw new Error(`attention: head_dim ${s.headDim} is above ${4 * MERGE_WG}`);
  if (s.kv === 'int8' && !kvInt8Fits(s.headDim)) {
    throw new Error(`attention: an int8 KV cache needs head_dim a multiple of 16, not ${s.headDim}`);
  }
  // Decode fuses RoPE and the K/V cache write (the rope kernel is for chunks of several tokens).
  const oneKernel = decode !== 'partial' && decodeKernelFits(gpu, s);
  // Variants: [single-token long contexts, prefill chunks, single-token short contexts].
  // `auto` on GPUs is `split`: the decode kernel only while one split holds the context (one
  // dispatch instead of two) and the 32-key partial kernel + merge beyond it. With the merge in one
  // round trip (session 14) that is the faster choice at 2,048 keys for many KV heads too
  // (Llama-2-7B on the H100: GPU step 3,034 / 3,023 vs 3,134 µs with `decode` at every length;
  // attention suite at 2,112 keys 22.47 vs 25.67 µs per layer), as it was for few (Llama-3.2-1B:
  // 11.90 vs 20.73 µs per layer). CPU adapters take `decode` at every length: one single-token
  // variant fewer to compile. An int8 cache is split too since session 15's partial changes (K
  // and each key's scale loaded first, V after the dots): GPU step @2048 on the H100, split vs
  // `decode`, Llama-2-7B 2,985 vs 3,344 µs, Llama-3.2-1B 974 vs 1,089 (session 7 had split slower).
  const mode = decode === 'auto' ? (gpu.caps.software ? 'decode' : 'split') : decode;
  const decodeEverywhere = oneKernel && mode !== 'split';
  const decodeVariant = { split: DECODE_WG, tokens: 1, fusedRope: true, entry: 'decode', wg: DECODE_WG };
  // Chunks of several tokens take the subgroup or tiled kernel where one runs; only otherwise is
  // the split chunk variant built (its partial buffers hold maxTokens × heads × splits rows).
  const prefillThreads = opts.prefillThreads ?? PREFILL_THREADS_DEFAULT;
  if (prefillThreads !== 128 && prefillThreads !== 256) {
    throw new Error(`attention: prefillThreads ${prefillThreads} must be 128 or 256`);
  }
  const prefill = opts.prefill ?? 'auto';
  // `auto`: the subgroup kernel on GPUs with 32-lane subgroups (the one size its speed was
  // measured at; it is tested at 8 and 32) where it runs (H100, 512-token prefill at 2,048
  // positions: Llama-2-7B 36.74 vs 40.02 GPU ms with the tiled kernel, session 13); CPU adapters
  // keep the tiled (or split) kernels, so CI compiles and runs what it did.
  const useSubgroup =
    maxTokens > 1 &&
    (prefill === 'subgroup' ||
      (prefill === 'auto' && !gpu.caps.software && gpu.caps.subgroupMinSize === AUTO_SUBGROUP_SIZE)) &&
    prefillSubgroupFits(gpu, s);
  if (prefill === 'subgroup' && maxTokens > 1 && !useSubgroup) {
    throw new Error(
      `attention: the subgroup prefill kernel does not run here for head_dim ${s.headDim} (it needs one fixed subgroup size, WGSL subgroup_id, rows of at most 8 words per lane and its workgroup memory)`,
    );
  }
  const useTiled =
    maxTokens > 1 &&
    !useSubgroup &&
    (prefill === 'auto' || prefill === 'tiled') &&
    prefillKernelFits(gpu, s, prefillThreads);
  if (prefill === 'tiled' && maxTokens > 1 && !useTiled) {
    throw new Error(`attention: the tiled prefill kernel does not fit head_dim ${s.headDim} here`);
  }
  const decodeSplit = opts.decodeSplit ?? ATTN_SPLIT.decode;
  if (!(DECODE_SPLITS as readonly number[]).includes(decodeSplit)) {
    throw new Error(`attention: decodeSplit ${decodeSplit} is not one of ${DECODE_SPLITS.join(', ')}`);
  }
  const singleVariant = decodeEverywhere
    ? decodeVariant
    : { split: decodeSplit, tokens: 1, fusedRope: true, entry: 'partial', wg: ATTN_WG };
  const chunkVariant =
    useTiled || useSubgroup
      ? null
      : { split: ATTN_SPLIT.prefill, tokens: maxTokens, fusedRope: false, entry: 'partial', wg: ATTN_WG };
  const shortVariant = oneKernel && !decodeEverywhere ? decodeVariant : null;
  const variants = [singleVariant, chunkVariant, shortVariant].filter((v) => v !== null);
  const sgDecode = oneKernel && subgroupsFit(gpu, DECODE_WG);
  const vAfterDots = opts.vAfterDots ?? !gpu.caps.software;
  // Few KV heads (GQA): a workgroup per query head, so short contexts still fill the GPU
  // (Llama-3.2-1B: 8 KV heads = 8 workgroups at 256 keys, 32 with this).
  const group = s.numHeads / s.numKvHeads;
  const qSplit =
    oneKernel && s.numKvHeads < DECODE_MIN_KV_WORKGROUPS && decode !== 'decode-per-kv' ? group : 1;
  const slots = (v: (typeof variants)[number]) => v.tokens * s.numHeads * Math.ceil(s.maxPos / v.split);
  // Both variants share one pair of partial buffers (a step uses one of them).
  const maxSlots = Math.max(...variants.map(slots));
  const partO = device.createBuffer({ size: maxSlots * s.headDim * 4, usage: GPUBufferUsage.STORAGE });
  const partMl = device.createBuffer({ size: maxSlots * 8, usage: GPUBufferUsage.STORAGE });
  const owned = [partO, partMl];
  // 1 / sqrt(head_dim), the Params `scale` of every variant.
  const scaleBits = f32Bits(1 / Math.sqrt(s.headDim));
  const prepare = async (v: (typeof variants)[number]) => {
    const constants = {
      WG: v.wg,
      SPLIT: v.split,
      HEAD_DIM: s.headDim,
      GROUP: group,
      ...kvConstants(s),
      PV_SLICES: Math.max(1, Math.floor(ATTN_WG / (s.headDim / 2))),
      SPLITS_MAX: Math.ceil(s.maxPos / v.split),
      FUSED_ROPE: v.fusedRope ? 1 : 0,
      ...(v.entry === 'decode'
        ? {
            DRED_SLOTS: partialsAfterSubgroups(gpu, DECODE_WG, sgDecode),
            QSPLIT: qSplit,
            V_EARLY: decode === 'decode-late-v' ? 0 : 1,
            ...(strip ? { STRIP: strip } : {}),
          }
        : { K_FIRST: opts.kFirst === false ? 0 : 1, V_AFTER_DOTS: vAfterDots ? 1 : 0 }),
    };
    const isDecode = v.entry === 'decode';
    const partial = await gpu.pipelines.get({
      shader: attentionShader,
      entryPoint: v.entry,
      flags: { SUBGROUP_BUILTINS: isDecode && sgDecode },
      constants,
    });
    // merge uses no subgroup builtins: built from the same module as `partial`'s.
    const mergeKind = opts.merge ?? 'auto';
    const serialMerge = mergeKind === 'serial' || (mergeKind === 'auto' && gpu.caps.software);
    const merge = await gpu.pipelines.get({
      shader: attentionShader,
      entryPoint: serialMerge ? 'merge_serial' : 'merge',
      flags: { SUBGROUP_BUILTINS: false },
      constants: serialMerge ? constants : { ...constants, WG: MERGE_WG },
    });
    const params = uniformBuffer(
      device,
      new Uint32Array([
        s.numHeads,
        s.numKvHeads,
        b.qStride,
        s.maxPos,
        Math.ceil(s.maxPos / v.split),
        b.outStride,
        scaleBits,
        b.qkvStride,
      ]),
    );
    owned.push(params);
    const partialGroup = device.createBindGroup({
      layout: partial.getBindGroupLayout(0),
      // decode reads q from the qkv row and may write `out`; partial reads the rotated q and V
      // by word (binding 10).
      entries: entries(
        v.entry === 'decode'
          ? [null, b.k, b.v, partO, partMl, params, b.step, b.out, b.qkv, b.cosSin]
          : [b.q, b.k, null, partO, partMl, params, b.step, null, b.qkv, b.cosSin, b.v],
      ),
    });
    // The wide merge reads the split outputs by vec4 (binding 11), the serial one by f32 (3).
    const mergeGroup = device.createBindGroup({
      layout: merge.getBindGroupLayout(0),
      entries: entries(
        serialMerge
          ? [null, null, null, partO, partMl, params, b.step, b.out]
          : [null, null, null, null, partMl, params, b.step, b.out, null, null, null, partO],
      ),
    });
    return {
      split: v.split,
      partial,
      merge,
      partialGroup,
      mergeGroup,
      isDecode,
      qSplit: isDecode ? qSplit : 1,
    };
  };
  const [single, chunk, shortSingle] = await Promise.all(
    [singleVariant, chunkVariant, shortVariant].map((v) => (v ? prepare(v) : undefined)),
  );
  // Chunks: the tiled or subgroup kernel where it fits (they read the rope kernel's q and the cache).
  const tiled =
    useTiled || useSubgroup
      ? await (async () => {
          const constants = {
            HEAD_DIM: s.headDim,
            GROUP: group,
            // int8 rows are staged as f16 pairs: KV_F16 describes the staged rows.
            KV_F16: s.kv === 'f32' ? 0 : 1,
            KV_I8: s.kv === 'int8' ? 1 : 0,
          };
          const pipeline = await gpu.pipelines.get(
            useSubgroup
              ? {
                  shader: attentionPrefillSubgroupShader,
                  entryPoint: 'main',
                  constants: {
                    ...constants,
                    SG: gpu.caps.subgroupMinSize,
                    NW: PREFILL_QUERIES / PREFILL_SUBGROUP_ROWS,
                  },
                }
              : {
                  shader: attentionPrefillShader,
                  entryPoint: 'main',
                  constants: { ...constants, WG: prefillThreads },
                },
          );
          // The split kernels' Params layout (splits_max and qkv_stride unused here).
          const params = uniformBuffer(
            device,
            new Uint32Array([s.numHeads, s.numKvHeads, b.qStride, s.maxPos, 0, b.outStride, scaleBits, 0]),
          );
          owned.push(params);
          return {
            pipeline,
            group: device.createBindGroup({
              layout: pipeline.getBindGroupLayout(0),
              entries: entries([b.q, b.k, b.v, params, b.step, b.out]),
            }),
          };
        })()
      : null;
  const encodeAt = (pass: GPUComputePassEncoder, tokens: number, lastPos: number) => {
    if (tokens > maxTokens) throw new Error(`attention: ${tokens} tokens exceed the prepared ${maxTokens}`);
    if (tokens > 1 && tiled) {
      dispatch(pass, tiled.pipeline, tiled.group, Math.ceil(tokens / PREFILL_QUERIES), s.numHeads);
      return;
    }
    const v = tokens > 1 ? chunk : shortSingle && lastPos < DECODE_WG ? shortSingle : single;
    if (!v) throw new Error('attention: no kernel prepared for this step');
    const splits = Math.floor(lastPos / v.split) + 1;
    dispatch(pass, v.partial, v.partialGroup, splits, s.numKvHeads * v.qSplit, tokens);
    // The decode kernel normalizes a single split's output itself.
    if (!(v.isDecode && splits === 1)) dispatch(pass, v.merge, v.mergeGroup, s.numHeads, tokens);
  };
  return {
    encodeAt,
    encode: () => {
      throw new Error('attention: use encodeAt(pass, tokens, lastPos)');
    },
    destroy: () => {
      for (const buf of owned) buf.destroy();
    },
  };
}

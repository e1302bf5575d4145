import { fusedNames, type PackManifest, type PackTensor } from '../format/pack';
import { readF32, roundUp, STORAGE, uploadBuffer } from '../gpu/buffers';
import type { GpuContext } from '../gpu/device';
import { DispatchList } from '../gpu/dispatch';
import { ReadbackPacer } from '../gpu/readback-pacer';
import { TimestampQueries } from '../gpu/timestamps';
import {
  type AttentionKernel,
  type AttentionMerge,
  attentionKernel,
  type DecodeAttention,
  type KvFormat,
  kvCacheBytes,
  kvInt8Fits,
  type PrefillAttention,
  type PrefillThreads,
  ropeKernel,
} from '../kernels/attention';
import { embedKernel } from '../kernels/embed';
import type { Encodable } from '../kernels/encodable';
import { MATRIX_GEMM_TOKENS, type MatrixGridChoice, matrixUnitsAvailable } from '../kernels/gemm-matrix';
import {
  canStageActivations,
  canStageInt16,
  fitThreadsPerRow,
  GEMV_THREADS_PER_ROW,
  gemv,
  x16BlocksFit,
  x16BlocksTakeRows,
} from '../kernels/gemv';
import { ACT_ALIGN, type Activations, type GpuLinear, x16Bytes } from '../kernels/linear';
import { rmsNormKernel } from '../kernels/rmsnorm';
import { type Sampler, samplerKernel } from '../kernels/sample';
import type { Components, Scheme } from '../quant/types';
import { type ModelConfig, tensorNames } from './config';
import { ropeInvFreq } from './reference';
import type { SamplingParams } from './sampling-reference';

/**
 * The LLaMA graph on the GPU. Weights stay in the pack's layout; a session owns every
 * activation buffer and the KV cache, allocated once, and runs each step (a prefill chunk or
 * one decode token) as one command encoder whose only readback is the sampled token id.
 */

/**
 * What loading needs from a pack: its manifest's model description and tensor table, and the
 * components of each tensor piece. A Pack (src/format/pack-reader.ts) is one; the benchmark
 * builds synthetic ones in real model shapes.
 */
export interface WeightSource {
  manifest: Pick<PackManifest, 'config' | 'scheme' | 'tensors'>;
  tensor(name: string): PackTensor;
  readTensorComponents(name: string, piece: number): Promise<Components>;
}

export interface LoadProgress {
  tensor: string;
  index: number;
  total: number;
  bytes: number;
}

interface LayerWeights {
  attnNorm: GPUBuffer;
  mlpNorm: GPUBuffer;
  qkv: GpuLinear;
  o: GpuLinear;
  gateUp: GpuLinear;
  down: GpuLinear;
}

export class GpuModel {
  private constructor(
    readonly gpu: GpuContext,
    readonly config: ModelConfig,
    readonly scheme: Scheme,
    readonly layers: LayerWeights[],
    readonly finalNorm: GPUBuffer,
    readonly lmHead: GpuLinear,
    readonly embed: GpuLinear,
    private readonly buffers: GPUBuffer[],
  ) {}

  /** Uploads every tensor of the pack, piece by piece (no whole-model copy in JS memory). */
  static async load(
    gpu: GpuContext,
    pack: WeightSource,
    onProgress?: (p: LoadProgress) => void,
  ): Promise<GpuModel> {
    const buffers: GPUBuffer[] = [];
    const total = pack.manifest.tensors.length;
    let index = 0;
    const linear = async (name: string): Promise<GpuLinear> => {
      const t = pack.tensor(name);
      const pieces = [];
      let bytes = 0;
      for (let i = 0; i < t.pieces.length; i++) {
        const comps = await pack.readTensorComponents(name, i);
        const bufs: Record<string, GPUBuffer> = {};
        for (const [c, arr] of Object.entries(comps)) {
          bufs[c] = uploadBuffer(gpu.device, arr, `${name}:${c}:${i}`);
          buffers.push(bufs[c]);
          bytes += arr.byteLength;
        }
        const [r0, r1] = t.pieces[i].rows;
        pieces.push({ row0: r0, rows: r1 - r0, buffers: bufs });
      }
      onProgress?.({ tensor: name, index: ++index, total, bytes });
      return { scheme: t.scheme, N: t.shape[0], K: t.shape[1], groupSize: t.groupSize ?? t.shape[1], pieces };
    };
    const vector = async (name: string): Promise<GPUBuffer> => {
      const t: PackTensor = pack.tensor(name);
      const comps = await pack.readTensorComponents(name, 0);
      const b = uploadBuffer(gpu.device, comps.data, name);
      buffers.push(b);
      onProgress?.({ tensor: name, index: ++index, total, bytes: comps.data.byteLength });
      if (t.scheme !== 'f32') throw new Error(`${name}: norm weights must be f32, got ${t.scheme}`);
      return b;
    };
    try {
      return await GpuModel.upload(gpu, pack, buffers, linear, vector);
    } catch (e) {
      // A failed load (a corrupt shard, out of memory) must not leak what was already uploaded.
      for (const b of buffers) b.destroy();
      throw e;
    }
  }

  private static async upload(
    gpu: GpuContext,
    pack: WeightSource,
    buffers: GPUBuffer[],
    linear: (name: string) => Promise<GpuLinear>,
    vector: (name: string) => Promise<GPUBuffer>,
  ): Promise<GpuModel> {
    const { config, scheme } = pack.manifest;
    const layers: LayerWeights[] = [];
    for (let i = 0; i < config.numLayers; i++) {
      const n = tensorNames.layer(i);
      layers.push({
        attnNorm: await vector(n.attnNorm),
        qkv: await linear(fusedNames.qkv(i)),
        o: await linear(n.o),
        mlpNorm: await vector(n.mlpNorm),
        gateUp: await linear(fusedNames.gateUp(i)),
        down: await linear(n.down),
      });
    }
    const finalNorm = await vector(tensorNames.finalNorm);
    const lmHead = await linear(tensorNames.lmHead);
    const embed = config.tieWordEmbeddings ? lmHead : await linear(tensorNames.embed);
    return new GpuModel(gpu, config, scheme, layers, finalNorm, lmHead, embed, buffers);
  }

  async createSession(opts: SessionOptions = {}): Promise<GpuSession> {
    return GpuSession.create(this, opts);
  }

  destroy(): void {
    for (const b of this.buffers) b.destroy();
  }
}

/**
 * Prompt tokens per prefill step when the caller does not say. 512 where the W4A8 prefill runs on
 * matrix units: a 512-token prompt on the H100 (session 11, bench `--suites prefill`) took
 * Llama-2-7B 3,441 tok/s in 64-token chunks and 12,021 in one, Llama-3.2-1B 10,901 and 50,419 —
 * each chunk reads every weight once and the matrix GEMM's big tiles need long chunks; the
 * activation buffers then hold 512 rows (~80 MB on 7B). 64 elsewhere: CPU adapters and GPUs
 * without matrix units, where a chunk's submission should stay short (not measured there).
 */
export function defaultPrefillChunk(matrixUnits: boolean): number {
  return matrixUnits ? 512 : 64;
}

export interface SessionOptions {
  /** Positions the KV cache holds (default: the model's max, capped at 2048). */
  maxContext?: number;
  /** Prompt tokens per prefill step (default: defaultPrefillChunk()). */
  maxChunk?: number;
  /**
   * KV-cache storage (default: defaultKvCache(); see KvFormat). `int8` halves f16's cache bytes
   * and memory; it needs head_dim % 16 == 0.
   */
  kvCache?: KvFormat;
  /** Kernel choices, for benchmarks and ablations; the defaults are the fast ones. */
  tuning?: KernelTuning;
  /**
   * Decode steps decodeStream keeps submitted beyond the one whose id it is reading (1 … 3,
   * default 1): more hides longer host stalls behind GPU work, and costs that many undone steps
   * when a stream stops early.
   */
  lookahead?: number;
  /**
   * In decodeStream, wait on a timer for most of a step's time after each id before asking for
   * the next (default: on in Node / Dawn, off in browsers). Dawn's Node binding polls for a
   * pending mapAsync by re-arming setImmediate with a new finalizable function each turn, so a
   * readback requested long before the GPU gets there spins a core and fills the heap, and the
   * collections that follow stall the host for tens of milliseconds mid-stream (ReadbackPacer).
   * Prefill chunks are not paced: pacing them measured slower prefill on the H100 (session 8).
   */
  paceReadback?: boolean;
  /** ReadbackPacer's timer slack in ms (default TIMER_SLACK_MS; 0 = session 15's pacer, for the benchmark). */
  paceTimerSlackMs?: number;
  /**
   * Submit a chunk of several tokens in pieces (default: on GPUs, off on CPU adapters, where the
   * "GPU" shares the host's cores): layer 1, then 2, 4, 8 … and the rest, each piece submitted as
   * soon as it is encoded, so the GPU runs the first layers while the host still records the later
   * ones (a whole chunk's encoding and submit otherwise come before any GPU work). false: one
   * submit per chunk (the benchmark's baseline). Steps timed with timestamps keep one pass either
   * way.
   */
  prefillPieces?: boolean;
}

/**
 * Per-step timing of decode steps (GpuSession.stepTrace): GPU begin/end timestamps of each step's
 * pass in `queries` (pairs used: `next`), and host times (performance.now() ms) of each step's
 * encode start, submit call, return from submit, readback request (mapAsync) and id read back —
 * enough to put both clocks on one line (bench/stream-timeline.ts).
 */
export interface StepTrace {
  queries: TimestampQueries;
  next: number;
  encoded: number[];
  submitting: number[];
  submitted: number[];
  mapRequested: number[];
  read: number[];
}

/** Names of the intervals between GpuSession.hostPhases' times, in order. */
export const STEP_PHASES = [
  'writeBuffer',
  'encoder',
  'begin pass',
  'record',
  'end pass',
  'finish',
  'submit',
] as const;

/** Largest SessionOptions.lookahead: a readback slot per step in flight. */
const LOOKAHEAD_MAX = 3;

/**
 * The KV cache a session gets unless it asks: exact (f32) for the f32/f16 reference packs, f16
 * for quantized packs. int8 (half f16's bytes and memory) stays opt-in: on the H100 it made the
 * whole decode step slower, not faster (7B W4A8 GPU step 2,767 vs 2,694 µs at 128 keys and 3,345
 * vs 3,246 at 2,048; 1B 909 vs 891 and 1,072 vs 1,051; docs/benchmarks.md session 7 — int8 was
 * measured with a widening since reverted that cost its attention 0.2–0.7 µs per layer, less than
 * the gap), although its attention kernel alone is faster at 2,048 keys.
 */
export function defaultKvCache(scheme: string): KvFormat {
  return scheme === 'f32' || scheme === 'f16' ? 'f32' : 'f16';
}

/** Largest token block of the prefill matmuls: activation buffers hold whole blocks. */
const PREFILL_TOKEN_BLOCK_MAX = 8;

/**
 * Token block of the prefill matmuls on software adapters (lavapipe, SwiftShader): their shader
 * compilers take ~5× longer on the 8-token kernels, which a user waits for at the first prompt
 * (cold Mesa cache, tinystories W4A16: 13.0 s more for 8 tokens, 2.2 s for 2), while on a CPU a
 * block of 8 saves little. GPUs use 8.
 */
const SOFTWARE_TOKEN_BLOCK = 2;

export interface KernelTuning {
  /**
   * W4A8: each matmul normalizes/quantizes its f32 input in its own prologue (default true)
   * instead of a separate RMSNorm/quantize dispatch before it.
   */
  fuseActivations?: boolean;
  /**
   * Invocations per row of the fused matmuls whose prologue normalizes (qkv, and gate_up unless
   * `gateUp` is set; default 8: tall workgroups amortize the prologue; gate_up's own default is
   * below) and of those that only quantize (o, down; default 16; W4A16 / 2-4-16 o and down, which
   * stage 16-bit activations, use it too).
   */
  fusedThreadsPerRow?: {
    norm?: number;
    quantize?: number;
    /** gate_up alone (default: `norm` if set, else 4 for W4A8 at hidden ≥ 4,096, else 8). */
    gateUp?: number;
  };
  /**
   * Invocations per row of the prefill token-block matmuls (default 4; W4A16 / 2/4/16 double it
   * where the tile's group table would not fit in workgroup memory, see x16BlocksFit()).
   */
  prefillThreadsPerRow?: number;
  /** Tokens per workgroup of the prefill token-block matmuls (1 … 8; default 8, 2 on software adapters). */
  prefillTokenBlock?: number;
  /**
   * W4A16 / 2/4/16 prefill (default true, with int16Activations): a quantizer dispatch before each
   * matmul writes the chunk's 16-bit activations once (rmsnorm.wgsl, X16_OUT) and the matmuls
   * apply each weight chunk to a block of prefillTokenBlock tokens; false: prefill runs the decode
   * kernels with one token per workgroup, each staging its own row (the benchmark's baseline).
   */
  int16PrefillBlocks?: boolean;
  /**
   * W4A8 prefill matmuls on matrix units (subgroup-matrix, i8) where the adapter offers them
   * (default true); false keeps the dp4a token-block GEMV (the baseline).
   */
  prefillMatrixUnits?: boolean;
  /** Attention over a chunk of several tokens (default `auto`: on GPUs the subgroup kernel where it runs, else the tiled kernel where it fits). */
  prefillAttention?: PrefillAttention;
  /** Invocations per workgroup of the tiled prefill attention: 256 (default) or 128 (only where the tiled kernel runs: `prefillAttention: 'tiled'` on GPUs). */
  prefillAttentionThreads?: PrefillThreads;
  /** K tile of the matrix-unit prefill GEMM: 64 or 128 (default: `auto`'s choice per matmul). */
  prefillMatrixKTile?: number;
  /** Subgroup grid of the matrix-unit prefill GEMM (default `auto`: autoMatrixTiles per matmul). */
  prefillMatrixGrid?: MatrixGridChoice;
  /** The matrix GEMM's lane-rotated staging stores (MatrixGemmOptions.stageRotate; default false). */
  prefillMatrixStageRotate?: boolean;
  /**
   * W4A16 and 2/4/16 (default true): the matmuls stage their f32 input as 16-bit fixed point
   * (hi/lo int8) and multiply with dot4I8Packed (GemvOptions.int16Activations), qkv and gate_up
   * with the RMSNorm fused into that prologue (with fuseActivations); false: the f32 kernels and
   * separate RMSNorm dispatches (the benchmark's baseline).
   */
  int16Activations?: boolean;
  /**
   * W4A8 decode matmuls (fused): the tile's scales staged in workgroup memory behind a barrier
   * (true) or each row's scale read by its own invocations (false; GemvOptions.scalesInShared).
   * Default: false for per-channel scales — one value per row, read once after the row sum, so the
   * staged table only adds a barrier (H100, session 20: Llama-2-7B GPU step 2,378 / 2,367 vs
   * 2,549 / 2,556 µs, Llama-3.2-1B 854 / 859 vs 895 / 902) — and true for group scales, read
   * in the loop, where the papers stage them (not measured here).
   */
  matmulScalesInShared?: boolean;
  /**
   * 2/4/16 matmuls staging their own rows, one token per workgroup — every decode matmul,
   * lm_head (prefill's last token too), and prefill's without int16PrefillBlocks; the token
   * blocks stay 16-bit: the levels of their activations, 16 (default, the papers' design) or 8
   * (GemvOptions.stagedActivationBits: int8 like W4A8's, half the dot products; H100, Llama-2-7B
   * GPU step −12%, session 21). `pagelm quality --activations int8` scores its numerics. Other
   * schemes, and matmuls that do not stage (int16Activations false, rows past workgroup memory),
   * ignore it.
   */
  w2DecodeActivationBits?: 8 | 16;
  /**
   * Those 2/4/16 matmuls: 16-bit schedule entries (GemvOptions.schedule16, half the schedule's
   * workgroup memory). Default: GemvOptions' (where they let more tiles fit an SM).
   */
  w2Schedule16?: boolean;
  /**
   * Those 2/4/16 matmuls with the norm fused: the norm weights loaded after the sum of squares
   * (GemvOptions.normWeightsLate). Default: GemvOptions' (on for 2/4/16).
   */
  w2NormWeightsLate?: boolean;
  /**
   * Single-token attention (default `auto`: on GPUs the one-dispatch `decode` kernel while one
   * 256-key split holds the context and the 32-key `partial` kernel + merge beyond; see
   * DecodeAttention for the rest).
   */
  decodeAttention?: DecodeAttention;
  /** The merge of split attention outputs (AttentionOptions.merge; default `auto`). */
  attentionMerge?: AttentionMerge;
  /** The split attention kernel's K loads before q's staging (AttentionOptions.kFirst; default true). */
  attentionKFirst?: boolean;
  /** The split attention kernel's V loads before the softmax (AttentionOptions.vAfterDots; default on GPUs). */
  attentionVAfterDots?: boolean;
  /** Keys per workgroup of the single-token split kernel past 256 keys (AttentionOptions.decodeSplit; default 32, the fastest measured). */
  attentionDecodeSplit?: number;
  /**
   * Weight chunks each invocation of a single-token matmul loads per step (1 … 16; default 4,
   * GemvOptions.unroll's: 8 measured the same on the H200 and 16 slower; 1 on software
   * adapters). Prefill token blocks keep GemvOptions' default.
   */
  matmulUnroll?: number;
}

/** One conversation's state on the GPU: KV cache, activations, and the prepared kernels. */
export class GpuSession {
  /** Tokens in the KV cache. */
  position = 0;
  /** Host time spent encoding and submitting steps (ms) and the number of steps: for the benchmark. */
  readonly hostStats = { encodeMs: 0, submitMs: 0, steps: 0 };
  /**
   * Diagnostic (benchmarks): while set, every step's pass writes its GPU begin/end timestamps into
   * the next pair and its host submit / id-read times are appended (performance.now() ms).
   */
  stepTrace: StepTrace | null = null;
  /**
   * Diagnostic (benchmarks): while set, every step appends its host times (performance.now() ms)
   * at the step's phases: start, after writeBuffer, after createCommandEncoder, after
   * beginComputePass, after recording the dispatches, before finish(), after finish(), after
   * submit() (STEP_PHASES).
   */
  hostPhases: number[][] | null = null;
  /**
   * Diagnostic (benchmarks), with hostPhases: called at a step's start and after its submit, its
   * numbers appended to the step's hostPhases entry (the bench reads the main thread's scheduler
   * statistics here, to tell a call that computes from one that waits).
   */
  hostProbe: (() => number[]) | null = null;
  /**
   * Diagnostic (benchmarks): while set, every read step appends [submitted, map requested, id
   * read] (performance.now() ms) when its id arrives — in step order, since reads complete in
   * order. Two clock reads per step: cheap enough for timed runs, to find which wait a stall
   * between steps stretched (the pacer's sleep, or the map).
   */
  hostReads: number[][] | null = null;
  private slot = 0;
  /** Whether a chunk of several tokens is submitted in pieces (SessionOptions.prefillPieces). */
  private prefillPieces = false;
  /** Whether decodeStream paces its readbacks (SessionOptions.paceReadback). */
  private paced = false;
  private paceTimerSlackMs: number | undefined;
  private readonly owned: GPUBuffer[] = [];
  private readonly kernels: Encodable[] = [];
  /** The step uniform's words (position, tokens), reused by every step. */
  private readonly stepWords = new Uint32Array(2);
  /** The decode step, made on first use (decodeSteps). */
  private decodeProgram?: ((pass: GPUComputePassEncoder) => void)[];

  private constructor(
    readonly model: GpuModel,
    readonly maxContext: number,
    readonly maxChunk: number,
    /** How this session's KV cache stores keys and values. */
    readonly kvCache: KvFormat,
    private readonly step: GPUBuffer,
    private readonly ids: GPUBuffer,
    private readonly history: GPUBuffer,
    /** Readback slots for the sampled id, one per step that can be in flight (lookahead + 1). */
    private readonly idOut: GPUBuffer[],
    readonly logits: GPUBuffer,
    private readonly plan: StepPlan,
  ) {}

  /** Decode steps decodeStream keeps submitted beyond the one being read (SessionOptions). */
  get lookahead(): number {
    return this.idOut.length - 1;
  }

  static async create(model: GpuModel, opts: SessionOptions): Promise<GpuSession> {
    const { gpu, config: c } = model;
    const { device } = gpu;
    const maxContext = Math.min(
      opts.maxContext ?? Math.min(c.maxPositionEmbeddings, 2048),
      c.maxPositionEmbeddings,
    );
    const int8 = model.scheme === 'w4a8';
    // W4A8 prefill on matrix units where the adapter offers them (blocks of 32–128 tokens).
    const matrix = int8 && (opts.tuning?.prefillMatrixUnits ?? true) && matrixUnitsAvailable(gpu);
    const maxChunk = Math.max(1, Math.min(opts.maxChunk ?? defaultPrefillChunk(matrix), maxContext));
    const kv: KvFormat = opts.kvCache ?? defaultKvCache(model.scheme);
    if (kv === 'int8' && !kvInt8Fits(c.headDim)) {
      throw new Error(`an int8 KV cache needs head_dim a multiple of 16; this model's is ${c.headDim}`);
    }
    // W4A16 / 2/4/16 prefill in token blocks on 16-bit activations quantized once per chunk.
    // Rows longer than a block kernel takes at any threads per row (2/4/16: K > 16,384, its
    // schedule's limit) prefill per token instead, every layer alike.
    const x16Blocks =
      (model.scheme === 'w4a16' || model.scheme === 'w2-4-16') &&
      (opts.tuning?.int16Activations ?? true) &&
      (opts.tuning?.int16PrefillBlocks ?? true) &&
      [c.hiddenSize, c.numHeads * c.headDim, c.intermediateSize].every((K) =>
        x16BlocksTakeRows(gpu, model.scheme, K),
      );
    const owned: GPUBuffer[] = [];
    const buf = (bytes: number, label: string, usage = STORAGE) => {
      const b = device.createBuffer({ size: Math.max(16, roundUp(bytes, 16)), usage, label });
      owned.push(b);
      return b;
    };
    const D = c.headDim;
    const qDim = c.numHeads * D;
    const kvDim = c.numKvHeads * D;
    const H = roundUp(c.hiddenSize, ACT_ALIGN);
    const A = roundUp(qDim, ACT_ALIGN);
    const I = roundUp(c.intermediateSize, ACT_ALIGN);
    // Activation rows: whole prefill token blocks (the W4A8 prefill GEMV writes 8 tokens at a
    // time, the matrix GEMM up to 128).
    const T = roundUp(maxChunk, matrix ? MATRIX_GEMM_TOKENS : PREFILL_TOKEN_BLOCK_MAX);

    const step = buf(16, 'step', GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
    const ids = buf(T * 4, 'ids');
    const history = buf((maxContext + 1) * 4, 'history');
    const lookahead = opts.lookahead ?? 1;
    if (!Number.isInteger(lookahead) || lookahead < 1 || lookahead > LOOKAHEAD_MAX) {
      throw new Error(`lookahead must be an integer from 1 to ${LOOKAHEAD_MAX}; got ${lookahead}`);
    }
    const idOut = Array.from({ length: lookahead + 1 }, (_, i) =>
      buf(4, `id-readback-${i}`, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST),
    );
    const x = buf(T * H * 4, 'x');
    const qkv = buf(T * (qDim + 2 * kvDim) * 4, 'qkv');
    const q = buf(T * qDim * 4, 'q');
    const attn = buf(T * A * 4, 'attn');
    const h = buf(T * I * 4, 'mlp');
    const logits = buf(c.vocabSize * 4, 'logits');
    // Normalized / quantized inputs of the matmuls: f32 rows, or int8 rows + per-token scale.
    const act = (len: number, label: string): Activations =>
      int8
        ? { kind: 'int8', q: buf(T * len, `${label}-q`), scale: buf(T * 4, `${label}-s`), stride: len }
        : { kind: 'f32', x: buf(T * len * 4, `${label}-f32`), stride: len };
    const xn = act(H, 'xn');
    const attnIn = int8 ? act(A, 'attn-in') : ({ kind: 'f32', x: attn, stride: A } as Activations);
    const hIn = int8 ? act(I, 'mlp-in') : ({ kind: 'f32', x: h, stride: I } as Activations);
    // 16-bit split rows (x16), the W4A16 / 2/4/16 prefill matmuls' input.
    const act16 = (len: number, label: string): Activations => {
      const bytes = x16Bytes(len);
      return {
        kind: 'x16',
        q: buf(T * bytes.q, `${label}-q16`),
        sum: buf(T * bytes.sum, `${label}-sum`),
        scale: buf(T * bytes.scale, `${label}-s`),
        stride: len,
        transposed: model.scheme === 'w2-4-16',
      };
    };
    // The inputs of the prefill layers' matmuls where they differ from decode's.
    const prefillIn = x16Blocks
      ? { xn: act16(H, 'xn'), attnIn: act16(A, 'attn-in'), hIn: act16(I, 'mlp-in') }
      : null;
    const normOut = (a: Activations) =>
      a.kind === 'int8'
        ? { q: a.q, scale: a.scale }
        : a.kind === 'x16'
          ? { q16: a.q, sum: a.sum, scale: a.scale, transposed: a.transposed }
          : { f32: a.x };

    // RoPE table: cos/sin of f32 angles, exactly as the reference computes them.
    const invFreq = ropeInvFreq(c);
    const half = D / 2;
    const cs = new Float32Array(maxContext * half * 2);
    for (let p = 0; p < maxContext; p++) {
      for (let i = 0; i < half; i++) {
        const angle = Math.fround(p * invFreq[i]);
        cs[2 * (p * half + i)] = Math.cos(angle);
        cs[2 * (p * half + i) + 1] = Math.sin(angle);
      }
    }
    const cosSin = uploadBuffer(device, cs, 'rope-cos-sin');
    owned.push(cosSin);

    const kernels: Encodable[] = [];
    const keep = <K extends Encodable>(k: K): K => {
      kernels.push(k);
      return k;
    };
    const shape = { numHeads: c.numHeads, numKvHeads: c.numKvHeads, headDim: D, maxPos: maxContext, kv };
    const kvBytes = kvCacheBytes(shape);

    const tpr = opts.tuning?.fusedThreadsPerRow;
    const normTpr = tpr?.norm ?? 8;
    // gate_up: its own setting, else `norm`'s if set, else 4 for W4A8 rows of ≥ 4,096 features
    // (64 rows per workgroup, so half as many workgroups re-stage the normalized row: H100,
    // Llama-2-7B GPU step 2,551 vs 2,668 µs; at Llama-3.2-1B's 2,048 it was 898 vs 892, session
    // 12), else 8 as qkv.
    const gateUpTpr = tpr?.gateUp ?? tpr?.norm ?? (int8 && c.hiddenSize >= 4096 ? 4 : 8);
    const quantTpr = tpr?.quantize ?? 16;
    const int16 = { int16Activations: opts.tuning?.int16Activations ?? true };
    const decodeUnroll = { unroll: opts.tuning?.matmulUnroll };
    // 2/4/16 matmuls staging their own rows at `tpr` (one token per workgroup: every decode
    // matmul, lm_head, and prefill's without token blocks): their activation levels.
    const w2Bits = (lin: GpuLinear, tpr: number) =>
      lin.scheme === 'w2-4-16' && int16.int16Activations && canStageInt16(gpu, lin.scheme, lin.K, tpr)
        ? {
            stagedActivationBits: opts.tuning?.w2DecodeActivationBits,
            schedule16: opts.tuning?.w2Schedule16,
            normWeightsLate: opts.tuning?.w2NormWeightsLate,
          }
        : {};
    const fuse = (lin: GpuLinear, tpr: number) =>
      (opts.tuning?.fuseActivations ?? true) &&
      (int8
        ? canStageActivations(gpu, lin.K, tpr, lin.groupSize)
        : int16.int16Activations && canStageInt16(gpu, lin.scheme, lin.K, tpr));
    const f32In = (b: GPUBuffer, stride: number): Activations => ({ kind: 'f32', x: b, stride });
    const qkvStride = qDim + 2 * kvDim;
    const layers: LayerPlan[] = [];
    const prefillLayers: LayerPlan[] = [];
    // Prefill (W4A8; W4A16 / 2/4/16 with int16PrefillBlocks): int8 (16-bit split) activations
    // from separate norm/quantize dispatches, and matmuls that apply each weight chunk to a block
    // of tokens; decode: the fused single-token matmuls.
    // Few invocations per row: a warp then spans several rows that read the same activation
    // chunk (one broadcast load) and each invocation does more work per epilogue.
    const block = {
      tokensPerWorkgroup: opts.tuning?.prefillTokenBlock ?? (gpu.caps.software ? SOFTWARE_TOKEN_BLOCK : 8),
      threadsPerRow: opts.tuning?.prefillThreadsPerRow ?? 4,
      matrixUnits: matrix,
      matrixKTile: opts.tuning?.prefillMatrixKTile,
      matrixGrid: opts.tuning?.prefillMatrixGrid,
      matrixTokens: maxChunk,
      matrixStageRotate: opts.tuning?.prefillMatrixStageRotate,
    };
    const makeLayer = async (
      i: number,
      kc: GPUBuffer,
      vc: GPUBuffer,
      shared: Pick<LayerPlan, 'rope' | 'attention'> | null,
      prefill: boolean,
    ): Promise<LayerPlan> => {
      const w = model.layers[i];
      const ins = prefill && prefillIn ? prefillIn : { xn, attnIn, hIn };
      // W4A8 with fusion: the matmuls read the f32 residual / attention output / MLP hidden and
      // normalize + quantize it in their prologue; otherwise a norm/quantize dispatch precedes each.
      const fusedAttn = !prefill && fuse(w.qkv, normTpr);
      // W4A16 / 2/4/16: the RMSNorm folds into qkv / gate_up's 16-bit staging (decode and prefill
      // alike: each workgroup stages its own token); o / down have no quantize dispatch to save.
      const fusedO = int8 && !prefill && fuse(w.o, quantTpr);
      const fusedMlp = !prefill && fuse(w.gateUp, gateUpTpr);
      const fusedDown = int8 && !prefill && fuse(w.down, quantTpr);
      // Prefill token blocks; W4A16 / 2/4/16 at the fewest invocations per row (from W4A8's 4)
      // whose group table fits in workgroup memory.
      const blocked = (lin: GpuLinear) => {
        if (!prefill) return { ...decodeUnroll, ...w2Bits(lin, GEMV_THREADS_PER_ROW) };
        if (int8) return block;
        const threadsPerRow = fitThreadsPerRow(block.threadsPerRow, (t) =>
          x16BlocksFit(gpu, lin.scheme, lin.K, t),
        );
        return { ...block, threadsPerRow };
      };
      // W4A16 / 2/4/16 decode, o and down (16-bit staging, no norm): 16 threads per row, as the
      // quantize-only W4A8 matmuls (gemv suite on the H200, 2/4/16 7B: o 9.6 vs 13.2 µs, down
      // 26.0 vs 33.4 at 16 vs 32).
      const x16Rows = (lin: GpuLinear) =>
        !int8 && !prefill && int16.int16Activations && canStageInt16(gpu, lin.scheme, lin.K, quantTpr)
          ? { threadsPerRow: quantTpr, ...w2Bits(lin, quantTpr) }
          : {};
      const quantize = async (from: GPUBuffer, to: Activations, k: number) =>
        to.kind !== 'f32'
          ? keep(
              await rmsNormKernel(gpu, {
                tokens: T,
                k,
                stride: to.stride,
                eps: 0,
                x: from,
                weight: null,
                out: normOut(to),
              }),
            )
          : null;
      const norm = async (weight: GPUBuffer) =>
        keep(
          await rmsNormKernel(gpu, {
            tokens: T,
            k: c.hiddenSize,
            stride: H,
            eps: c.rmsNormEps,
            x,
            weight,
            out: normOut(ins.xn),
          }),
        );
      const fusedOpts = (
        lin: GpuLinear,
        weight?: GPUBuffer,
        threadsPerRow = weight ? normTpr : quantTpr,
      ) => ({
        ...int16,
        ...decodeUnroll,
        // W4A8: where the scales are read; 2/4/16 (whose staging schedules by the staged table):
        // its activation levels.
        ...(int8
          ? { scalesInShared: opts.tuning?.matmulScalesInShared ?? lin.groupSize < lin.K }
          : w2Bits(lin, threadsPerRow)),
        threadsPerRow,
        norm: weight ? { weight, eps: c.rmsNormEps } : undefined,
      });
      return {
        attnNorm: fusedAttn ? null : await norm(w.attnNorm),
        qkv: keep(
          fusedAttn
            ? await gemv(gpu, w.qkv, f32In(x, H), qkv, fusedOpts(w.qkv, w.attnNorm))
            : await gemv(gpu, w.qkv, ins.xn, qkv, { ...int16, ...blocked(w.qkv) }),
        ),
        rope:
          shared?.rope ??
          keep(
            await ropeKernel(gpu, shape, {
              qkv,
              qkvStride,
              cosSin,
              qOut: q,
              qStride: qDim,
              k: kc,
              v: vc,
              step,
            }),
          ),
        attention:
          shared?.attention ??
          keep(
            await attentionKernel(
              gpu,
              shape,
              { q, qStride: qDim, k: kc, v: vc, out: attn, outStride: A, step, qkv, qkvStride, cosSin },
              T,
              {
                decode: opts.tuning?.decodeAttention,
                prefill: opts.tuning?.prefillAttention,
                prefillThreads: opts.tuning?.prefillAttentionThreads,
                merge: opts.tuning?.attentionMerge,
                kFirst: opts.tuning?.attentionKFirst,
                vAfterDots: opts.tuning?.attentionVAfterDots,
                decodeSplit: opts.tuning?.attentionDecodeSplit,
              },
            ),
          ),
        attnQuant: fusedO ? null : await quantize(attn, ins.attnIn, qDim),
        o: keep(
          await gemv(gpu, w.o, fusedO ? f32In(attn, A) : ins.attnIn, x, {
            ...int16,
            accumulate: true,
            yStride: H,
            ...(fusedO ? fusedOpts(w.o) : { ...blocked(w.o), ...x16Rows(w.o) }),
          }),
        ),
        mlpNorm: fusedMlp ? null : await norm(w.mlpNorm),
        gateUp: keep(
          await gemv(gpu, w.gateUp, fusedMlp ? f32In(x, H) : ins.xn, h, {
            ...int16,
            gated: true,
            yStride: I,
            ...(fusedMlp ? fusedOpts(w.gateUp, w.mlpNorm, gateUpTpr) : blocked(w.gateUp)),
          }),
        ),
        mlpQuant: fusedDown ? null : await quantize(h, ins.hIn, c.intermediateSize),
        down: keep(
          await gemv(gpu, w.down, fusedDown ? f32In(h, I) : ins.hIn, x, {
            ...int16,
            accumulate: true,
            yStride: H,
            ...(fusedDown ? fusedOpts(w.down) : { ...blocked(w.down), ...x16Rows(w.down) }),
          }),
        ),
      };
    };
    for (let i = 0; i < c.numLayers; i++) {
      const kc = buf(kvBytes, `k-cache-${i}`);
      const vc = buf(kvBytes, `v-cache-${i}`);
      const decodeLayer = await makeLayer(i, kc, vc, null, false);
      layers.push(decodeLayer);
      prefillLayers.push(int8 || x16Blocks ? await makeLayer(i, kc, vc, decodeLayer, true) : decodeLayer);
    }
    const embed = keep(await embedKernel(gpu, model.embed, ids, x, H));
    // Final norm of the chunk's last token only (a bind group per chunk length: the row offset).
    const lastIn: Activations = int8
      ? { kind: 'int8', q: buf(H, 'last-q'), scale: buf(4, 'last-s'), stride: H }
      : { kind: 'f32', x: buf(H * 4, 'last-f32'), stride: H };
    const finalNorms = new Map<number, Encodable>();
    const preparing = new Map<number, Promise<void>>();
    const prepareFinalNorm = async (tokens: number) => {
      finalNorms.set(
        tokens,
        keep(
          await rmsNormKernel(gpu, {
            tokens: 1,
            k: c.hiddenSize,
            stride: H,
            eps: c.rmsNormEps,
            x,
            xOffset: (tokens - 1) * H * 4,
            weight: model.finalNorm,
            out: normOut(lastIn),
          }),
        ),
      );
    };
    const ensureFinalNorm = (tokens: number): Promise<void> => {
      let p = preparing.get(tokens);
      if (!p) {
        p = prepareFinalNorm(tokens);
        preparing.set(tokens, p);
      }
      return p;
    };
    const finalNorm = (tokens: number) => {
      const k = finalNorms.get(tokens);
      if (!k) throw new Error(`internal: final norm for ${tokens} tokens was not prepared`);
      return k;
    };
    await ensureFinalNorm(1);
    const lmHead = keep(
      await gemv(gpu, model.lmHead, lastIn, logits, {
        ...int16,
        ...decodeUnroll,
        ...w2Bits(model.lmHead, GEMV_THREADS_PER_ROW),
      }),
    );
    const sample = keep(await samplerKernel(gpu, { logits, vocab: c.vocabSize, ids, history, step }));
    const plan: StepPlan = { embed, layers, prefillLayers, ensureFinalNorm, finalNorm, lmHead, sample };
    const session = new GpuSession(model, maxContext, maxChunk, kv, step, ids, history, idOut, logits, plan);
    session.paced = opts.paceReadback ?? gpu.caps.runtime === 'node-dawn';
    session.paceTimerSlackMs = opts.paceTimerSlackMs;
    session.prefillPieces = opts.prefillPieces ?? !gpu.caps.software;
    session.owned.push(...owned);
    session.kernels.push(...kernels);
    return session;
  }

  /** Sampling for the following steps (temperature ≤ 0 or omitted: greedy) and its seed. */
  setSampling(params: SamplingParams, seed = 0): void {
    this.plan.sample.setParams(params);
    this.plan.sample.setSeed(seed);
  }

  /**
   * Appends `tokens` (prompt ids) to the sequence and returns the next id, sampled on the GPU.
   * Prompts longer than maxChunk run as several steps, submitted back to back: only the last
   * step's id is read back (the queue orders each chunk's id upload after the previous step), so
   * the GPU does not idle through a readback and the next chunk's encoding between chunks.
   */
  async prefill(tokens: number[]): Promise<number> {
    if (tokens.length === 0) throw new Error('prefill: no tokens');
    const { queue } = this.model.gpu.device;
    let next = -1;
    for (let i = 0; i < tokens.length; i += this.maxChunk) {
      const chunk = new Uint32Array(tokens.slice(i, i + this.maxChunk));
      queue.writeBuffer(this.ids, 0, chunk);
      // The history feeds the repetition penalty: prompt ids count as previous ids.
      if (this.position + chunk.length <= this.maxContext)
        queue.writeBuffer(this.history, this.position * 4, chunk);
      const last = i + this.maxChunk >= tokens.length;
      next = await this.run(chunk.length, { read: last });
    }
    return next;
  }

  /** One decode step on the id sampled by the previous step (already on the GPU). */
  async decode(): Promise<number> {
    return this.run(1);
  }

  /** The logits of the last token of the last step (for tests and `pagelm run --logits`). */
  async readLogits(): Promise<Float32Array> {
    return readF32(this.model.gpu.device, this.logits, this.model.config.vocabSize);
  }

  reset(): void {
    this.position = 0;
  }

  /**
   * Keeps the first `position` tokens of the KV cache and forgets the rest, so a conversation that
   * extends an earlier one re-uses its cache: rewind to the common prefix, then prefill the new
   * tokens. (Later positions are simply overwritten.)
   */
  rewind(position: number): void {
    if (!Number.isInteger(position) || position < 0 || position > this.position) {
      throw new Error(`rewind: position ${position} is outside 0 … ${this.position}`);
    }
    this.position = position;
  }

  /**
   * The step's kernels in order, each with its family name (for profiling) and whether its
   * recording changes from step to step (attention's split count follows the position; the
   * sampler counts its random draws): encoding them into one pass is the step.
   */
  private stepKernels(tokens: number): StepKernel[] {
    const p = this.plan;
    const finalNorm = p.finalNorm(tokens);
    const list: StepKernel[] = [['embed', (q) => p.embed.encode(q, tokens)]];
    const add = (family: string, k: Encodable | null) => {
      if (k) list.push([family, (q) => k.encode(q, tokens)]);
    };
    for (const l of tokens === 1 ? p.layers : p.prefillLayers) {
      add('rmsnorm', l.attnNorm);
      add('gemv qkv', l.qkv);
      // A single token's RoPE and cache write happen inside attention (attentionKernel).
      if (tokens > 1) add('rope', l.rope);
      list.push(['attention', (q) => l.attention.encodeAt(q, tokens, this.position + tokens - 1), true]);
      add('quantize', l.attnQuant);
      add('gemv o', l.o);
      add('rmsnorm', l.mlpNorm);
      add('gemv gate_up', l.gateUp);
      add('quantize', l.mlpQuant);
      add('gemv down', l.down);
      list[list.length - 1][3] = true;
    }
    list.push(['rmsnorm', (q) => finalNorm.encode(q, 1)]);
    list.push(['gemv lm_head', (q) => p.lmHead.encode(q, 1)]);
    list.push(['sample', (q) => p.sample.encode(q), true]);
    return list;
  }

  /**
   * The decode step as made once per session: runs of fixed kernels captured as DispatchLists
   * (replayed without per-step closures or arrays), the position-dependent ones called as they are.
   */
  private decodeSteps(): ((pass: GPUComputePassEncoder) => void)[] {
    if (this.decodeProgram) return this.decodeProgram;
    const program: ((pass: GPUComputePassEncoder) => void)[] = [];
    let run: ((pass: GPUComputePassEncoder) => void)[] = [];
    const flush = () => {
      if (run.length === 0) return;
      const fixed = run;
      const list = DispatchList.capture((pass) => {
        for (const record of fixed) record(pass);
      });
      program.push((pass) => list.replay(pass));
      run = [];
    };
    for (const [, record, changing] of this.stepKernels(1)) {
      if (changing) {
        flush();
        program.push(record);
      } else run.push(record);
    }
    flush();
    this.decodeProgram = program;
    return program;
  }

  /**
   * GPU seconds of one ordinary decode step (a single compute pass bracketed by timestamps), to
   * tell GPU time from host overhead in the benchmark. Advances the session like decode().
   */
  async timedDecode(): Promise<number> {
    return this.timedStep(1);
  }

  /**
   * timedDecode for a step of `tokens` tokens (a prefill chunk of whatever ids the ids buffer
   * holds — for benchmarks). Advances the session.
   */
  async timedStep(tokens: number): Promise<number> {
    if (tokens > this.maxChunk)
      throw new Error(`timedStep: ${tokens} tokens exceed the chunk of ${this.maxChunk}`);
    const timing = new TimestampQueries(this.model.gpu.device, 1);
    await this.run(tokens, { timing });
    const [seconds] = await timing.seconds();
    timing.destroy();
    return seconds;
  }

  /**
   * Encodes and submits a step, then (after `readAfter`, if given) reads its sampled id back;
   * with `read: false` (a prefill chunk before the last) returns -1 once submitted.
   */
  private async run(
    tokens: number,
    opts: { timing?: TimestampQueries; readAfter?: Promise<void>; read?: boolean } = {},
  ): Promise<number> {
    const { timing, readAfter, read = true } = opts;
    const { device } = this.model.gpu;
    await this.plan.ensureFinalNorm(tokens);
    if (this.position + tokens > this.maxContext) {
      throw new Error(
        `context full: ${this.position} + ${tokens} tokens exceed the session's ${this.maxContext}`,
      );
    }
    // From here to the submit nothing awaits: concurrent steps (decodeStream) are encoded and
    // submitted in call order, each with its own position.
    const phases = this.hostPhases;
    const probe = phases && this.hostProbe ? this.hostProbe() : null;
    const t0 = performance.now();
    this.stepWords[0] = this.position;
    this.stepWords[1] = tokens;
    device.queue.writeBuffer(this.step, 0, this.stepWords);
    const tWritten = phases ? performance.now() : 0;
    const label = `step@${this.position}+${tokens}`;
    let enc = device.createCommandEncoder({ label });
    const tEncoder = phases ? performance.now() : 0;
    // The stream trace pairs every traced submit with its read: steps not read are left out.
    const trace = timing || !read ? null : this.stepTrace;
    const traced = trace && trace.next < trace.queries.pairs ? trace.queries.pass(trace.next++) : undefined;
    const timestampWrites = timing ? timing.pass(0) : traced;
    let pass = enc.beginComputePass(timestampWrites ? { timestampWrites } : undefined);
    const tBegun = phases ? performance.now() : 0;
    // finish() + submit() of the pieces before the last (hostStats counts them as submit time).
    let piecesSubmitMs = 0;
    if (tokens === 1) for (const record of this.decodeSteps()) record(pass);
    else {
      // In pieces (SessionOptions.prefillPieces): submitted after layers 1, 2, 4, 8 …, so the
      // GPU starts on the first layers while the rest is encoded; later pieces are longer because
      // by then the GPU has work queued. A timestamped step stays one pass.
      const pieces = this.prefillPieces && !timestampWrites;
      const layers = this.model.config.numLayers;
      let done = 0;
      let cut = 1;
      for (const [, record, , layerEnd] of this.stepKernels(tokens)) {
        record(pass);
        if (!pieces || !layerEnd) continue;
        done++;
        // The last layer's piece goes with the final norm, lm_head and sampler below.
        if (done !== cut || done === layers) continue;
        pass.end();
        const s0 = performance.now();
        device.queue.submit([enc.finish()]);
        piecesSubmitMs += performance.now() - s0;
        enc = device.createCommandEncoder({ label: `${label} after layer ${done}` });
        pass = enc.beginComputePass();
        cut *= 2;
      }
    }
    const tRecorded = phases ? performance.now() : 0;
    pass.end();
    timing?.resolve(enc);
    const out = read ? this.idOut[this.slot] : null;
    if (out) {
      this.slot = (this.slot + 1) % this.idOut.length;
      enc.copyBufferToBuffer(this.ids, 0, out, 0, 4);
    }
    const t1 = performance.now();
    const commands = enc.finish();
    const tFinished = phases || trace ? performance.now() : 0;
    device.queue.submit([commands]);
    this.position += tokens;
    const t2 = performance.now();
    if (phases) {
      const times = [t0, tWritten, tEncoder, tBegun, tRecorded, t1, tFinished, t2];
      phases.push(probe && this.hostProbe ? [...times, ...probe, ...this.hostProbe()] : times);
    }
    this.hostStats.encodeMs += t1 - t0 - piecesSubmitMs;
    this.hostStats.submitMs += t2 - t1 + piecesSubmitMs;
    this.hostStats.steps += 1;
    if (trace) {
      trace.encoded.push(t0);
      trace.submitting.push(tFinished);
      trace.submitted.push(t2);
    }
    if (!out) return -1;
    const reads = this.hostReads;
    if (readAfter) await readAfter;
    const tRequested = trace || reads ? performance.now() : 0;
    trace?.mapRequested.push(tRequested);
    await out.mapAsync(GPUMapMode.READ);
    const id = new Uint32Array(out.getMappedRange(0, 4))[0];
    out.unmap();
    const tRead = trace || reads ? performance.now() : 0;
    trace?.read.push(tRead);
    reads?.push([t2, tRequested, tRead]);
    return id;
  }

  /**
   * Up to `maxSteps` decode steps, pipelined: `lookahead` further steps (whose input ids are
   * already on the GPU) stay submitted while step k's id is read back, so the host's encoding and
   * readback latency overlap GPU work instead of adding to it; the next step is submitted as soon
   * as an id arrives, before `onToken` runs. `onToken` gets each id in order and returns false to
   * stop; the speculative steps already in flight are then undone (rewind), leaving the session
   * exactly as after the same number of decode() calls. In Node the readbacks are paced
   * (SessionOptions.paceReadback).
   */
  async decodeStream(maxSteps: number, onToken: (id: number) => boolean | Promise<boolean>): Promise<void> {
    const inFlight: Promise<number>[] = [];
    let launched = 0;
    // In Node each readback waits for the previous id plus most of a step (ReadbackPacer).
    const pacer = this.paced ? new ReadbackPacer(this.paceTimerSlackMs) : null;
    let previous: Promise<number> | null = null;
    const launch = () => {
      while (inFlight.length <= this.lookahead && launched < maxSteps) {
        const readAfter = pacer && previous ? previous.then(() => pacer.next()) : undefined;
        readAfter?.catch(() => {});
        const step = this.run(1, { readAfter });
        previous = step;
        // Observed now, awaited in order below: a step that fails (context full, device lost)
        // while an earlier one is awaited is not an unhandled rejection.
        step.catch(() => {});
        inFlight.push(step);
        launched++;
      }
    };
    launch();
    for (let read = 0; read < maxSteps; read++) {
      const pending = inFlight.shift() as Promise<number>;
      // A failure (device lost, context full, the callback threw) propagates from here; the
      // speculative steps behind it are moot, and launch() observed their rejections.
      const id = await pending;
      launch();
      const keepGoing = await onToken(id);
      if (!keepGoing) {
        if (inFlight.length > 0) {
          const undone = inFlight.length;
          await Promise.all(inFlight);
          this.position -= undone;
          for (let i = 0; i < undone; i++) this.plan.sample.undoLastDraw();
          // The speculative steps sampled over ids[0]; put back the id the next step must consume.
          this.model.gpu.device.queue.writeBuffer(this.ids, 0, new Uint32Array([id]));
        }
        return;
      }
    }
  }

  /**
   * One decode step with every kernel in its own timestamped compute pass: GPU seconds per
   * kernel family (needs timestamp-query). Separate passes add a little overhead each, so the
   * sum exceeds a normal step; the split is what matters. Advances the session like decode().
   */
  async profileDecode(): Promise<Record<string, number>> {
    return this.profileStep(1);
  }

  /**
   * profileDecode for a step of `tokens` tokens (a prefill chunk of the ids already uploaded —
   * for benchmarks: the chunk's ids are whatever the ids buffer holds). Advances the session.
   */
  async profileStep(tokens: number): Promise<Record<string, number>> {
    const { device, caps } = this.model.gpu;
    if (!caps.features.timestampQuery) throw new Error('profileStep needs the timestamp-query feature');
    if (tokens > this.maxChunk || this.position + tokens > this.maxContext) {
      throw new Error(`profileStep: ${tokens} tokens at position ${this.position} do not fit the session`);
    }
    device.queue.writeBuffer(this.step, 0, new Uint32Array([this.position, tokens]));
    await this.plan.ensureFinalNorm(tokens);
    const kernels = this.stepKernels(tokens);
    const timing = new TimestampQueries(device, kernels.length);
    const enc = device.createCommandEncoder();
    kernels.forEach(([, record], i) => {
      const pass = enc.beginComputePass({ timestampWrites: timing.pass(i) });
      record(pass);
      pass.end();
    });
    timing.resolve(enc);
    device.queue.submit([enc.finish()]);
    const seconds = await timing.seconds();
    timing.destroy();
    const out: Record<string, number> = {};
    kernels.forEach(([family], i) => {
      out[family] = (out[family] ?? 0) + seconds[i];
    });
    this.position += tokens;
    return out;
  }

  /**
   * Marginal GPU cost of each kernel family inside a normal single-pass step: the step's GPU time
   * with and without that family, and with that family's dispatches recorded twice in place
   * (median of `repeats`). Unlike profileDecode there is no per-pass overhead. Removing a family
   * also removes a dependency, so neighbours may overlap and `full − without` can overstate it;
   * `twice − full` is its cost inside the dependent chain. Both corrupt the step's outputs, so
   * this is for benchmarks only: the session must be reset (or discarded) afterwards.
   */
  async marginalProfile(
    repeats = 5,
  ): Promise<{ full: number; without: Record<string, number>; twice: Record<string, number> }> {
    const { device, caps } = this.model.gpu;
    if (!caps.features.timestampQuery) throw new Error('marginalProfile needs the timestamp-query feature');
    await this.plan.ensureFinalNorm(1);
    const kernels = this.stepKernels(1);
    const time = async (skip: string | null, twice: string | null = null) => {
      const runs: number[] = [];
      for (let r = 0; r < repeats; r++) {
        device.queue.writeBuffer(this.step, 0, new Uint32Array([this.position, 1]));
        const timing = new TimestampQueries(device, 1);
        const enc = device.createCommandEncoder();
        const pass = enc.beginComputePass({ timestampWrites: timing.pass(0) });
        for (const [family, record] of kernels) {
          if (family === skip) continue;
          record(pass);
          if (family === twice) record(pass);
        }
        pass.end();
        timing.resolve(enc);
        device.queue.submit([enc.finish()]);
        runs.push((await timing.seconds())[0]);
        timing.destroy();
      }
      return runs.sort((a, b) => a - b)[repeats >> 1];
    };
    const full = await time(null);
    const without: Record<string, number> = {};
    const twice: Record<string, number> = {};
    for (const family of new Set(kernels.map(([f]) => f))) {
      without[family] = await time(family);
      twice[family] = await time(null, family);
    }
    return { full, without, twice };
  }

  /** Dispatches one step of `tokens` tokens records (counted on a stand-in pass: nothing runs). */
  async dispatchesPerStep(tokens = 1): Promise<number> {
    await this.plan.ensureFinalNorm(tokens);
    let n = 0;
    const counter = {
      setPipeline() {},
      setBindGroup() {},
      dispatchWorkgroups() {
        n++;
      },
    } as unknown as GPUComputePassEncoder;
    for (const [, record] of this.stepKernels(tokens)) record(counter);
    return n;
  }

  /** Host milliseconds to record one decode step's commands (encoded and finished, never submitted). */
  async measureEncode(steps = 50): Promise<number> {
    await this.plan.ensureFinalNorm(1);
    const { device } = this.model.gpu;
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) {
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      for (const record of this.decodeSteps()) record(pass);
      pass.end();
      enc.finish();
    }
    return (performance.now() - t0) / steps;
  }

  destroy(): void {
    for (const k of this.kernels) k.destroy();
    for (const b of this.owned) b.destroy();
  }
}

interface LayerPlan {
  attnNorm: Encodable | null;
  qkv: Encodable;
  rope: Encodable;
  attention: AttentionKernel;
  attnQuant: Encodable | null;
  o: Encodable;
  mlpNorm: Encodable | null;
  gateUp: Encodable;
  mlpQuant: Encodable | null;
  down: Encodable;
}

/** A step's kernel: family name, recording, and whether the recording changes between steps. */
type StepKernel = [
  family: string,
  record: (pass: GPUComputePassEncoder) => void,
  changing?: boolean,
  /** The last kernel of a layer (where a prefill chunk may be cut into submits). */
  layerEnd?: boolean,
];

interface StepPlan {
  embed: Encodable;
  /** Per layer, the kernels of a decode step (one token) … */
  layers: LayerPlan[];
  /** … and of a prefill step (several); the same objects where they do not differ. */
  prefillLayers: LayerPlan[];
  /** The final norm reads the chunk's last row: one bind group per chunk length, made on first use. */
  ensureFinalNorm(tokens: number): Promise<void>;
  finalNorm(tokens: number): Encodable;
  lmHead: Encodable;
  sample: Sampler;
}

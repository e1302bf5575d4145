/**
 * A GGUF file (architecture 'llama') as a Checkpoint: llama.* metadata -> ModelConfig, GGUF tensor
 * names -> canonical Hugging Face names, and q/k rows put back into Hugging Face order.
 *
 * Why the q/k permutation: llama.cpp rotates interleaved pairs (x[2i], x[2i+1]) ("NORM" RoPE), so
 * its converter permutes HF's q_proj/k_proj rows per head (HF `permute`: reshape(n_head, 2, hd/2)
 * -> swapaxes(1, 2)). pagelm's reference and kernels use HF's rotate_half (pairs x[i], x[i+hd/2]),
 * so we apply the inverse here; the attention scores are unchanged because q and k get the same
 * row order.
 */
import type { ModelConfig, RopeScaling } from '../model/config';
import { tensorNames } from '../model/config';
import type { ByteSource, Checkpoint, GenerationDefaults, TensorInfo } from './checkpoint';
import { FormatError } from './errors';
import { type GgufFile, type GgufTensor, type GgufValue, readGguf, readGgufTensor } from './gguf';
import { ggufTokenizerFiles } from './gguf-tokenizer';
import { expectedTensorShapes } from './hf-checkpoint';

/** Typed access to GGUF metadata with errors that name the key. */
export class GgufMeta {
  constructor(
    readonly map: Map<string, GgufValue>,
    readonly file: string,
  ) {}

  has(key: string): boolean {
    return this.map.has(key);
  }

  number(key: string): number;
  number(key: string, fallback: number): number;
  number(key: string, fallback: null): number | null;
  number(key: string, fallback?: number | null): number | null {
    const v = this.map.get(key);
    if (v === undefined) {
      if (fallback === undefined) throw new FormatError(this.file, `missing metadata ${key}`);
      return fallback;
    }
    if (typeof v !== 'number')
      throw new FormatError(this.file, `metadata ${key} should be a number, got ${show(v)}`);
    return v;
  }

  /** A positive integer (sizes, counts). */
  count(key: string, fallback?: number): number {
    const v = fallback === undefined ? this.number(key) : this.number(key, fallback);
    if (!Number.isInteger(v) || v <= 0)
      throw new FormatError(this.file, `metadata ${key} should be a positive integer, got ${v}`);
    return v;
  }

  string(key: string): string;
  string(key: string, fallback: string | null): string | null;
  string(key: string, fallback?: string | null): string | null {
    const v = this.map.get(key);
    if (v === undefined) {
      if (fallback === undefined) throw new FormatError(this.file, `missing metadata ${key}`);
      return fallback;
    }
    if (typeof v !== 'string')
      throw new FormatError(this.file, `metadata ${key} should be a string, got ${show(v)}`);
    return v;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.map.get(key);
    if (v === undefined) return fallback;
    if (typeof v !== 'boolean')
      throw new FormatError(this.file, `metadata ${key} should be a bool, got ${show(v)}`);
    return v;
  }

  array(key: string): GgufValue[] | null {
    const v = this.map.get(key);
    if (v === undefined) return null;
    if (!Array.isArray(v))
      throw new FormatError(this.file, `metadata ${key} should be an array, got ${show(v)}`);
    return v;
  }

  /** A token id; llama.cpp writes -1 / 0xFFFFFFFF for "none". */
  tokenId(key: string): number | null {
    const v = this.map.get(key);
    if (v === undefined || v === -1 || v === 0xffffffff) return null;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
      throw new FormatError(this.file, `metadata ${key} should be a token id, got ${show(v)}`);
    }
    return v;
  }
}

function show(v: GgufValue): string {
  if (Array.isArray(v)) return `an array of ${v.length}`;
  return typeof v === 'string' ? JSON.stringify(v.slice(0, 80)) : String(v);
}

// ---- tensor names ------------------------------------------------------------------------------

type LayerRole = keyof ReturnType<typeof tensorNames.layer>;

const LAYER_ROLES: Record<string, LayerRole> = {
  attn_norm: 'attnNorm',
  attn_q: 'q',
  attn_k: 'k',
  attn_v: 'v',
  attn_output: 'o',
  ffn_norm: 'mlpNorm',
  ffn_gate: 'gate',
  ffn_up: 'up',
  ffn_down: 'down',
};

/** Tensors llama.cpp writes that carry no weights of their own for us (consumed as config). */
const IGNORED_TENSORS = new Set(['rope_freqs.weight']);

interface Mapped {
  canonical: string;
  /** Heads to un-permute over for q/k, else 0. */
  permuteHeads: number;
}

function mapName(name: string, config: ModelConfig): Mapped | null {
  if (name === 'token_embd.weight') return { canonical: tensorNames.embed, permuteHeads: 0 };
  if (name === 'output_norm.weight') return { canonical: tensorNames.finalNorm, permuteHeads: 0 };
  if (name === 'output.weight') return { canonical: tensorNames.lmHead, permuteHeads: 0 };
  const m = /^blk\.(\d+)\.([a-z_]+)\.weight$/.exec(name);
  if (!m) return null;
  const layer = Number(m[1]);
  const role = LAYER_ROLES[m[2]];
  if (!role || layer >= config.numLayers) return null;
  const permuteHeads = role === 'q' ? config.numHeads : role === 'k' ? config.numKvHeads : 0;
  return { canonical: tensorNames.layer(layer)[role], permuteHeads };
}

/**
 * Inverse of HF's `permute` on the rows of a [rows, cols] matrix: GGUF row h*hd + 2i + j becomes
 * HF row h*hd + j*hd/2 + i.
 */
export function unpermuteRows(w: Float32Array, rows: number, cols: number, nHeads: number): Float32Array {
  const hd = rows / nHeads;
  const half = hd / 2;
  const out = new Float32Array(w.length);
  for (let h = 0; h < nHeads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const src = (h * hd + 2 * i + j) * cols;
        const dst = (h * hd + j * half + i) * cols;
        out.set(w.subarray(src, src + cols), dst);
      }
    }
  }
  return out;
}

// ---- config ------------------------------------------------------------------------------------

/**
 * llama.cpp stores Llama 3 RoPE scaling only as the per-frequency divisors `rope_freqs.weight`, not
 * as metadata. We recover the HF parameters by assuming Meta's published low/high frequency
 * factors (1 and 4) and original context (8192) with factor = the largest divisor, then check that
 * they reproduce the stored tensor; anything else is reported instead of silently mis-scaled.
 */
function llama3ScalingFromFreqs(
  freqs: Float32Array,
  ropeTheta: number,
  headDim: number,
  file: string,
): RopeScaling {
  const factor = Math.max(...freqs);
  const s: RopeScaling = {
    type: 'llama3',
    factor,
    lowFreqFactor: 1,
    highFreqFactor: 4,
    originalMaxPositionEmbeddings: 8192,
  };
  const lowWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
  const highWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
  for (let i = 0; i < freqs.length; i++) {
    const freq = 1 / ropeTheta ** ((2 * i) / headDim);
    const wavelen = (2 * Math.PI) / freq;
    let expected: number;
    if (wavelen < highWavelen) expected = 1;
    else if (wavelen > lowWavelen) expected = factor;
    else {
      const smooth =
        (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
      expected = 1 / ((1 - smooth) / factor + smooth);
    }
    if (Math.abs(freqs[i] - expected) > 1e-3 * expected) {
      throw new FormatError(
        file,
        `rope_freqs.weight does not match Llama 3 RoPE scaling (factor ${factor}, low 1, high 4, original context 8192) at index ${i}: ${freqs[i]} vs ${expected}`,
        'rope_freqs.weight',
      );
    }
  }
  return s;
}

async function ropeScaling(
  meta: GgufMeta,
  gguf: GgufFile,
  arch: string,
  ropeTheta: number,
  headDim: number,
): Promise<RopeScaling> {
  const none: RopeScaling = {
    type: 'none',
    factor: 1,
    lowFreqFactor: 1,
    highFreqFactor: 1,
    originalMaxPositionEmbeddings: meta.count(`${arch}.context_length`, 2048),
  };
  const freqs = gguf.tensorByName.get('rope_freqs.weight');
  if (freqs) {
    const values = await readGgufTensor(gguf, freqs.name);
    if (values.length !== headDim / 2) {
      throw new FormatError(meta.file, `expected ${headDim / 2} values, got ${values.length}`, freqs.name);
    }
    return llama3ScalingFromFreqs(values, ropeTheta, headDim, meta.file);
  }
  // Older files wrote only `rope.scale_linear`; newer ones `rope.scaling.type` + `.factor`.
  const type = meta.string(`${arch}.rope.scaling.type`, null);
  const linear = meta.number(`${arch}.rope.scale_linear`, null);
  if ((type === null || type === 'none') && (linear === null || linear === 1)) return none;
  if (type === null || type === 'linear') {
    const factor = type === 'linear' ? meta.number(`${arch}.rope.scaling.factor`) : (linear as number);
    if (!(factor > 0)) throw new FormatError(meta.file, `invalid RoPE scaling factor ${factor}`);
    return { ...none, type: 'linear', factor };
  }
  throw new FormatError(meta.file, `unsupported RoPE scaling type ${type}`);
}

function tokenList(meta: GgufMeta): number | null {
  return meta.array('tokenizer.ggml.tokens')?.length ?? null;
}

async function buildConfig(meta: GgufMeta, gguf: GgufFile): Promise<ModelConfig> {
  const arch = 'llama';
  const hiddenSize = meta.count(`${arch}.embedding_length`);
  const numHeads = meta.count(`${arch}.attention.head_count`);
  const numKvHeads = meta.count(`${arch}.attention.head_count_kv`, numHeads);
  const keyLength = meta.count(`${arch}.attention.key_length`, Math.floor(hiddenSize / numHeads));
  const valueLength = meta.count(`${arch}.attention.value_length`, keyLength);
  const file = meta.file;
  if (valueLength !== keyLength) {
    throw new FormatError(file, `key_length ${keyLength} != value_length ${valueLength} is not supported`);
  }
  if (numHeads % numKvHeads !== 0) {
    throw new FormatError(file, `head_count ${numHeads} is not a multiple of head_count_kv ${numKvHeads}`);
  }
  const headDim = keyLength;
  if (headDim % 2 !== 0) throw new FormatError(file, `head dimension ${headDim} is odd`);
  const ropeDims = meta.count(`${arch}.rope.dimension_count`, headDim);
  if (ropeDims !== headDim) {
    throw new FormatError(
      file,
      `partial RoPE (rope.dimension_count ${ropeDims} of head dim ${headDim}) is not supported`,
    );
  }
  const ropeTheta = meta.number(`${arch}.rope.freq_base`, 10000);
  const embd = gguf.tensorByName.get('token_embd.weight');
  if (!embd) throw new FormatError(file, 'missing tensor token_embd.weight');
  // Rows of the embedding table; the tokenizer may have fewer tokens, never more.
  const vocabSize = embd.shape[0];
  const tokens = tokenList(meta);
  if (tokens !== null && tokens > vocabSize) {
    throw new FormatError(
      file,
      `tokenizer has ${tokens} tokens but token_embd.weight only ${vocabSize} rows`,
    );
  }
  const bos = meta.tokenId('tokenizer.ggml.bos_token_id');
  const eos = ['tokenizer.ggml.eos_token_id', 'tokenizer.ggml.eot_token_id', 'tokenizer.ggml.eom_token_id']
    .map((k) => meta.tokenId(k))
    .filter((id): id is number => id !== null);
  return {
    architecture: 'llama',
    hiddenSize,
    intermediateSize: meta.count(`${arch}.feed_forward_length`),
    numLayers: meta.count(`${arch}.block_count`),
    numHeads,
    numKvHeads,
    headDim,
    vocabSize,
    rmsNormEps: meta.number(`${arch}.attention.layer_norm_rms_epsilon`),
    ropeTheta,
    ropeScaling: await ropeScaling(meta, gguf, arch, ropeTheta, headDim),
    maxPositionEmbeddings: meta.count(`${arch}.context_length`, 2048),
    tieWordEmbeddings: !gguf.tensorByName.has('output.weight'),
    bosTokenId: bos,
    eosTokenIds: [...new Set(eos)],
  };
}

/** llama.cpp's optional `general.sampling.*` hints (written by newer converters). */
function generationDefaults(meta: GgufMeta): GenerationDefaults {
  const g: GenerationDefaults = {};
  const temp = meta.number('general.sampling.temp', null);
  const topP = meta.number('general.sampling.top_p', null);
  const topK = meta.number('general.sampling.top_k', null);
  const rep = meta.number('general.sampling.penalty_repeat', null);
  if (temp !== null) g.temperature = temp;
  if (topP !== null) g.topP = topP;
  if (topK !== null) g.topK = topK;
  if (rep !== null) g.repetitionPenalty = rep;
  return g;
}

// ---- the checkpoint ----------------------------------------------------------------------------

/** Opens a llama-architecture GGUF; tensors are read (and dequantized) only when asked for. */
export async function openGgufCheckpoint(src: ByteSource): Promise<Checkpoint> {
  const gguf = await readGguf(src);
  const meta = new GgufMeta(gguf.metadata, src.name);
  const arch = meta.string('general.architecture', null);
  if (arch !== 'llama') throw new FormatError(src.name, `unsupported architecture ${arch ?? '(none)'}`);
  const config = await buildConfig(meta, gguf);

  const shapes = expectedTensorShapes(config);
  const byCanonical = new Map<string, { tensor: GgufTensor; permuteHeads: number }>();
  for (const t of gguf.tensors) {
    if (IGNORED_TENSORS.has(t.name)) continue;
    const mapped = mapName(t.name, config);
    if (!mapped) throw new FormatError(src.name, 'unsupported tensor for a llama model', t.name);
    const want = shapes.get(mapped.canonical)!;
    if (want.join() !== t.shape.join()) {
      throw new FormatError(src.name, `shape [${t.shape.join(', ')}], expected [${want.join(', ')}]`, t.name);
    }
    if (!t.type.dequantize) {
      throw new FormatError(src.name, `unsupported tensor type ${t.type.name}`, t.name);
    }
    if (mapped.permuteHeads && (t.shape[0] / mapped.permuteHeads) % 2 !== 0) {
      throw new FormatError(
        src.name,
        `rows ${t.shape[0]} do not split into ${mapped.permuteHeads} even heads`,
        t.name,
      );
    }
    byCanonical.set(mapped.canonical, { tensor: t, permuteHeads: mapped.permuteHeads });
  }
  // Tied embeddings (no output.weight): lm_head is listed and reads token_embd, as in
  // hf-checkpoint, so consumers never special-case the format.
  if (config.tieWordEmbeddings && byCanonical.has(tensorNames.embed)) {
    byCanonical.set(tensorNames.lmHead, byCanonical.get(tensorNames.embed)!);
  }
  for (const name of shapes.keys()) {
    if (!byCanonical.has(name)) throw new FormatError(src.name, `missing tensor ${ggufNameOf(name)}`, name);
  }

  // Canonical order (embed, layers, norm, lm_head), like hf-checkpoint.
  const tensors: TensorInfo[] = [...shapes.keys()].map((name) => {
    const { tensor } = byCanonical.get(name)!;
    return { name, shape: [...tensor.shape], dtype: tensor.type.name };
  });

  return {
    source: src.name,
    config,
    tokenizer: ggufTokenizerFiles(gguf.metadata, src.name),
    generation: generationDefaults(meta),
    tensors,
    async readTensor(name: string): Promise<Float32Array> {
      const entry = byCanonical.get(name);
      if (!entry) throw new FormatError(src.name, 'no such tensor in the checkpoint', name);
      const { tensor, permuteHeads } = entry;
      const data = await readGgufTensor(gguf, tensor.name, `${name} (GGUF ${tensor.name})`);
      return permuteHeads ? unpermuteRows(data, tensor.shape[0], tensor.shape[1], permuteHeads) : data;
    },
  };
}

/** The GGUF name a canonical tensor comes from, for "missing tensor" messages. */
function ggufNameOf(canonical: string): string {
  if (canonical === tensorNames.embed) return 'token_embd.weight';
  if (canonical === tensorNames.finalNorm) return 'output_norm.weight';
  if (canonical === tensorNames.lmHead) return 'output.weight';
  const m = /^model\.layers\.(\d+)\./.exec(canonical);
  if (m) {
    const roles = tensorNames.layer(Number(m[1]));
    for (const [gguf, role] of Object.entries(LAYER_ROLES)) {
      if (roles[role] === canonical) return `blk.${m[1]}.${gguf}.weight`;
    }
  }
  return canonical;
}

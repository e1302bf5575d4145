import type { Checkpoint } from '../format/checkpoint';
import { type ModelConfig, tensorNames } from './config';
import { argmax } from './sampling-reference';

/**
 * CPU fp32 reference forward pass of a LLaMA-family model, written for clarity rather than speed.
 * It is the oracle the GPU graph is tested against and the activation source for GPTQ
 * calibration, so it follows Hugging Face `LlamaForCausalLM` literally:
 *   h = embed[tokens]
 *   per layer: h += o(attn(rope(q(n1)), rope(k(n1)), v(n1)))   with n1 = rmsnorm(h)
 *              h += down(silu(gate(n2)) * up(n2))               with n2 = rmsnorm(h)
 *   logits = lm_head(rmsnorm(h))
 * Activations are stored as fp32; dot products accumulate in float64 (JS numbers), so the
 * reference is deterministic and at least as accurate as PyTorch's fp32 matmuls.
 */

/** Where the weights come from: a checkpoint read up front, or e.g. a dequantized pack. */
export interface ReferenceWeights {
  config: ModelConfig;
  /** fp32, row-major, in the checkpoint's shape (Linear weights are [out, in]). */
  weight(name: string): Float32Array;
}

export type LinearName = 'q' | 'k' | 'v' | 'o' | 'gate' | 'up' | 'down' | 'lm_head';

/**
 * Receives the input of a linear layer, `x` = [tokens, K] row-major (K = the layer's input size).
 * q/k/v receive the very same array object, as do gate/up, so a consumer can deduplicate by
 * identity. `layer` is config.numLayers for lm_head. Do not mutate `x`.
 */
export type LinearInputHook = (layer: number, name: LinearName, x: Float32Array) => void;

/**
 * Activation quantization applied to the input of every linear layer. 'int8-per-token' makes the
 * reference compute what the GPU's W4A8 kernels compute (quantizeActivationsInt8). The others
 * measure what a choice of activation levels would cost (quantizeActivationsGrouped; not the
 * GPU's exact arithmetic): 'int16-per-token', the 16-bit fixed point the 2/4/16 kernels stage
 * (32,639 levels a side, one scale per token); 'int8-per-group', int8 with one scale per 64
 * columns of a token, which no kernel implements yet.
 */
export type ActivationQuant = 'int8-per-token' | 'int16-per-token' | 'int8-per-group';

/** Columns per scale of 'int8-per-group' (the 2/4/16 weight group). */
export const ACTIVATION_GROUP = 64;

export interface ReferenceModelOptions {
  /** Quantize every linear's input (q/k/v, o, gate/up, down, lm_head); default none (fp32). */
  activationQuant?: ActivationQuant;
}

export interface ForwardOptions {
  /** Return logits of every new position ([tokens, vocab]) instead of only the last one ([vocab]). */
  allLogits?: boolean;
  /**
   * Called with every linear layer's input (for lm_head: the rows whose logits are returned).
   * With activation quantization this is the quantized input, i.e. what the weights multiply.
   */
  onLinearInput?: LinearInputHook;
}

/**
 * RoPE inverse frequencies, exactly as HF computes them: theta^(-2i/d) for i < d/2, then the
 * rope_scaling adjustment (`_compute_llama3_parameters` / linear). Rounded to fp32 like HF's tensor.
 */
export function ropeInvFreq(config: ModelConfig): Float32Array {
  const d = config.headDim;
  const out = new Float32Array(d / 2);
  const s = config.ropeScaling;
  for (let i = 0; i < d / 2; i++) {
    const base = 1 / config.ropeTheta ** ((2 * i) / d);
    out[i] = scaleInvFreq(base, s);
  }
  return out;
}

function scaleInvFreq(invFreq: number, s: ModelConfig['ropeScaling']): number {
  switch (s.type) {
    case 'none':
      return invFreq;
    case 'linear':
      return invFreq / s.factor;
    case 'llama3': {
      // Long wavelengths (low frequencies) are slowed down by `factor`, short ones kept, and the
      // band in between interpolated smoothly.
      const oldContext = s.originalMaxPositionEmbeddings;
      const lowFreqWavelen = oldContext / s.lowFreqFactor;
      const highFreqWavelen = oldContext / s.highFreqFactor;
      const wavelen = (2 * Math.PI) / invFreq;
      if (wavelen < highFreqWavelen) return invFreq;
      if (wavelen > lowFreqWavelen) return invFreq / s.factor;
      const smooth = (oldContext / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
      return ((1 - smooth) * invFreq) / s.factor + smooth * invFreq;
    }
  }
}

/** The model's weights, fetched once; sessions share them. */
export class ReferenceModel {
  readonly config: ModelConfig;
  readonly invFreq: Float32Array;
  readonly activationQuant: ActivationQuant | undefined;
  private readonly weights = new Map<string, Float32Array>();

  private constructor(source: ReferenceWeights, options: ReferenceModelOptions) {
    this.config = source.config;
    this.activationQuant = options.activationQuant;
    this.invFreq = ropeInvFreq(this.config);
    const c = this.config;
    const need = (name: string, length: number) => {
      const w = source.weight(name);
      if (w.length !== length)
        throw new Error(`reference: ${name} has ${w.length} values, expected ${length}`);
      this.weights.set(name, w);
    };
    const qDim = c.numHeads * c.headDim;
    const kvDim = c.numKvHeads * c.headDim;
    need(tensorNames.embed, c.vocabSize * c.hiddenSize);
    for (let i = 0; i < c.numLayers; i++) {
      const l = tensorNames.layer(i);
      need(l.attnNorm, c.hiddenSize);
      need(l.q, qDim * c.hiddenSize);
      need(l.k, kvDim * c.hiddenSize);
      need(l.v, kvDim * c.hiddenSize);
      need(l.o, c.hiddenSize * qDim);
      need(l.mlpNorm, c.hiddenSize);
      need(l.gate, c.intermediateSize * c.hiddenSize);
      need(l.up, c.intermediateSize * c.hiddenSize);
      need(l.down, c.hiddenSize * c.intermediateSize);
    }
    need(tensorNames.finalNorm, c.hiddenSize);
    need(tensorNames.lmHead, c.vocabSize * c.hiddenSize);
  }

  /** Reads every tensor of a checkpoint (tied names resolve to the same data), or wraps a weight source. */
  static async load(
    source: Checkpoint | ReferenceWeights,
    options: ReferenceModelOptions = {},
  ): Promise<ReferenceModel> {
    if (!('readTensor' in source)) return new ReferenceModel(source, options);
    const data = new Map<string, Float32Array>();
    for (const t of source.tensors) {
      // Tied embeddings: one copy serves both names (saves vocab x hidden floats).
      const tiedTo =
        source.config.tieWordEmbeddings && t.name === tensorNames.lmHead
          ? data.get(tensorNames.embed)
          : undefined;
      data.set(t.name, tiedTo ?? (await source.readTensor(t.name)));
    }
    return new ReferenceModel(
      {
        config: source.config,
        weight: (name) => {
          const w = data.get(name);
          if (!w) throw new Error(`reference: checkpoint has no tensor ${name}`);
          return w;
        },
      },
      options,
    );
  }

  static fromWeights(source: ReferenceWeights, options: ReferenceModelOptions = {}): ReferenceModel {
    return new ReferenceModel(source, options);
  }

  weight(name: string): Float32Array {
    return this.weights.get(name)!;
  }

  newSession(
    maxContext = this.config.maxPositionEmbeddings,
    opts: ReferenceSessionOptions = {},
  ): ReferenceSession {
    return new ReferenceSession(this, maxContext, opts);
  }
}

/** y[t, n] = sum_k x[t, k] * w[n, k]: a PyTorch Linear (no bias) over `rows` rows. */
export function linear(
  x: Float32Array,
  w: Float32Array,
  rows: number,
  inDim: number,
  outDim: number,
): Float32Array {
  const y = new Float32Array(rows * outDim);
  for (let t = 0; t < rows; t++) {
    const xo = t * inDim;
    for (let n = 0; n < outDim; n++) {
      const wo = n * inDim;
      let acc = 0;
      for (let k = 0; k < inDim; k++) acc += x[xo + k] * w[wo + k];
      y[t * outDim + n] = acc;
    }
  }
  return y;
}

/**
 * Per-token symmetric int8 fake quantization, exactly the GPU's arithmetic (shaders/rmsnorm.wgsl,
 * INT8_OUT): per row, s = fround(max|x| / 127), r = fround(1 / s), q = clamp(round(fround(x · r)),
 * −127, 127) with WGSL round (half to even); the row becomes fround(s · q). The kernels multiply by
 * 1/s rather than divide by s, which can flip a rounding at an exact .5 boundary, so we do too.
 * An all-zero row (s = 0) stays zero. Returns a new array.
 */
export function quantizeActivationsInt8(x: Float32Array, rows: number, dim: number): Float32Array {
  const y = new Float32Array(rows * dim);
  for (let t = 0; t < rows; t++) {
    const o = t * dim;
    let m = 0;
    for (let i = 0; i < dim; i++) m = Math.max(m, Math.abs(x[o + i]));
    const s = Math.fround(m / 127);
    if (s === 0) continue;
    const r = Math.fround(1 / s);
    for (let i = 0; i < dim; i++) {
      const q = Math.min(127, Math.max(-127, roundHalfEven(Math.fround(x[o + i] * r))));
      y[o + i] = s * q;
    }
  }
  return y;
}

/**
 * Symmetric fake quantization with one scale per `group` columns of each row (group = dim: per
 * token) to ±levels: s = max|x| / levels, the value becomes s · round(x / s). Returns a new array.
 */
export function quantizeActivationsGrouped(
  x: Float32Array,
  rows: number,
  dim: number,
  levels: number,
  group: number,
): Float32Array {
  const y = new Float32Array(rows * dim);
  for (let t = 0; t < rows; t++) {
    for (let g0 = 0; g0 < dim; g0 += group) {
      const o = t * dim + g0;
      const n = Math.min(group, dim - g0);
      let m = 0;
      for (let i = 0; i < n; i++) m = Math.max(m, Math.abs(x[o + i]));
      if (m === 0) continue;
      const s = m / levels;
      for (let i = 0; i < n; i++)
        y[o + i] = s * Math.min(levels, Math.max(-levels, roundHalfEven(x[o + i] / s)));
    }
  }
  return y;
}

type Quantizer = (a: Float32Array, rows: number, dim: number) => Float32Array;

/** What a linear sees under `quant`: its input as is, or fake-quantized. */
function activationQuantizer(quant: ActivationQuant | undefined): Quantizer {
  switch (quant) {
    case undefined:
      return (a) => a;
    case 'int8-per-token':
      return quantizeActivationsInt8;
    case 'int16-per-token':
      return (a, rows, dim) => quantizeActivationsGrouped(a, rows, dim, 32639, dim);
    case 'int8-per-group':
      return (a, rows, dim) => quantizeActivationsGrouped(a, rows, dim, 127, ACTIVATION_GROUP);
  }
}

/** Round to nearest, ties to even (WGSL round()). */
export function roundHalfEven(v: number): number {
  const r = Math.round(v); // ties toward +∞
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** HF LlamaRMSNorm: x * rsqrt(mean(x^2) + eps) * weight, per row. */
export function rmsNorm(
  x: Float32Array,
  w: Float32Array,
  rows: number,
  dim: number,
  eps: number,
): Float32Array {
  const y = new Float32Array(rows * dim);
  for (let t = 0; t < rows; t++) {
    const o = t * dim;
    let ss = 0;
    for (let i = 0; i < dim; i++) ss += x[o + i] * x[o + i];
    const inv = 1 / Math.sqrt(ss / dim + eps);
    // HF rounds the normalized activation to fp32 before multiplying by the weight.
    for (let i = 0; i < dim; i++) y[o + i] = Math.fround(x[o + i] * inv) * w[i];
  }
  return y;
}

/**
 * HF rotary embedding, `rotate_half` layout: dimension i pairs with i + d/2 and both use
 * angle position * invFreq[i]. The angle is rounded to fp32, as HF (and the GPU) compute it.
 * Rotates `heads` heads of every row in place; row t is at absolute position pos0 + t.
 */
export function applyRope(
  x: Float32Array,
  rows: number,
  heads: number,
  headDim: number,
  pos0: number,
  invFreq: Float32Array,
): void {
  const half = headDim / 2;
  for (let t = 0; t < rows; t++) {
    for (let i = 0; i < half; i++) {
      const angle = Math.fround((pos0 + t) * invFreq[i]);
      const cos = Math.fround(Math.cos(angle));
      const sin = Math.fround(Math.sin(angle));
      for (let h = 0; h < heads; h++) {
        const o = (t * heads + h) * headDim;
        const a = x[o + i];
        const b = x[o + i + half];
        x[o + i] = a * cos - b * sin;
        x[o + i + half] = b * cos + a * sin;
      }
    }
  }
}

export interface ReferenceSessionOptions {
  /**
   * `int8`: K (after RoPE) and V rows are stored as the GPU's int8 cache stores them (per token
   * and KV head, round(x / s) with s = max|x| / 127: quantizeActivationsInt8's rule) and read
   * back dequantized; default `f32` (exact).
   */
  kvCache?: 'f32' | 'int8';
}

/** One sequence: the KV cache plus the number of positions already processed. */
export class ReferenceSession {
  private readonly kCache: Float32Array[] = [];
  private readonly vCache: Float32Array[] = [];
  private length = 0;

  constructor(
    readonly model: ReferenceModel,
    readonly maxContext: number,
    readonly opts: ReferenceSessionOptions = {},
  ) {
    const c = model.config;
    const kvDim = c.numKvHeads * c.headDim;
    for (let i = 0; i < c.numLayers; i++) {
      this.kCache.push(new Float32Array(maxContext * kvDim));
      this.vCache.push(new Float32Array(maxContext * kvDim));
    }
  }

  /** Number of tokens in the cache (= position of the next token). */
  get position(): number {
    return this.length;
  }

  /** Forget the sequence; the cache is overwritten by the next forward. */
  reset(): void {
    this.length = 0;
  }

  /**
   * Appends `tokens` to the sequence and returns the logits of the last new position ([vocab]),
   * or of every new position ([tokens, vocab]) with `allLogits`.
   */
  forward(tokens: number[], options: ForwardOptions = {}): Float32Array {
    const m = this.model;
    const c = m.config;
    const T = tokens.length;
    if (T === 0) throw new Error('reference: forward needs at least one token');
    if (this.length + T > this.maxContext) {
      throw new Error(`reference: context full (${this.length} + ${T} > ${this.maxContext})`);
    }
    const H = c.hiddenSize;
    const qDim = c.numHeads * c.headDim;
    const kvDim = c.numKvHeads * c.headDim;
    const hook = options.onLinearInput;
    // What a linear sees: its input as is, or fake-quantized (activationQuantizer).
    const aq = activationQuantizer(m.activationQuant);

    // Embedding lookup.
    const embed = m.weight(tensorNames.embed);
    const x = new Float32Array(T * H);
    tokens.forEach((id, t) => {
      if (!Number.isInteger(id) || id < 0 || id >= c.vocabSize)
        throw new Error(`reference: token id ${id} out of range`);
      x.set(embed.subarray(id * H, (id + 1) * H), t * H);
    });

    for (let layer = 0; layer < c.numLayers; layer++) {
      const w = tensorNames.layer(layer);
      // Attention block.
      // One quantization serves q/k/v (the GPU's RMSNorm emits int8 once for all three).
      const n1 = aq(rmsNorm(x, m.weight(w.attnNorm), T, H, c.rmsNormEps), T, H);
      hook?.(layer, 'q', n1);
      hook?.(layer, 'k', n1);
      hook?.(layer, 'v', n1);
      const q = linear(n1, m.weight(w.q), T, H, qDim);
      const k = linear(n1, m.weight(w.k), T, H, kvDim);
      const v = linear(n1, m.weight(w.v), T, H, kvDim);
      applyRope(q, T, c.numHeads, c.headDim, this.length, m.invFreq);
      applyRope(k, T, c.numKvHeads, c.headDim, this.length, m.invFreq);
      const int8 = this.opts.kvCache === 'int8';
      const rows = T * c.numKvHeads;
      this.kCache[layer].set(int8 ? quantizeActivationsInt8(k, rows, c.headDim) : k, this.length * kvDim);
      this.vCache[layer].set(int8 ? quantizeActivationsInt8(v, rows, c.headDim) : v, this.length * kvDim);
      const attn = aq(this.attention(layer, q, T), T, qDim);
      hook?.(layer, 'o', attn);
      addInPlace(x, linear(attn, m.weight(w.o), T, qDim, H));

      // MLP block.
      const n2 = aq(rmsNorm(x, m.weight(w.mlpNorm), T, H, c.rmsNormEps), T, H);
      hook?.(layer, 'gate', n2);
      hook?.(layer, 'up', n2);
      const gate = linear(n2, m.weight(w.gate), T, H, c.intermediateSize);
      const up = linear(n2, m.weight(w.up), T, H, c.intermediateSize);
      let act: Float32Array = new Float32Array(gate.length);
      for (let i = 0; i < act.length; i++) act[i] = Math.fround(silu(gate[i])) * up[i];
      act = aq(act, T, c.intermediateSize);
      hook?.(layer, 'down', act);
      addInPlace(x, linear(act, m.weight(w.down), T, c.intermediateSize, H));
    }

    const normed = rmsNorm(x, m.weight(tensorNames.finalNorm), T, H, c.rmsNormEps);
    const rows = options.allLogits ? T : 1;
    const head = aq(options.allLogits ? normed : normed.subarray((T - 1) * H, T * H), rows, H);
    hook?.(c.numLayers, 'lm_head', head);
    this.length += T;
    return linear(head, m.weight(tensorNames.lmHead), rows, H, c.vocabSize);
  }

  /**
   * Causal softmax attention for the T new query rows (positions length .. length+T-1) over the
   * cache, which already holds their keys/values. GQA: query head h reads KV head
   * h / (numHeads / numKvHeads). Scores scaled by 1/sqrt(headDim); softmax in float64.
   */
  private attention(layer: number, q: Float32Array, T: number): Float32Array {
    const c = this.model.config;
    const d = c.headDim;
    const kvDim = c.numKvHeads * d;
    const group = c.numHeads / c.numKvHeads;
    const scale = 1 / Math.sqrt(d);
    const kc = this.kCache[layer];
    const vc = this.vCache[layer];
    const out = new Float32Array(T * c.numHeads * d);
    for (let t = 0; t < T; t++) {
      const pos = this.length + t;
      const scores = new Float64Array(pos + 1);
      for (let h = 0; h < c.numHeads; h++) {
        const qo = (t * c.numHeads + h) * d;
        const kvo = Math.floor(h / group) * d;
        let max = Number.NEGATIVE_INFINITY;
        for (let s = 0; s <= pos; s++) {
          let dot = 0;
          for (let i = 0; i < d; i++) dot += q[qo + i] * kc[s * kvDim + kvo + i];
          scores[s] = dot * scale;
          if (scores[s] > max) max = scores[s];
        }
        let sum = 0;
        for (let s = 0; s <= pos; s++) {
          scores[s] = Math.exp(scores[s] - max);
          sum += scores[s];
        }
        for (let i = 0; i < d; i++) {
          let acc = 0;
          for (let s = 0; s <= pos; s++) acc += scores[s] * vc[s * kvDim + kvo + i];
          out[qo + i] = acc / sum;
        }
      }
    }
    return out;
  }
}

function silu(x: number): number {
  return x / (1 + Math.exp(-x));
}

function addInPlace(x: Float32Array, y: Float32Array): void {
  for (let i = 0; i < x.length; i++) x[i] += y[i];
}

/**
 * Greedy decoding: feeds the prompt, then the argmax token, until `maxNew` tokens or an EOS id.
 * Returns the generated ids (the EOS that stopped generation is not included).
 */
export function greedy(
  session: ReferenceSession,
  promptTokens: number[],
  maxNew: number,
  eosIds: number[] = [],
): number[] {
  const out: number[] = [];
  if (maxNew <= 0) return out;
  let logits = session.forward(promptTokens);
  for (;;) {
    const id = argmax(logits);
    if (eosIds.includes(id)) break;
    out.push(id);
    if (out.length >= maxNew) break;
    logits = session.forward([id]);
  }
  return out;
}

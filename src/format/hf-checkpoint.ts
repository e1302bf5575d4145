import { type ModelConfig, type RopeScaling, tensorNames } from '../model/config';
import { joinName, readAllJson, readAllText } from './byte-source';
import type {
  ByteSource,
  Checkpoint,
  GenerationDefaults,
  SourceDirectory,
  TensorInfo,
  TokenizerFiles,
} from './checkpoint';
import { FormatError } from './errors';
import { openSafetensorsSet, type SafetensorsSet } from './safetensors';

/**
 * A Hugging Face LLaMA-family checkpoint directory (config.json, safetensors weights, tokenizer
 * files) as a Checkpoint. Everything the rest of pagelm relies on is checked here, once: the
 * architecture is one we implement exactly, every tensor the config implies exists with the shape
 * it implies, and nothing unexpected is stored (an extra layer usually means a config mismatch).
 */

type Json = Record<string, unknown>;

function isRecord(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Tensors stored by some exporters that carry no weights (recomputed from the config). */
const IGNORED_TENSOR = /(^|\.)rotary_emb\.inv_freq$/;

/** Converts config.json to ModelConfig, rejecting anything the LLaMA graph would compute wrongly. */
export function parseHfConfig(json: unknown, file: string): ModelConfig {
  if (!isRecord(json)) throw new FormatError(file, 'not a JSON object');
  checkArchitecture(json, file);

  const int = (key: string, fallback?: number): number => {
    const v = json[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
      throw new FormatError(file, `${key} must be a positive integer, got ${JSON.stringify(json[key])}`);
    }
    return v;
  };
  const num = (key: string, fallback: number): number => {
    const v = json[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      throw new FormatError(file, `${key} must be a positive number, got ${JSON.stringify(json[key])}`);
    }
    return v;
  };

  const hiddenSize = int('hidden_size');
  const numHeads = int('num_attention_heads');
  const numKvHeads = int('num_key_value_heads', numHeads);
  if (numHeads % numKvHeads !== 0) {
    throw new FormatError(
      file,
      `num_attention_heads ${numHeads} is not a multiple of num_key_value_heads ${numKvHeads}`,
    );
  }
  if (json.head_dim == null && hiddenSize % numHeads !== 0) {
    throw new FormatError(
      file,
      `hidden_size ${hiddenSize} is not a multiple of num_attention_heads ${numHeads}`,
    );
  }
  const headDim = json.head_dim == null ? hiddenSize / numHeads : int('head_dim');
  if (headDim % 2 !== 0) throw new FormatError(file, `head_dim ${headDim} must be even for RoPE`);
  const maxPositionEmbeddings = int('max_position_embeddings', 2048);

  // transformers >= 5 moves rope_theta/rope_scaling into rope_parameters; accept both spellings.
  const ropeParams = isRecord(json.rope_parameters) ? json.rope_parameters : undefined;
  const ropeTheta = ropeParams?.rope_theta ?? json.rope_theta ?? 10000;
  if (typeof ropeTheta !== 'number' || !(ropeTheta > 0)) {
    throw new FormatError(file, `rope_theta must be a positive number, got ${JSON.stringify(ropeTheta)}`);
  }
  const ropeScaling = parseRopeScaling(ropeParams ?? json.rope_scaling, maxPositionEmbeddings, file);

  const bos = json.bos_token_id;
  if (bos != null && !isTokenId(bos)) throw new FormatError(file, `bad bos_token_id ${JSON.stringify(bos)}`);

  return {
    architecture: 'llama',
    hiddenSize,
    intermediateSize: int('intermediate_size'),
    numLayers: int('num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim,
    vocabSize: int('vocab_size'),
    rmsNormEps: num('rms_norm_eps', 1e-6),
    ropeTheta,
    ropeScaling,
    maxPositionEmbeddings,
    // HF LlamaConfig defaults to untied; only an explicit true ties.
    tieWordEmbeddings: json.tie_word_embeddings === true,
    bosTokenId: bos == null ? null : (bos as number),
    eosTokenIds: parseEosIds(json.eos_token_id, file),
  };
}

function isTokenId(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** eos_token_id may be absent, an int or a list of ints (Llama 3 instruct uses a list). */
function parseEosIds(v: unknown, file: string): number[] {
  if (v == null) return [];
  const list = Array.isArray(v) ? v : [v];
  if (!list.every(isTokenId)) throw new FormatError(file, `bad eos_token_id ${JSON.stringify(v)}`);
  return [...new Set(list as number[])];
}

function checkArchitecture(json: Json, file: string): void {
  const archs = Array.isArray(json.architectures)
    ? json.architectures.filter((a) => typeof a === 'string')
    : [];
  const modelType = typeof json.model_type === 'string' ? json.model_type : undefined;
  const named = archs[0] ?? modelType ?? 'unknown';
  const mistral = modelType === 'mistral' || archs.includes('MistralForCausalLM');
  const llama = archs.includes('LlamaForCausalLM') || modelType === 'llama';
  if (mistral) {
    // Mistral is LLaMA plus sliding-window attention; without the window it is the same graph.
    if (json.sliding_window != null) {
      throw new FormatError(
        file,
        `unsupported architecture ${named} (sliding_window ${json.sliding_window})`,
      );
    }
  } else if (!llama) {
    throw new FormatError(file, `unsupported architecture ${named}`);
  }
  // Variants the reference and GPU graph do not implement: fail here rather than compute garbage.
  const act = json.hidden_act ?? 'silu';
  if (act !== 'silu') throw new FormatError(file, `unsupported hidden_act ${JSON.stringify(act)}`);
  if (json.attention_bias === true) throw new FormatError(file, 'unsupported attention_bias true');
  if (json.mlp_bias === true) throw new FormatError(file, 'unsupported mlp_bias true');
}

function parseRopeScaling(v: unknown, maxPositionEmbeddings: number, file: string): RopeScaling {
  const none: RopeScaling = {
    type: 'none',
    factor: 1,
    lowFreqFactor: 1,
    highFreqFactor: 1,
    originalMaxPositionEmbeddings: maxPositionEmbeddings,
  };
  if (v == null) return none;
  if (!isRecord(v)) throw new FormatError(file, `unsupported rope_scaling ${JSON.stringify(v)}`);
  const type = v.rope_type ?? v.type ?? 'default';
  const need = (key: string): number => {
    const x = v[key];
    if (typeof x !== 'number' || !(x > 0)) {
      throw new FormatError(
        file,
        `rope_scaling ${String(type)} needs a positive ${key}, got ${JSON.stringify(x)}`,
      );
    }
    return x;
  };
  switch (type) {
    case 'default':
      return none;
    case 'linear':
      return { ...none, type: 'linear', factor: need('factor') };
    case 'llama3': {
      const scaling: RopeScaling = {
        type: 'llama3',
        factor: need('factor'),
        lowFreqFactor: need('low_freq_factor'),
        highFreqFactor: need('high_freq_factor'),
        originalMaxPositionEmbeddings: need('original_max_position_embeddings'),
      };
      if (scaling.highFreqFactor <= scaling.lowFreqFactor) {
        throw new FormatError(file, 'rope_scaling llama3 needs high_freq_factor > low_freq_factor');
      }
      return scaling;
    }
    default:
      throw new FormatError(file, `unsupported rope_scaling type ${JSON.stringify(type)}`);
  }
}

/** generation_config.json -> the sampling defaults pagelm uses (unknown keys are ignored). */
export function parseGenerationConfig(json: unknown, file: string): GenerationDefaults {
  if (!isRecord(json)) throw new FormatError(file, 'not a JSON object');
  const out: GenerationDefaults = {};
  const pick = (key: string, to: keyof GenerationDefaults) => {
    const v = json[key];
    if (v == null) return;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new FormatError(file, `${key} is not a number`);
    out[to] = v;
  };
  pick('temperature', 'temperature');
  pick('top_p', 'topP');
  pick('top_k', 'topK');
  pick('repetition_penalty', 'repetitionPenalty');
  pick('max_new_tokens', 'maxNewTokens');
  return out;
}

/** name -> expected shape of every tensor the config implies, in canonical order. */
export function expectedTensorShapes(c: ModelConfig): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  m.set(tensorNames.embed, [c.vocabSize, c.hiddenSize]);
  for (let i = 0; i < c.numLayers; i++) {
    const l = tensorNames.layer(i);
    m.set(l.attnNorm, [c.hiddenSize]);
    m.set(l.q, [q, c.hiddenSize]);
    m.set(l.k, [kv, c.hiddenSize]);
    m.set(l.v, [kv, c.hiddenSize]);
    m.set(l.o, [c.hiddenSize, q]);
    m.set(l.mlpNorm, [c.hiddenSize]);
    m.set(l.gate, [c.intermediateSize, c.hiddenSize]);
    m.set(l.up, [c.intermediateSize, c.hiddenSize]);
    m.set(l.down, [c.hiddenSize, c.intermediateSize]);
  }
  m.set(tensorNames.finalNorm, [c.hiddenSize]);
  m.set(tensorNames.lmHead, [c.vocabSize, c.hiddenSize]);
  return m;
}

const sameShape = (a: number[], b: number[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * Maps every canonical tensor name to the stored tensor holding its data. Aliases come from the
 * safetensors metadata (tinystories stores only lm_head and records
 * `model.embed_tokens.weight -> lm_head.weight`) and from tie_word_embeddings.
 */
function resolveTensors(config: ModelConfig, weights: SafetensorsSet): Map<string, string> {
  const stored = weights.tensors;
  const expected = expectedTensorShapes(config);
  const resolved = new Map<string, string>();
  for (const name of expected.keys()) if (stored.has(name)) resolved.set(name, name);

  for (const [alias, target] of Object.entries(weights.metadata)) {
    if (expected.has(alias) && !stored.has(alias) && stored.has(target)) resolved.set(alias, target);
  }
  if (config.tieWordEmbeddings) {
    const { embed, lmHead } = tensorNames;
    if (!resolved.has(lmHead) && resolved.has(embed)) resolved.set(lmHead, resolved.get(embed)!);
    if (!resolved.has(embed) && resolved.has(lmHead)) resolved.set(embed, resolved.get(lmHead)!);
  }

  for (const [name, shape] of expected) {
    const target = resolved.get(name);
    if (target === undefined) throw new FormatError(weights.name, 'missing tensor', name);
    const t = stored.get(target)!;
    if (!sameShape(t.shape, shape)) {
      throw new FormatError(t.file.source.name, `shape [${t.shape}], expected [${shape}]`, name);
    }
  }
  for (const [name, t] of stored) {
    if (!expected.has(name) && !IGNORED_TENSOR.test(name)) {
      throw new FormatError(t.file.source.name, 'unexpected tensor', name);
    }
  }
  return resolved;
}

async function readOptionalText(dir: SourceDirectory, path: string): Promise<string | null> {
  const src = await dir.open(path);
  return src ? readAllText(src) : null;
}

async function requireFile(dir: SourceDirectory, path: string): Promise<ByteSource> {
  const src = await dir.open(path);
  if (!src) throw new FormatError(joinName(dir.name, path), 'missing');
  return src;
}

/** Index of the first NaN/Inf, or -1. */
function firstNonFinite(data: Float32Array): number {
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) return i;
  return -1;
}

export async function openHfCheckpoint(dir: SourceDirectory): Promise<Checkpoint> {
  const configSrc = await requireFile(dir, 'config.json');
  const config = parseHfConfig(await readAllJson(configSrc), configSrc.name);

  const weights = await openSafetensorsSet(dir);
  const resolved = resolveTensors(config, weights);

  const tokenizerSrc = await requireFile(dir, 'tokenizer.json');
  const tokenizer: TokenizerFiles = {
    tokenizerJson: await readAllText(tokenizerSrc),
    tokenizerConfigJson: await readOptionalText(dir, 'tokenizer_config.json'),
  };
  if (tokenizer.tokenizerConfigJson !== null) {
    try {
      JSON.parse(tokenizer.tokenizerConfigJson);
    } catch (e) {
      throw new FormatError(
        joinName(dir.name, 'tokenizer_config.json'),
        `invalid JSON: ${(e as Error).message}`,
      );
    }
  }

  let generation: GenerationDefaults = {};
  const genSrc = await dir.open('generation_config.json');
  if (genSrc) {
    const genJson = await readAllJson(genSrc);
    generation = parseGenerationConfig(genJson, genSrc.name);
    // generate() stops on generation_config's eos ids (often a longer list than config.json's).
    if (isRecord(genJson) && genJson.eos_token_id != null) {
      const extra = parseEosIds(genJson.eos_token_id, genSrc.name);
      config.eosTokenIds = [...new Set([...config.eosTokenIds, ...extra])];
    }
  }

  // Canonical order (embed, layers, norm, lm_head), aliases included.
  const tensors: TensorInfo[] = [...expectedTensorShapes(config).keys()].map((name) => {
    const t = weights.tensors.get(resolved.get(name)!)!;
    return { name, shape: [...t.shape], dtype: t.dtype };
  });

  return {
    source: dir.name,
    config,
    tokenizer,
    generation,
    tensors,
    async readTensor(name: string): Promise<Float32Array> {
      const target = resolved.get(name);
      if (target === undefined) throw new FormatError(weights.name, 'no such tensor', name);
      const data = await weights.read(target);
      const bad = firstNonFinite(data);
      if (bad >= 0) {
        const file = weights.tensors.get(target)!.file.source.name;
        throw new FormatError(file, `non-finite value ${data[bad]} at element ${bad}`, name);
      }
      return data;
    },
  };
}

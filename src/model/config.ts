/**
 * The LLaMA-family model description every part of pagelm shares: the converter fills it from
 * a Hugging Face config.json or GGUF metadata, the pack manifest stores it, the CPU reference
 * and the GPU graph read it.
 */
export interface RopeScaling {
  /** Only 'llama3' changes the frequencies; 'none' means plain RoPE. */
  type: 'none' | 'llama3' | 'linear';
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositionEmbeddings: number;
}

export interface ModelConfig {
  architecture: 'llama';
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  /** Usually hiddenSize / numHeads, but may differ (config.head_dim). */
  headDim: number;
  /** Rows of the embedding table / lm_head; may exceed the tokenizer's vocabulary. */
  vocabSize: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling;
  maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
  bosTokenId: number | null;
  eosTokenIds: number[];
}

/** Canonical (Hugging Face) tensor names for layer `i`; GGUF names are mapped onto these. */
export const tensorNames = {
  embed: 'model.embed_tokens.weight',
  finalNorm: 'model.norm.weight',
  lmHead: 'lm_head.weight',
  layer: (i: number) => ({
    attnNorm: `model.layers.${i}.input_layernorm.weight`,
    q: `model.layers.${i}.self_attn.q_proj.weight`,
    k: `model.layers.${i}.self_attn.k_proj.weight`,
    v: `model.layers.${i}.self_attn.v_proj.weight`,
    o: `model.layers.${i}.self_attn.o_proj.weight`,
    mlpNorm: `model.layers.${i}.post_attention_layernorm.weight`,
    gate: `model.layers.${i}.mlp.gate_proj.weight`,
    up: `model.layers.${i}.mlp.up_proj.weight`,
    down: `model.layers.${i}.mlp.down_proj.weight`,
  }),
};

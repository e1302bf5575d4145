/**
 * CPU reference of token sampling, written to match Hugging Face `generate()` semantics step by
 * step; the GPU sampler is tested against these functions. Order (as HF applies its logits
 * processors/warpers): repetition penalty -> temperature -> top-k -> top-p -> softmax -> draw.
 * Filtered-out tokens get -Infinity, exactly like HF's `filter_value`.
 *
 * Every function is pure (returns a new array) so tests can compare intermediate stages.
 */

export interface SamplingParams {
  /** <= 0 (or undefined with no other option) means greedy argmax. Default 1. */
  temperature?: number;
  /** 0/undefined = off. Keeps every token >= the k-th largest logit (ties kept, like torch.topk + `<`). */
  topK?: number;
  /** 1/undefined = off. Nucleus filtering, HF TopPLogitsWarper semantics. */
  topP?: number;
  /** 1/undefined = off. HF RepetitionPenaltyLogitsProcessor over all previous ids (prompt included). */
  repetitionPenalty?: number;
}

/** A uniform generator in [0, 1). */
export type Rng = () => number;

/**
 * mulberry32: tiny, fast, seedable 32-bit PRNG. Chosen because it is trivial to port (to WGSL or
 * another runtime) and a given seed gives the same stream everywhere.
 */
export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Index of the largest logit; the first one on ties (torch.argmax does the same). NaN never wins. */
export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  let bestVal = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < logits.length; i++) {
    if (logits[i] > bestVal) {
      bestVal = logits[i];
      best = i;
    }
  }
  return best;
}

/**
 * HF RepetitionPenaltyLogitsProcessor: for each distinct previous id, a negative logit is
 * multiplied by the penalty and a positive one divided by it (so penalty > 1 always discourages).
 */
export function applyRepetitionPenalty(
  logits: Float32Array,
  previousIds: ArrayLike<number>,
  penalty: number,
): Float32Array {
  const out = logits.slice();
  if (penalty === 1) return out;
  const seen = new Set<number>();
  for (let i = 0; i < previousIds.length; i++) {
    const id = previousIds[i];
    if (seen.has(id) || id < 0 || id >= out.length) continue;
    seen.add(id);
    const v = logits[id];
    out[id] = v < 0 ? v * penalty : v / penalty;
  }
  return out;
}

export function applyTemperature(logits: Float32Array, temperature: number): Float32Array {
  if (!(temperature > 0)) throw new Error(`temperature must be > 0, got ${temperature}`);
  const out = new Float32Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = logits[i] / temperature;
  return out;
}

/** HF TopKLogitsWarper: drop every logit strictly below the k-th largest. */
export function topKFilter(logits: Float32Array, k: number): Float32Array {
  const out = logits.slice();
  if (!(k > 0) || k >= logits.length) return out;
  const kth = Float32Array.from(logits).sort().reverse()[k - 1];
  for (let i = 0; i < out.length; i++) if (out[i] < kth) out[i] = Number.NEGATIVE_INFINITY;
  return out;
}

/**
 * HF TopPLogitsWarper: sort ascending, take the cumulative softmax, drop tokens whose cumulative
 * probability is <= 1 - topP, always keep the most likely token. Ties are ordered by index
 * (stable), which torch.sort does not promise; that only matters for exactly equal logits.
 */
export function topPFilter(logits: Float32Array, topP: number): Float32Array {
  const out = logits.slice();
  if (!(topP < 1)) return out;
  const order = Array.from(logits.keys()).sort((a, b) => logits[a] - logits[b] || a - b);
  const probs = softmax(logits);
  let cumulative = 0;
  for (let r = 0; r < order.length - 1; r++) {
    cumulative += probs[order[r]];
    if (cumulative <= 1 - topP) out[order[r]] = Number.NEGATIVE_INFINITY;
  }
  return out;
}

/** Softmax in float64 (then stored as fp32); -Infinity logits get probability 0. */
export function softmax(logits: Float32Array): Float32Array {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  const e = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    e[i] = Math.exp(logits[i] - max);
    sum += e[i];
  }
  const out = new Float32Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = e[i] / sum;
  return out;
}

/**
 * Inverse-CDF draw: the first index whose running sum (in index order) exceeds u * total.
 * This is the contract the GPU sampler follows, given the same u. Zero-probability tokens are
 * never returned, even when rounding leaves u * total at the very end of the range.
 */
export function sampleFromProbs(probs: Float32Array, u: number): number {
  let total = 0;
  for (let i = 0; i < probs.length; i++) total += probs[i];
  const target = u * total;
  let running = 0;
  let last = -1;
  for (let i = 0; i < probs.length; i++) {
    if (probs[i] <= 0) continue;
    running += probs[i];
    last = i;
    if (running > target) return i;
  }
  return last;
}

/** The full pipeline: the processed logits, then greedy or a draw with one value of `rng`. */
export function sampleToken(
  logits: Float32Array,
  params: SamplingParams,
  previousIds: ArrayLike<number>,
  rng: Rng,
): number {
  const processed = processLogits(logits, params, previousIds);
  if (processed === null) {
    return argmax(applyRepetitionPenalty(logits, previousIds, params.repetitionPenalty ?? 1));
  }
  return sampleFromProbs(softmax(processed), rng());
}

/**
 * The logits the draw uses, or null for greedy (temperature <= 0). Exposed so GPU stages can be
 * compared one at a time.
 */
export function processLogits(
  logits: Float32Array,
  params: SamplingParams,
  previousIds: ArrayLike<number>,
): Float32Array | null {
  let x = applyRepetitionPenalty(logits, previousIds, params.repetitionPenalty ?? 1);
  const temperature = params.temperature ?? 1;
  if (temperature <= 0) return null;
  if (temperature !== 1) x = applyTemperature(x, temperature);
  if (params.topK) x = topKFilter(x, params.topK);
  if (params.topP !== undefined && params.topP < 1) x = topPFilter(x, params.topP);
  return x;
}

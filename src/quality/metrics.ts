/**
 * The per-position numbers a quality comparison is made of: log-softmax, KL divergence, negative
 * log-likelihood, and the summary statistics over a text. Everything is float64 — the logits
 * come in as f32, but a KL of 1e-6 between two 50k-way distributions would drown in f32 rounding.
 */

/** log softmax of one row of logits, in float64, stable (max subtracted before exp). */
export function logSoftmax(logits: ArrayLike<number>): Float64Array {
  const n = logits.length;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp(logits[i] - max);
  const lse = max + Math.log(sum);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = logits[i] - lse;
  return out;
}

/**
 * KL(P ‖ Q) = Σ p·(log p − log q) in nats, from log-probabilities. Terms with p = 0 contribute 0
 * (the limit), so a reference that rules a token out never makes the sum NaN; a test model that
 * rules out a token the reference allows gives +∞, as it should.
 */
export function klDivergence(logP: Float64Array, logQ: Float64Array): number {
  if (logP.length !== logQ.length) throw new Error('klDivergence: distributions differ in size');
  let kl = 0;
  for (let i = 0; i < logP.length; i++) {
    const lp = logP[i];
    if (lp === Number.NEGATIVE_INFINITY) continue;
    kl += Math.exp(lp) * (lp - logQ[i]);
  }
  // Rounding can leave a tiny negative value for identical distributions; KL is never below 0.
  return Math.max(0, kl);
}

/** Index of the largest value, the first on ties (as torch.argmax and the samplers). */
export function argmaxOf(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/** The p-quantile (0 ≤ p ≤ 1) with linear interpolation between order statistics (numpy's default). */
export function quantile(values: ArrayLike<number>, p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  const pos = Math.min(1, Math.max(0, p)) * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export function mean(values: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i];
  return values.length ? s / values.length : Number.NaN;
}

/** Perplexity from the negative log-likelihoods (nats) of the actual next tokens: exp(mean NLL). */
export function perplexity(nlls: ArrayLike<number>): number {
  return Math.exp(mean(nlls));
}

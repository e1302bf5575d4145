/**
 * How far a quantized model is from its reference on a text: for every position, the next-token
 * distributions of both models are compared (KL(ref ‖ test), top-1 agreement), and each model's
 * perplexity on the actual next token is measured. Browser-safe: the models are anything that
 * hands out sessions returning logits — the CPU reference (ReferenceModel fits as is) or, later,
 * the GPU runtime.
 */
import { argmaxOf, klDivergence, logSoftmax, mean, perplexity, quantile } from './metrics';

/** One sequence of a model: appends tokens and returns the logits of every new position. */
export interface LogitsSession {
  forward(tokens: number[], options: { allLogits: true }): Float32Array | Promise<Float32Array>;
}

/** A model that hands out fresh sessions (a ReferenceModel is one). */
export interface LogitsModel {
  readonly config: { readonly vocabSize: number; readonly maxPositionEmbeddings: number };
  newSession(maxContext: number): LogitsSession | Promise<LogitsSession>;
}

export interface CompareOptions {
  /**
   * Longest context, in tokens: the text is scored in consecutive windows of this many positions,
   * each in fresh sessions. Default and upper bound: the models' maxPositionEmbeddings.
   */
  window?: number;
  /** Tokens per forward call (bounds the [chunk, vocab] logits held at once). Default 128. */
  chunk?: number;
  /** Called after every chunk with the number of positions scored so far and the total. */
  onProgress?: (done: number, total: number) => void;
}

export interface QualityReport {
  /** Positions scored: every token but the last predicts its successor, so tokens.length − 1. */
  tokens: number;
  /** Number of windows (fresh-context segments) the text was scored in. */
  windows: number;
  /** Mean over positions of KL(ref ‖ test), nats. */
  klMean: number;
  /** 99th percentile of the per-position KL, nats. */
  klP99: number;
  klMax: number;
  /** Fraction of positions where both models' most likely next token is the same. */
  top1Agreement: number;
  /** exp(mean NLL of the actual next token) under the reference. */
  pplRef: number;
  pplTest: number;
}

/**
 * Compares `test` against `ref` over every position of `tokens`. Windows after the first start
 * without context (no BOS is added); both models see exactly the same windows, so the comparison
 * is fair, and the windows only affect the absolute perplexities.
 */
export async function compareModels(
  ref: LogitsModel,
  test: LogitsModel,
  tokens: number[],
  options: CompareOptions = {},
): Promise<QualityReport> {
  const V = ref.config.vocabSize;
  if (test.config.vocabSize !== V)
    throw new Error(`quality: vocab sizes differ (ref ${V}, test ${test.config.vocabSize})`);
  if (tokens.length < 2) throw new Error('quality: the text needs at least 2 tokens');
  const maxCtx = Math.min(ref.config.maxPositionEmbeddings, test.config.maxPositionEmbeddings);
  const window = Math.min(options.window ?? maxCtx, maxCtx);
  const chunk = options.chunk ?? 128;
  if (!(window >= 1 && chunk >= 1)) throw new Error('quality: window and chunk must be ≥ 1');

  // Position i is fed tokens[i] and predicts tokens[i + 1]; the last token is never fed.
  const total = tokens.length - 1;
  const kl = new Float64Array(total);
  const nllRef = new Float64Array(total);
  const nllTest = new Float64Array(total);
  let agree = 0;
  let windows = 0;
  for (let w0 = 0; w0 < total; w0 += window) {
    const w1 = Math.min(total, w0 + window);
    windows++;
    const rs = await ref.newSession(w1 - w0);
    const ts = await test.newSession(w1 - w0);
    for (let c0 = w0; c0 < w1; c0 += chunk) {
      const c1 = Math.min(w1, c0 + chunk);
      const ids = tokens.slice(c0, c1);
      const lr = await rs.forward(ids, { allLogits: true });
      const lt = await ts.forward(ids, { allLogits: true });
      if (lr.length !== ids.length * V || lt.length !== ids.length * V)
        throw new Error('quality: a model returned logits of the wrong size');
      for (let r = 0; r < ids.length; r++) {
        const i = c0 + r;
        const p = logSoftmax(lr.subarray(r * V, (r + 1) * V));
        const q = logSoftmax(lt.subarray(r * V, (r + 1) * V));
        kl[i] = klDivergence(p, q);
        if (argmaxOf(p) === argmaxOf(q)) agree++;
        const next = tokens[i + 1];
        nllRef[i] = -p[next];
        nllTest[i] = -q[next];
      }
      options.onProgress?.(c1, total);
    }
  }
  return {
    tokens: total,
    windows,
    klMean: mean(kl),
    klP99: quantile(kl, 0.99),
    klMax: kl.reduce((a, b) => Math.max(a, b), 0),
    top1Agreement: agree / total,
    pplRef: perplexity(nllRef),
    pplTest: perplexity(nllTest),
  };
}

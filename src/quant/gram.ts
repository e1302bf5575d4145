/**
 * Calibration statistics of one linear's input, accumulated from activation batches as the
 * calibration forward produces them: the Gram matrix XᵀX (what GPTQ's Hessian and the clip
 * search's output-error objective need), the token count, and the per-channel absmax
 * (what SmoothQuant needs).
 */

import { gemmNT } from './linalg';

const CHUNK = 64; // tokens per inner block: a [K, 64] f64 transpose stays in L2 for K ≤ 4096

export class GramAccumulator {
  readonly K: number;
  /** Upper triangle (i ≤ j) of Σ xᵀx, f64. The lower half is filled by result(). */
  private readonly g: Float64Array;
  private readonly xt: Float64Array;
  private tokens = 0;
  /** Per input channel max |x| over all tokens seen. */
  readonly absMax: Float32Array;

  constructor(K: number) {
    if (!Number.isInteger(K) || K <= 0) throw new Error(`GramAccumulator: bad K ${K}`);
    this.K = K;
    this.g = new Float64Array(K * K);
    this.xt = new Float64Array(K * CHUNK);
    this.absMax = new Float32Array(K);
  }

  get T(): number {
    return this.tokens;
  }

  /** Add T tokens of activations, X row-major [T, K]. */
  add(X: Float32Array, T: number): void {
    const K = this.K;
    if (X.length < T * K) throw new Error(`GramAccumulator.add: X has ${X.length} values, need ${T * K}`);
    for (let t0 = 0; t0 < T; t0 += CHUNK) this.addChunk(X, t0, Math.min(CHUNK, T - t0));
    this.tokens += T;
  }

  private addChunk(X: Float32Array, t0: number, tc: number): void {
    const { K, g, xt, absMax } = this;
    // Transpose the chunk so each channel's tc values are contiguous: G[i][j] += dot(xt_i, xt_j).
    for (let t = 0; t < tc; t++) {
      const src = (t0 + t) * K;
      for (let k = 0; k < K; k++) {
        const v = X[src + k];
        xt[k * tc + t] = v;
        const a = Math.abs(v);
        if (a > absMax[k]) absMax[k] = a;
      }
    }
    // Upper triangle by row blocks: G[i0:i0+64, i0:] += xt[i0:i0+64]·xt[i0:]ᵀ. Entries below the
    // diagonal inside a block land in the lower triangle, which result() overwrites.
    for (let i0 = 0; i0 < K; i0 += 64) {
      gemmNT(Math.min(64, K - i0), K - i0, tc, xt, i0 * tc, tc, xt, i0 * tc, tc, g, i0 * K + i0, K, 1);
    }
  }

  /** The symmetric Gram matrix XᵀX [K, K] (a copy) and the token count. */
  result(): { gram: Float64Array; T: number } {
    const K = this.K;
    const out = Float64Array.from(this.g);
    for (let i = 0; i < K; i++) for (let j = 0; j < i; j++) out[i * K + j] = out[j * K + i];
    return { gram: out, T: this.tokens };
  }
}

/** Gram matrix of a whole activation matrix X [T, K] (convenience wrapper). */
export function gramOf(X: Float32Array, T: number, K: number): Float64Array {
  const acc = new GramAccumulator(K);
  acc.add(X, T);
  return acc.result().gram;
}

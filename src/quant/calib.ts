/**
 * Calibration data of one linear's input, and the derived matrices the methods need, computed
 * lazily and cached so the linears that share an input (q/k/v, gate/up) pay for them once:
 *  - the Gram matrix G = XᵀX;
 *  - GPTQ: Rt with H = R·Rᵀ (R upper, Rt = Rᵀ), H = 2G/T (+ damping, dead inputs fixed);
 *  - clip search: a factor Fc with G ≈ Fcᵀ·Fc, stored column-major by input ([K][r]) so the
 *    output error of a weight error e is ‖Σ_k e_k·Fc[k]‖² in O(r) per changed weight.
 */
import { gramOf } from './gram';
import { pivotedCholesky, ulCholeskyTransposed } from './linalg';

export type Calibration = { X: Float32Array; T: number } | { gram: Float64Array; T: number };

export interface GptqFactor {
  /** Lower triangular [K, K], Rt = Rᵀ where H = R·Rᵀ, R upper (so R⁻¹ is GPTQ's usual U, Uᵀ·U = H⁻¹). */
  Rt: Float64Array;
  /** 1 where the input never fired during calibration (diag G = 0): its weights are zeroed. */
  dead: Uint8Array;
  /** The absolute damping λ actually added to diag H. */
  lambda: number;
}

export interface ClipFactor {
  /** [K][r]: row k holds input k's coordinates in the r-dimensional "output error" space. */
  Fc: Float64Array;
  /** The same factor transposed, [r][K] (row t = token t when the factor is X itself). */
  FcT: Float64Array;
  r: number;
  /** Diagonal of G − Fcᵀ·Fc when the factor is a truncated one; null when exact. */
  residual: Float64Array | null;
}

export interface CalibOptions {
  /** Max rank of the clip-search factor (cost ∝ rank). Exact when T ≤ clipRank and X is given. */
  clipRank?: number;
}

export class CalibContext {
  readonly K: number;
  readonly T: number;
  private readonly X: Float32Array | null;
  private G: Float64Array | null;
  private readonly clipRank: number;
  private gptqCache = new Map<number, GptqFactor>();
  private clipCache: ClipFactor | null = null;
  private norms: Float64Array | null = null;

  constructor(calib: Calibration, K: number, opts: CalibOptions = {}) {
    this.K = K;
    this.T = calib.T;
    this.clipRank = opts.clipRank ?? 512;
    if ('X' in calib) {
      if (calib.X.length !== calib.T * K)
        throw new Error(`calibration: X has ${calib.X.length} values, expected T·K`);
      this.X = calib.X;
      this.G = null;
    } else {
      if (calib.gram.length !== K * K)
        throw new Error(`calibration: gram has ${calib.gram.length} values, expected K²`);
      this.X = null;
      this.G = calib.gram;
    }
    if (!(this.T > 0)) throw new Error('calibration: T must be positive');
  }

  gram(): Float64Array {
    if (!this.G) this.G = gramOf(this.X!, this.T, this.K);
    return this.G;
  }

  /** ‖X_k‖ = sqrt(G_kk): how strongly input k fires (weights the outlier choice). */
  colNorms(): Float64Array {
    if (!this.norms) {
      const K = this.K;
      const out = new Float64Array(K);
      if (this.X && !this.G) {
        for (let t = 0; t < this.T; t++) for (let k = 0; k < K; k++) out[k] += this.X[t * K + k] ** 2;
      } else {
        const G = this.gram();
        for (let k = 0; k < K; k++) out[k] = G[k * K + k];
      }
      for (let k = 0; k < K; k++) out[k] = Math.sqrt(out[k]);
      this.norms = out;
    }
    return this.norms;
  }

  /**
   * GPTQ's factor: H = 2G/T; inputs with H_kk = 0 get H_kk = 1 (and their weights are zeroed by
   * the caller, as in the reference GPTQ); λ = damp·mean(diag H) is added to the diagonal. If the
   * Cholesky still fails (numerically singular), λ is multiplied by 10, up to 4 times.
   */
  gptqFactor(damp = 0.01): GptqFactor {
    const cached = this.gptqCache.get(damp);
    if (cached) return cached;
    const K = this.K;
    const G = this.gram();
    const c = 2 / this.T;
    const dead = new Uint8Array(K);
    let mean = 0;
    for (let k = 0; k < K; k++) {
      const h = c * G[k * K + k];
      if (h === 0) dead[k] = 1;
      mean += h === 0 ? 1 : h;
    }
    mean /= K;
    let lambda = damp * mean;
    const H = new Float64Array(K * K);
    for (let attempt = 0; ; attempt++) {
      for (let i = 0; i < K * K; i++) H[i] = c * G[i];
      for (let k = 0; k < K; k++) H[k * K + k] = (dead[k] ? 1 : H[k * K + k]) + lambda;
      try {
        // In place: H's buffer becomes Rt, so the peak is G plus one K×K buffer.
        const Rt = ulCholeskyTransposed(H, K, true);
        const f = { Rt, dead, lambda };
        this.gptqCache.set(damp, f);
        return f;
      } catch (err) {
        if (attempt >= 4) throw err;
        lambda = lambda > 0 ? lambda * 10 : 1e-6 * mean;
      }
    }
  }

  /** Factor for the clip search's output-error objective (see ClipFactor). */
  clipFactor(): ClipFactor {
    if (this.clipCache) return this.clipCache;
    const { K, T } = this;
    if (this.X && T <= this.clipRank) {
      const Fc = new Float64Array(K * T);
      for (let t = 0; t < T; t++) for (let k = 0; k < K; k++) Fc[k * T + t] = this.X[t * K + k];
      this.clipCache = { Fc, FcT: Float64Array.from(this.X), r: T, residual: null };
    } else {
      const pc = pivotedCholesky(this.gram(), K, this.clipRank);
      const r = Math.max(1, pc.rank);
      const Fc = new Float64Array(K * r);
      for (let k = 0; k < K; k++) Fc.set(pc.F.subarray(k * pc.stride, k * pc.stride + r), k * r);
      const FcT = new Float64Array(r * K);
      for (let k = 0; k < K; k++) for (let t = 0; t < r; t++) FcT[t * K + k] = Fc[k * r + t];
      // Stopping before clipRank means the factor is exact to relTol; otherwise keep the diagonal remainder.
      const truncated = pc.rank >= Math.min(K, this.clipRank) && pc.rank < K;
      this.clipCache = { Fc, FcT, r, residual: truncated ? pc.residual : null };
    }
    return this.clipCache;
  }
}

export function toCalibContext(calib: Calibration | CalibContext, K: number): CalibContext {
  if (calib instanceof CalibContext) {
    if (calib.K !== K) throw new Error(`calibration has K=${calib.K}, the weight has K=${K}`);
    return calib;
  }
  return new CalibContext(calib, K);
}

/** Test helpers: a seeded RNG (failures reproduce from the printed seed) and synthetic layers. */

export { mulberry32 as makeRng } from '../../src/model/sampling-reference';

/** Seed from QUANT_SEED or the clock; printed so a failing run can be replayed. */
export function testSeed(name: string): number {
  const env = typeof process !== 'undefined' ? process.env.QUANT_SEED : undefined;
  const seed = env ? Number(env) : (Date.now() ^ (Math.random() * 0x7fffffff)) >>> 0;
  console.log(`[${name}] seed=${seed} (replay with QUANT_SEED=${seed})`);
  return seed;
}

export function gaussian(rng: () => number): number {
  let u = 0;
  while (u === 0) u = rng();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
}

export function randn(rng: () => number, n: number, std = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = std * gaussian(rng);
  return out;
}

/** LLM-like weights: Gaussian with a sprinkle of heavy-tailed entries (×4–8). */
export function heavyWeights(rng: () => number, N: number, K: number, std = 0.02): Float32Array {
  const W = randn(rng, N * K, std);
  for (let i = 0; i < W.length; i++) if (rng() < 0.002) W[i] *= 4 + 4 * rng();
  return W;
}

/**
 * A source of correlated, outlier-heavy activations [T, K]: a low-rank shared component (rank m,
 * fixed mixing matrix) plus independent noise, and a few channels scaled ×outlierScale. Samples
 * from one source share the distribution, so calibration and held-out sets can be drawn apart.
 */
export function activationSource(
  rng: () => number,
  K: number,
  opts: { rank?: number; outliers?: number; outlierScale?: number; noise?: number; dead?: number } = {},
): { sample: (T: number) => Float32Array; outlierChannels: number[]; deadChannels: number[] } {
  const m = opts.rank ?? 8;
  const A = randn(rng, m * K, 1);
  const noise = opts.noise ?? 0.5;
  const pick = (count: number, avoid: number[]) => {
    const out: number[] = [];
    while (out.length < count) {
      const c = Math.floor(rng() * K);
      if (!out.includes(c) && !avoid.includes(c)) out.push(c);
    }
    return out;
  };
  const outlierChannels = pick(Math.min(K, opts.outliers ?? 4), []);
  const deadChannels = pick(Math.min(K - outlierChannels.length, opts.dead ?? 0), outlierChannels);
  const sc = opts.outlierScale ?? 20;
  const z = new Float64Array(m);
  const sample = (T: number) => {
    const X = new Float32Array(T * K);
    for (let t = 0; t < T; t++) {
      for (let i = 0; i < m; i++) z[i] = gaussian(rng);
      for (let k = 0; k < K; k++) {
        let v = noise * gaussian(rng);
        for (let i = 0; i < m; i++) v += (z[i] * A[i * K + k]) / Math.sqrt(m);
        X[t * K + k] = v;
      }
      for (const c of outlierChannels) X[t * K + c] *= sc;
      for (const c of deadChannels) X[t * K + c] = 0;
    }
    return X;
  };
  return { sample, outlierChannels, deadChannels };
}

/** One sample of activationSource (calibration and evaluation on the same tokens). */
export function correlatedActivations(
  rng: () => number,
  T: number,
  K: number,
  opts: { rank?: number; outliers?: number; outlierScale?: number; noise?: number } = {},
): { X: Float32Array; outlierChannels: number[] } {
  const src = activationSource(rng, K, opts);
  return { X: src.sample(T), outlierChannels: src.outlierChannels };
}

/** ‖(W − Wq)·Xᵀ‖² / ‖W·Xᵀ‖², computed directly (independent of the library's factorizations). */
export function outputError(
  W: Float32Array,
  Wq: Float32Array,
  X: Float32Array,
  N: number,
  K: number,
  T: number,
): number {
  let num = 0;
  let den = 0;
  for (let n = 0; n < N; n++) {
    for (let t = 0; t < T; t++) {
      let a = 0;
      let e = 0;
      for (let k = 0; k < K; k++) {
        const x = X[t * K + k];
        a += W[n * K + k] * x;
        e += (W[n * K + k] - Wq[n * K + k]) * x;
      }
      num += e * e;
      den += a * a;
    }
  }
  return num / den;
}

export function weightMse(W: Float32Array, Wq: Float32Array): number {
  let s = 0;
  for (let i = 0; i < W.length; i++) s += (W[i] - Wq[i]) ** 2;
  return s / W.length;
}

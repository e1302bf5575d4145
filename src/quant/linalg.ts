/**
 * The little dense linear algebra GPTQ and clip search need, on row-major Float64Arrays.
 * Written for 4096×4096 in plain JS: row-block ("left-looking") loops so each row read from memory
 * is reused by a block of rows while it is in cache, contiguous inner loops, no allocation inside.
 */

const BLOCK = 16;
const KT = 256; // k-tile of gemmNT: a 128-row B tile of 256 f64 (256 KiB) stays in L2

/**
 * C[i, j] += alpha · Σ_{k<kLen} A[i, k]·B[j, k] for i < m, j < nc ("A·Bᵀ", both operands read
 * along contiguous rows): element (i, k) of A is A[aOff + i·lda + k], likewise B and C.
 * A 4×2 register block (8 accumulators, 6 loads per 8 multiply-adds) and k-tiling keep it
 * compute-bound in plain JS. C must not overlap the parts of A and B that are read.
 */
export function gemmNT(
  m: number,
  nc: number,
  kLen: number,
  A: Float64Array,
  aOff: number,
  lda: number,
  B: Float64Array,
  bOff: number,
  ldb: number,
  C: Float64Array,
  cOff: number,
  ldc: number,
  alpha: number,
): void {
  for (let k0 = 0; k0 < kLen; k0 += KT) {
    const k1 = Math.min(kLen, k0 + KT);
    let i = 0;
    for (; i + 3 < m; i += 4) {
      const a0 = aOff + i * lda;
      const a1 = a0 + lda;
      const a2 = a1 + lda;
      const a3 = a2 + lda;
      const c0 = cOff + i * ldc;
      let j = 0;
      for (; j + 1 < nc; j += 2) {
        const b0 = bOff + j * ldb;
        const b1 = b0 + ldb;
        let s00 = 0;
        let s01 = 0;
        let s10 = 0;
        let s11 = 0;
        let s20 = 0;
        let s21 = 0;
        let s30 = 0;
        let s31 = 0;
        for (let k = k0; k < k1; k++) {
          const x0 = B[b0 + k];
          const x1 = B[b1 + k];
          const y0 = A[a0 + k];
          s00 += y0 * x0;
          s01 += y0 * x1;
          const y1 = A[a1 + k];
          s10 += y1 * x0;
          s11 += y1 * x1;
          const y2 = A[a2 + k];
          s20 += y2 * x0;
          s21 += y2 * x1;
          const y3 = A[a3 + k];
          s30 += y3 * x0;
          s31 += y3 * x1;
        }
        const c = c0 + j;
        C[c] += alpha * s00;
        C[c + 1] += alpha * s01;
        C[c + ldc] += alpha * s10;
        C[c + ldc + 1] += alpha * s11;
        C[c + 2 * ldc] += alpha * s20;
        C[c + 2 * ldc + 1] += alpha * s21;
        C[c + 3 * ldc] += alpha * s30;
        C[c + 3 * ldc + 1] += alpha * s31;
      }
      for (; j < nc; j++) {
        const b0 = bOff + j * ldb;
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        for (let k = k0; k < k1; k++) {
          const x0 = B[b0 + k];
          s0 += A[a0 + k] * x0;
          s1 += A[a1 + k] * x0;
          s2 += A[a2 + k] * x0;
          s3 += A[a3 + k] * x0;
        }
        const c = c0 + j;
        C[c] += alpha * s0;
        C[c + ldc] += alpha * s1;
        C[c + 2 * ldc] += alpha * s2;
        C[c + 3 * ldc] += alpha * s3;
      }
    }
    for (; i < m; i++) {
      const a0 = aOff + i * lda;
      for (let j = 0; j < nc; j++) {
        const b0 = bOff + j * ldb;
        let s0 = 0;
        for (let k = k0; k < k1; k++) s0 += A[a0 + k] * B[b0 + k];
        C[cOff + i * ldc + j] += alpha * s0;
      }
    }
  }
}

const NB = 64; // Cholesky panel width

/**
 * In-place Cholesky A = L·Lᵀ of a symmetric positive definite n×n matrix: on return the lower
 * triangle (with diagonal) holds L and the strict upper triangle is zeroed. Only the lower
 * triangle of A is read. Throws if a pivot is not positive (A not numerically PD).
 * Left-looking by panels of NB columns: the bulk (n³/6) is one gemmNT per panel,
 * A[j0:, J] −= L[j0:, :j0]·L[J, :j0]ᵀ, then a small unblocked factorization inside the panel.
 */
export function choleskyInPlace(A: Float64Array, n: number): void {
  if (A.length < n * n) throw new Error('cholesky: matrix too small');
  for (let j0 = 0; j0 < n; j0 += NB) {
    const j1 = Math.min(n, j0 + NB);
    if (j0 > 0) gemmNT(n - j0, j1 - j0, j0, A, j0 * n, n, A, j0 * n, n, A, j0 * n + j0, n, -1);
    // Diagonal block, then every row below it (row-wise, so a row's panel slice stays in L1).
    for (let i = j0; i < n; i++) {
      const ri = i * n;
      const jEnd = i < j1 ? i + 1 : j1;
      for (let j = j0; j < jEnd; j++) {
        const rj = j * n;
        let s = A[ri + j];
        for (let k = j0; k < j; k++) s -= A[ri + k] * A[rj + k];
        if (i === j) {
          if (!(s > 0)) throw new Error(`cholesky: matrix is not positive definite (pivot ${j}: ${s})`);
          A[ri + j] = Math.sqrt(s);
        } else {
          A[ri + j] = s / A[rj + j];
        }
      }
    }
  }
  for (let i = 0; i < n; i++) A.fill(0, i * n + i + 1, (i + 1) * n);
}

/**
 * H = R·Rᵀ with R upper triangular (a "UL" Cholesky), returned as Rt = Rᵀ (lower, row-major, so
 * column j of R is the contiguous row j of Rt). Computed as the Cholesky L̃ of P·H·P (P = index
 * reversal, a flat reversal of the array): R = P·L̃·P, i.e. Rt[i, l] = L̃[n−1−l, n−1−i], done in
 * place. GPTQ needs exactly this: with U = R⁻¹ (so Uᵀ·U = H⁻¹, GPTQ's usual factor), the value of
 * column i when it is quantized is w_i + Σ_{l<i} (w_l − q_l)·R[l, i] / R[i, i] — no inverse needed.
 * Cost n³/6. With inPlace the result overwrites H (no second n×n buffer); otherwise H is kept.
 */
export function ulCholeskyTransposed(H: Float64Array, n: number, inPlace = false): Float64Array {
  const A = inPlace ? H.subarray(0, n * n).reverse() : Float64Array.from(H.subarray(0, n * n)).reverse();
  choleskyInPlace(A, n);
  // Anti-transpose (i, l) ↔ (n−1−l, n−1−i): maps the lower triangle onto itself; swap each pair once.
  for (let i = 0; i < n; i++) {
    for (let l = 0; l <= i; l++) {
      const a = i * n + l;
      const b = (n - 1 - l) * n + (n - 1 - i);
      if (a < b) {
        const t = A[a];
        A[a] = A[b];
        A[b] = t;
      }
    }
  }
  return A;
}

/**
 * In-place inverse of a lower-triangular n×n matrix (strict upper triangle must be zero and stays
 * zero). Row i of M = L⁻¹: M[i,i] = 1/L[i,i], M[i,j] = −(Σ_{j≤k<i} L[i,k]·M[k,j]) / L[i,i], computed
 * as axpys of finished rows M[k,:] so the inner loop is contiguous; a block of rows shares each
 * M[k,:] load.
 */
export function invertLowerInPlace(L: Float64Array, n: number): void {
  const tmp = new Float64Array(BLOCK * n);
  for (let i0 = 0; i0 < n; i0 += BLOCK) {
    const i1 = Math.min(n, i0 + BLOCK);
    // Move the block's rows of L aside; their storage becomes the accumulators of M's rows.
    for (let i = i0; i < i1; i++) {
      tmp.set(L.subarray(i * n, i * n + i + 1), (i - i0) * n);
      L.fill(0, i * n, i * n + i + 1);
    }
    for (let k = 0; k < i1; k++) {
      const rk = k * n;
      if (k >= i0) {
        // Every contribution to row k (from rows < k) is in: finish it.
        const lkk = tmp[(k - i0) * n + k];
        if (!(lkk !== 0)) throw new Error(`invertLower: zero diagonal at ${k}`);
        const inv = 1 / lkk;
        for (let j = 0; j < k; j++) L[rk + j] = -L[rk + j] * inv;
        L[rk + k] = inv;
      }
      for (let i = Math.max(k + 1, i0); i < i1; i++) {
        const c = tmp[(i - i0) * n + k];
        if (c === 0) continue;
        const ri = i * n;
        for (let j = 0; j <= k; j++) L[ri + j] += c * L[rk + j];
      }
    }
  }
}

/**
 * The upper-triangular U with Uᵀ·U = H⁻¹ (the "Cholesky factor of the inverse Hessian, upper" of
 * GPTQ), without forming H⁻¹: with P the index reversal, P·H·P = L̃·L̃ᵀ gives
 * H⁻¹ = (P·L̃⁻¹·P)ᵀ·(P·L̃⁻¹·P), and P·M·P of a row-major matrix is just its flat reversal.
 * Cost n³/3 (one Cholesky + one triangular inverse) instead of n³ for inverse-then-Cholesky.
 * H is not modified. (GPTQ itself uses the cheaper ulCholeskyTransposed, U = R⁻¹; this is kept for
 * callers that want the reference implementation's factor.)
 */
export function inverseCholeskyUpper(H: Float64Array, n: number): Float64Array {
  const A = new Float64Array(n * n);
  for (let i = 0; i < n * n; i++) A[i] = H[n * n - 1 - i];
  choleskyInPlace(A, n);
  invertLowerInPlace(A, n);
  A.reverse();
  return A;
}

/**
 * Pivoted (rank-revealing) partial Cholesky of a symmetric PSD n×n matrix G:
 * G ≈ F·Fᵀ with F [n, r] stored row-major (row k = the k-th input's coordinates), taking the
 * largest remaining diagonal each step and stopping at maxRank or when the largest remaining
 * diagonal falls below relTol·max(diag G). `residual` is the diagonal of G − F·Fᵀ (≥ 0): clip
 * search adds Σ residual_k·e_k² for what the truncated factor misses. Cost n·r².
 */
export function pivotedCholesky(
  G: Float64Array,
  n: number,
  maxRank: number,
  relTol = 1e-12,
): { F: Float64Array; rank: number; stride: number; residual: Float64Array } {
  const rmax = Math.max(1, Math.min(n, maxRank));
  const F = new Float64Array(n * rmax);
  const d = new Float64Array(n);
  let dmax0 = 0;
  for (let k = 0; k < n; k++) {
    d[k] = G[k * n + k];
    if (d[k] > dmax0) dmax0 = d[k];
  }
  const used = new Uint8Array(n);
  let r = 0;
  for (; r < rmax; r++) {
    let p = -1;
    let best = dmax0 * relTol;
    for (let k = 0; k < n; k++) {
      if (!used[k] && d[k] > best) {
        best = d[k];
        p = k;
      }
    }
    if (p < 0) break;
    used[p] = 1;
    const lp = Math.sqrt(d[p]);
    const rp = p * rmax;
    for (let k = 0; k < n; k++) {
      if (used[k] && k !== p) continue; // already pivoted: their column entries are final (zero residual)
      const rk = k * rmax;
      let s = G[k * n + p];
      for (let u = 0; u < r; u++) s -= F[rk + u] * F[rp + u];
      const v = k === p ? lp : s / lp;
      F[rk + r] = v;
      d[k] = k === p ? 0 : Math.max(0, d[k] - v * v);
    }
  }
  return { F, rank: r, stride: rmax, residual: d };
}

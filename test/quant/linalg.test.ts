import { describe, expect, it } from 'vitest';
import { GramAccumulator, gramOf } from '../../src/quant/gram';
import {
  choleskyInPlace,
  inverseCholeskyUpper,
  invertLowerInPlace,
  pivotedCholesky,
} from '../../src/quant/linalg';
import { makeRng, randn, testSeed } from './helpers';

function matmul(A: Float64Array, B: Float64Array, n: number): Float64Array {
  const C = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let k = 0; k < n; k++) for (let j = 0; j < n; j++) C[i * n + j] += A[i * n + k] * B[k * n + j];
  return C;
}
function transpose(A: Float64Array, n: number): Float64Array {
  const T = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) T[j * n + i] = A[i * n + j];
  return T;
}
function randomSpd(rng: () => number, n: number): Float64Array {
  const X = randn(rng, 2 * n * n);
  const G = gramOf(X, 2 * n, n);
  for (let i = 0; i < n; i++) G[i * n + i] += 0.1;
  return G;
}
function maxAbsDiffFromIdentity(M: Float64Array, n: number): number {
  let m = 0;
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) m = Math.max(m, Math.abs(M[i * n + j] - (i === j ? 1 : 0)));
  return m;
}

describe('linalg', () => {
  const seed = testSeed('linalg');

  it('Cholesky of the textbook 3×3 example', () => {
    const A = Float64Array.from([4, 12, -16, 12, 37, -43, -16, -43, 98]);
    choleskyInPlace(A, 3);
    expect(Array.from(A)).toEqual([2, 0, 0, 6, 1, 0, -8, 5, 3]);
    invertLowerInPlace(A, 3);
    const L = Float64Array.from([2, 0, 0, 6, 1, 0, -8, 5, 3]);
    expect(maxAbsDiffFromIdentity(matmul(L, A, 3), 3)).toBeLessThan(1e-14);
    // L⁻¹ by hand: [[1/2,0,0],[−3,1,0],[(−8·... )]]: check two entries
    expect(A[0]).toBe(0.5);
    expect(A[3]).toBe(-3);
  });

  it('Cholesky and triangular inverse on random SPD matrices (across block boundaries)', () => {
    const rng = makeRng(seed);
    for (const n of [1, 5, 16, 17, 37, 70]) {
      const A = randomSpd(rng, n);
      const L = Float64Array.from(A);
      choleskyInPlace(L, n);
      for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) expect(L[i * n + j]).toBe(0);
      const LLt = matmul(L, transpose(L, n), n);
      let d = 0;
      for (let i = 0; i < n * n; i++) d = Math.max(d, Math.abs(LLt[i] - A[i]));
      expect(d).toBeLessThan(1e-10 * n);
      const M = Float64Array.from(L);
      invertLowerInPlace(M, n);
      expect(maxAbsDiffFromIdentity(matmul(L, M, n), n)).toBeLessThan(1e-10);
    }
  });

  it('inverseCholeskyUpper: U upper and UᵀU·H = I', () => {
    const rng = makeRng(seed + 1);
    for (const n of [3, 33, 64]) {
      const H = randomSpd(rng, n);
      const U = inverseCholeskyUpper(H, n);
      for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) expect(U[i * n + j]).toBe(0);
      for (let i = 0; i < n; i++) expect(U[i * n + i]).toBeGreaterThan(0);
      expect(maxAbsDiffFromIdentity(matmul(matmul(transpose(U, n), U, n), H, n), n)).toBeLessThan(1e-8);
    }
  });

  it('Cholesky rejects a matrix that is not positive definite', () => {
    expect(() => choleskyInPlace(Float64Array.from([1, 2, 2, 1]), 2)).toThrow(/positive definite/);
  });

  it('pivoted Cholesky finds the exact rank of a low-rank Gram matrix', () => {
    const rng = makeRng(seed + 2);
    const K = 20;
    const T = 5;
    const G = gramOf(randn(rng, T * K), T, K);
    const { F, rank, stride, residual } = pivotedCholesky(G, K, K, 1e-10);
    expect(rank).toBe(T);
    for (let i = 0; i < K; i++) {
      for (let j = 0; j < K; j++) {
        let s = 0;
        for (let u = 0; u < rank; u++) s += F[i * stride + u] * F[j * stride + u];
        expect(Math.abs(s - G[i * K + j])).toBeLessThan(1e-9 * (1 + Math.abs(G[i * K + j])));
      }
      expect(residual[i]).toBeLessThan(1e-8);
    }
  });

  it('GramAccumulator over chunks equals XᵀX, and tracks per-channel absmax', () => {
    const rng = makeRng(seed + 3);
    const K = 13;
    const X = randn(rng, 150 * K);
    const acc = new GramAccumulator(K);
    acc.add(X.subarray(0, 70 * K), 70);
    acc.add(X.subarray(70 * K), 80);
    const { gram, T } = acc.result();
    expect(T).toBe(150);
    for (let i = 0; i < K; i++) {
      let am = 0;
      for (let t = 0; t < 150; t++) am = Math.max(am, Math.abs(X[t * K + i]));
      expect(acc.absMax[i]).toBe(am);
      for (let j = 0; j < K; j++) {
        let s = 0;
        for (let t = 0; t < 150; t++) s += X[t * K + i] * X[t * K + j];
        expect(gram[i * K + j]).toBeCloseTo(s, 9);
      }
    }
  });
});

/**
 * Comparisons for kernel tests, usable in Node (vitest) and in the browser test page alike:
 * they throw an Error describing the first mismatches instead of using a test framework.
 */

export interface Tolerance {
  /** |a - e| <= atol + rtol * |e| element-wise. */
  rtol: number;
  atol: number;
}

export function expectClose(
  what: string,
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: Tolerance,
): void {
  if (actual.length !== expected.length) {
    throw new Error(`${what}: length ${actual.length}, expected ${expected.length}`);
  }
  const bad: string[] = [];
  let nBad = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    // NaN (an unwritten, poisoned element) never passes.
    if (!(Math.abs(a - e) <= tol.atol + tol.rtol * Math.abs(e))) {
      nBad++;
      if (bad.length < 5) bad.push(`[${i}] got ${a}, expected ${e}`);
    }
  }
  if (nBad) {
    throw new Error(
      `${what}: ${nBad}/${expected.length} elements outside rtol=${tol.rtol} atol=${tol.atol}: ${bad.join('; ')}`,
    );
  }
}

export function expectEqual(what: string, actual: ArrayLike<number>, expected: ArrayLike<number>): void {
  expectClose(what, actual, expected, { rtol: 0, atol: 0 });
}

/** The seedable PRNG of the CPU sampling reference; tests print the seed so a failure can be replayed. */
export { mulberry32 as rng } from '../../src/model/sampling-reference';

/** A fresh seed per run: inputs differ every time, but a failing seed is reported. */
export function freshSeed(): number {
  return (Math.random() * 2 ** 32) >>> 0;
}

export function randomF32(n: number, next: () => number, lo = -1, hi = 1): Float32Array<ArrayBuffer> {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * next();
  return out;
}

export function randomU32(n: number, next: () => number): Uint32Array<ArrayBuffer> {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = (next() * 4294967296) >>> 0;
  return out;
}

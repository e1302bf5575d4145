import { describe, expect, it } from 'vitest';
import {
  applyRepetitionPenalty,
  applyTemperature,
  argmax,
  mulberry32,
  processLogits,
  sampleFromProbs,
  sampleToken,
  softmax,
  topKFilter,
  topPFilter,
} from '../../src/model/sampling-reference';

const NEG = Number.NEGATIVE_INFINITY;

function randomLogits(rng: () => number, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => (rng() - 0.5) * 10);
}

describe('sampling reference', () => {
  it('is deterministic for a seed', () => {
    const logits = randomLogits(mulberry32(1), 100);
    const run = (seed: number) => {
      const rng = mulberry32(seed);
      return Array.from({ length: 50 }, () => sampleToken(logits, { temperature: 1.3, topP: 0.95 }, [], rng));
    };
    expect(run(42)).toEqual(run(42));
    expect(run(42)).not.toEqual(run(43));
    const a = mulberry32(7);
    const b = mulberry32(7);
    for (let i = 0; i < 10; i++) {
      const x = a();
      expect(x).toBe(b());
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThan(1);
    }
  });

  it('argmax takes the first maximum', () => {
    expect(argmax(new Float32Array([1, 3, 3, 2]))).toBe(1);
    expect(argmax(new Float32Array([NEG, -5]))).toBe(1);
  });

  it('top-k = 1 equals argmax', () => {
    const rng = mulberry32(3);
    for (let trial = 0; trial < 50; trial++) {
      const logits = randomLogits(rng, 64);
      expect(sampleToken(logits, { temperature: 2, topK: 1 }, [], rng)).toBe(argmax(logits));
    }
  });

  it('tiny top-p equals argmax', () => {
    const rng = mulberry32(4);
    for (let trial = 0; trial < 50; trial++) {
      const logits = randomLogits(rng, 64);
      expect(sampleToken(logits, { temperature: 1.5, topP: 1e-6 }, [], rng)).toBe(argmax(logits));
    }
  });

  it('temperature <= 0 is greedy (after the repetition penalty)', () => {
    const logits = new Float32Array([1, 5, 4]);
    expect(sampleToken(logits, { temperature: 0 }, [], mulberry32(1))).toBe(1);
    expect(sampleToken(logits, { temperature: 0, repetitionPenalty: 2 }, [1], mulberry32(1))).toBe(2);
    expect(processLogits(logits, { temperature: 0 }, [])).toBeNull();
  });

  it('repetition penalty divides positive and multiplies negative logits, once per id (HF)', () => {
    const logits = new Float32Array([2, -2, 1, 0.5]);
    const out = applyRepetitionPenalty(logits, [0, 1, 1, 1], 2);
    expect([...out]).toEqual([1, -4, 1, 0.5]);
    expect([...logits]).toEqual([2, -2, 1, 0.5]); // input untouched
  });

  it('temperature divides the logits', () => {
    expect([...applyTemperature(new Float32Array([2, -1]), 0.5)]).toEqual([4, -2]);
  });

  it('top-k keeps ties with the k-th value', () => {
    expect([...topKFilter(new Float32Array([1, 3, 2, 2, 0]), 2)]).toEqual([NEG, 3, 2, 2, NEG]);
  });

  it('top-p keeps the smallest set reaching p (HF TopPLogitsWarper)', () => {
    const logits = Float32Array.from([0.5, 0.3, 0.15, 0.05], Math.log);
    // ascending cumulative: 0.05, 0.2, 0.5, 1 -> drop those <= 1 - 0.75 = 0.25
    expect([...topPFilter(logits, 0.75)].map(Number.isFinite)).toEqual([true, true, false, false]);
    expect([...topPFilter(logits, 0.96)].map(Number.isFinite)).toEqual([true, true, true, true]);
    expect([...topPFilter(logits, 0.4)].map(Number.isFinite)).toEqual([true, false, false, false]);
  });

  it('draws by inverse CDF in index order', () => {
    const probs = new Float32Array([0.25, 0, 0.5, 0.25]);
    expect(sampleFromProbs(probs, 0)).toBe(0);
    expect(sampleFromProbs(probs, 0.2499)).toBe(0);
    expect(sampleFromProbs(probs, 0.25)).toBe(2);
    expect(sampleFromProbs(probs, 0.7499)).toBe(2);
    expect(sampleFromProbs(probs, 0.75)).toBe(3);
    expect(sampleFromProbs(probs, 0.999999)).toBe(3);
    const p = softmax(new Float32Array([0, Math.log(3)]));
    expect(p[1]).toBeCloseTo(0.75, 6);
  });

  it('sample frequencies follow the distribution', () => {
    const logits = Float32Array.from([0.6, 0.3, 0.1], Math.log);
    const rng = mulberry32(123);
    const counts = [0, 0, 0];
    for (let i = 0; i < 20000; i++) counts[sampleToken(logits, {}, [], rng)]++;
    expect(counts[0] / 20000).toBeCloseTo(0.6, 1);
    expect(counts[1] / 20000).toBeCloseTo(0.3, 1);
    expect(counts[2] / 20000).toBeCloseTo(0.1, 1);
  });
});

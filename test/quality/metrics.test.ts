import { describe, expect, it } from 'vitest';
import { klDivergence, logSoftmax, perplexity, quantile } from '../../src/quality/metrics';
import { compareModels, type LogitsModel } from '../../src/quality/quality';

/** A model whose logits at position p of a session are fn(p, token) — no real network needed. */
function fakeModel(
  vocabSize: number,
  maxPositionEmbeddings: number,
  fn: (pos: number, token: number) => number[],
  sessions: number[] = [],
): LogitsModel {
  return {
    config: { vocabSize, maxPositionEmbeddings },
    newSession(maxContext) {
      sessions.push(maxContext);
      let pos = 0;
      return {
        forward(tokens) {
          if (pos + tokens.length > maxContext) throw new Error('context full');
          const out = new Float32Array(tokens.length * vocabSize);
          for (let r = 0; r < tokens.length; r++) out.set(fn(pos + r, tokens[r]), r * vocabSize);
          pos += tokens.length;
          return out;
        },
      };
    },
  };
}

describe('metrics', () => {
  it('logSoftmax is stable and normalized', () => {
    const lp = logSoftmax([1000, 1000 + Math.log(3)]);
    expect(lp[0]).toBeCloseTo(Math.log(1 / 4), 12);
    expect(lp[1]).toBeCloseTo(Math.log(3 / 4), 12);
    expect(logSoftmax([-Infinity, 0])[0]).toBe(-Infinity);
  });

  it('KL of identical distributions is 0', () => {
    const p = logSoftmax([0.3, -1.2, 2.5, 0.01]);
    expect(klDivergence(p, p)).toBe(0);
  });

  it('KL of known distributions matches a hand computation', () => {
    // P = (1/2, 1/4, 1/4), Q = (1/4, 1/2, 1/4):
    // KL = 1/2·ln 2 + 1/4·ln(1/2) + 0 = ln(2)/4 ≈ 0.1732868 nats.
    const P = Float64Array.from([1 / 2, 1 / 4, 1 / 4], Math.log);
    const Q = Float64Array.from([1 / 4, 1 / 2, 1 / 4], Math.log);
    expect(klDivergence(P, Q)).toBeCloseTo(Math.log(2) / 4, 14);
    expect(klDivergence(Q, P)).toBeCloseTo(Math.log(2) / 4, 14); // symmetric by construction here
    // Asymmetric case: P = (0.9, 0.1), Q = (0.5, 0.5): 0.9·ln1.8 + 0.1·ln0.2 ≈ 0.3680642.
    const kl = klDivergence(logSoftmax([Math.log(0.9), Math.log(0.1)]), logSoftmax([0, 0]));
    expect(kl).toBeCloseTo(0.9 * Math.log(1.8) + 0.1 * Math.log(0.2), 12);
    expect(kl).toBeCloseTo(0.3680642, 6);
  });

  it('KL: p = 0 terms vanish; q = 0 where p > 0 is infinite', () => {
    const P = Float64Array.from([1, 0], Math.log);
    const Q = Float64Array.from([0.5, 0.5], Math.log);
    expect(klDivergence(P, Q)).toBeCloseTo(Math.log(2), 14);
    expect(klDivergence(Q, P)).toBe(Infinity);
  });

  it('quantile interpolates like numpy', () => {
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantile([5, 1, 3], 1)).toBe(5);
    expect(
      quantile(
        Array.from({ length: 101 }, (_, i) => i),
        0.99,
      ),
    ).toBe(99);
  });

  it('perplexity is exp(mean NLL)', () => {
    expect(perplexity([Math.log(4), Math.log(16)])).toBeCloseTo(8, 12);
  });
});

describe('compareModels', () => {
  const tokens = Array.from({ length: 40 }, (_, i) => (i * 7) % 16);

  it('a uniform model has perplexity = vocab size; a model vs itself has KL 0, top-1 1', async () => {
    const uniform = fakeModel(16, 512, () => new Array(16).fill(0));
    const r = await compareModels(uniform, uniform, tokens);
    expect(r.tokens).toBe(39);
    expect(r.pplRef).toBeCloseTo(16, 10);
    expect(r.pplTest).toBeCloseTo(16, 10);
    expect(r.klMean).toBe(0);
    expect(r.klP99).toBe(0);
    expect(r.top1Agreement).toBe(1);
  });

  it('scores every position against the actual next token, across windows and chunks', async () => {
    // An oracle that puts probability 3/4 on the true next token: ppl = 4/3 whatever the windows.
    const next = (pos: number) => tokens[pos + 1] ?? 0;
    const oracle = (pos: number) => {
      const l = new Array(16).fill(0);
      l[next(pos)] = Math.log(3 * 15); // p = 45 / (45 + 15) = 3/4
      return l;
    };
    const sessions: number[] = [];
    const ref = fakeModel(16, 16, oracle, sessions);
    const uniform = fakeModel(16, 512, () => new Array(16).fill(0));
    const r = await compareModels(ref, uniform, tokens, { chunk: 5 });
    expect(r.windows).toBe(3); // 39 positions in windows of min(16, 512) = 16
    expect(sessions).toEqual([16, 16, 7]);
    expect(r.pplRef).toBeCloseTo(4 / 3, 5);
    expect(r.pplTest).toBeCloseTo(16, 10);
    // KL(P ‖ uniform) = ln 16 − H(P), H(P) = −(3/4 ln 3/4 + 15·(1/60) ln(1/60)).
    const H = -(0.75 * Math.log(0.75) + 0.25 * Math.log(1 / 60));
    expect(r.klMean).toBeCloseTo(Math.log(16) - H, 6);
    expect(r.top1Agreement).toBeLessThan(1);
  });

  it('rejects mismatched vocabularies and too-short texts', async () => {
    const a = fakeModel(16, 8, () => new Array(16).fill(0));
    const b = fakeModel(17, 8, () => new Array(17).fill(0));
    await expect(compareModels(a, b, tokens)).rejects.toThrow(/vocab/);
    await expect(compareModels(a, a, [1])).rejects.toThrow(/2 tokens/);
  });
});

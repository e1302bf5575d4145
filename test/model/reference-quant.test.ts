import { beforeAll, describe, expect, it } from 'vitest';
import type { Checkpoint } from '../../src/format/checkpoint';
import { openHfCheckpoint } from '../../src/format/hf-checkpoint';
import { greedy, quantizeActivationsInt8, ReferenceModel, roundHalfEven } from '../../src/model/reference';
import { directorySource } from '../../src/node/file-source';
import { TextTokenizer } from '../../src/tokenizer/tokenizer';
import { TINYSTORIES } from '../helpers/models';

const MODEL_DIR = TINYSTORIES;
const f = Math.fround;

describe('quantizeActivationsInt8 (the W4A8 kernels’ per-token activation quantizer)', () => {
  it('rounds half to even like WGSL round()', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4, -2.6].map(roundHalfEven)).toEqual([
      0, 2, 2, -0, -2, -2, 2, -3,
    ]);
  });

  it('hand-checked row with s = 1: q = round(x), ties to even', () => {
    // max|x| = 127 → s = 1, 1/s = 1, so q is x rounded half to even.
    const x = new Float32Array([127, 2.5, -3.5, 0.5, 1.5, -126.49, 0]);
    expect([...quantizeActivationsInt8(x, 1, x.length)]).toEqual([127, 2, -4, 0, 2, -126, 0]);
  });

  it('hand-checked row with s = 1/127: values snap to multiples of s', () => {
    const x = new Float32Array([1, 0.3, -0.2]);
    const s = f(1 / 127);
    // 0.3·127 = 38.1 → 38;  −0.2·127 = −25.4 → −25
    expect([...quantizeActivationsInt8(x, 1, 3)]).toEqual([f(127 * s), f(38 * s), f(-25 * s)]);
  });

  it('multiplies by fround(1/s) like the GPU, not divides by s', () => {
    // Found by search: x·fround(1/s) rounds to exactly −126.5 (→ −126, even), while x/s in exact
    // arithmetic is −126.50000041 (→ −127). The kernel computes the former.
    const max = 0.5000100135803223;
    const x = -0.49804145097732544;
    const s = f(max / 127);
    expect(f(x * f(1 / s))).toBe(-126.5);
    expect(roundHalfEven(x / s)).toBe(-127);
    const y = quantizeActivationsInt8(new Float32Array([max, x]), 1, 2);
    expect(y[1]).toBe(f(-126 * s));
    expect(y[0]).toBe(f(127 * s));
  });

  it('quantizes each row on its own; an all-zero row stays zero', () => {
    const x = new Float32Array([0, 0, 0, 10, -5, 1.23]);
    const y = quantizeActivationsInt8(x, 2, 3);
    expect([...y.subarray(0, 3)]).toEqual([0, 0, 0]);
    const s = f(10 / 127);
    expect(y[3]).toBe(f(127 * s));
    expect(y[4]).toBe(f(-64 * s)); // −5·fround(1/s) is exactly −63.5 → −64 (ties to even)
    expect(y[5]).toBe(f(roundHalfEven(f(f(1.23) * f(1 / s))) * s));
    expect(x[3]).toBe(10); // input untouched
  });
});

describe('reference with activationQuant on tinystories-656k', () => {
  let ckpt: Checkpoint;
  let fp: ReferenceModel;
  let a8: ReferenceModel;
  let tok: TextTokenizer;

  beforeAll(async () => {
    ckpt = await openHfCheckpoint(directorySource(MODEL_DIR));
    fp = await ReferenceModel.load(ckpt);
    a8 = await ReferenceModel.load(ckpt, { activationQuant: 'int8-per-token' });
    tok = TextTokenizer.fromFiles(ckpt.tokenizer);
  });

  it('changes the logits slightly, not the story', () => {
    const prompt = tok.encode('Once upon a time, there was a big dog.');
    const a = fp.newSession(64).forward(prompt, { allLogits: true });
    const b = a8.newSession(64).forward(prompt, { allLogits: true });
    let scale = 0;
    let diff = 0;
    for (let i = 0; i < a.length; i++) {
      scale = Math.max(scale, Math.abs(a[i]));
      diff = Math.max(diff, Math.abs(a[i] - b[i]));
    }
    expect(diff).toBeGreaterThan(0);
    expect(diff / scale).toBeLessThan(0.05);
    const ids = greedy(a8.newSession(64), [1], 12, ckpt.config.eosTokenIds);
    expect(tok.decode(ids)).toMatch(/^Once upon a time/);
  });

  it('every linear sees int8-per-token values: ≤ 255 levels per row, multiples of s', () => {
    const rowsChecked: number[] = [];
    a8.newSession(16).forward([1, 147, 201, 282], {
      allLogits: true,
      onLinearInput: (_layer, _name, x) => {
        const T = 4;
        const K = x.length / T;
        for (let t = 0; t < T; t++) {
          const row = x.subarray(t * K, (t + 1) * K);
          let m = 0;
          for (const v of row) m = Math.max(m, Math.abs(v));
          const s = f(m / 127);
          for (const v of row) {
            const q = Math.round(v / s);
            expect(Math.abs(q)).toBeLessThanOrEqual(127);
            expect(v).toBe(f(q * s));
          }
          rowsChecked.push(t);
        }
      },
    });
    // 2 layers × 7 linears + lm_head, 4 tokens each.
    expect(rowsChecked.length).toBe((2 * 7 + 1) * 4);
  });

  it('the last-position path quantizes the same row as the all-logits path', () => {
    const prompt = [1, 147, 201, 282, 300];
    const all = a8.newSession(16).forward(prompt, { allLogits: true });
    const last = a8.newSession(16).forward(prompt);
    const V = ckpt.config.vocabSize;
    expect([...last]).toEqual([...all.subarray((prompt.length - 1) * V)]);
  });
});

import { beforeAll, describe, expect, it } from 'vitest';
import type { Checkpoint } from '../../src/format/checkpoint';
import { openHfCheckpoint } from '../../src/format/hf-checkpoint';
import { type ModelConfig, tensorNames } from '../../src/model/config';
import { greedy, type LinearName, ReferenceModel, ropeInvFreq } from '../../src/model/reference';
import { directorySource } from '../../src/node/file-source';
import { TextTokenizer } from '../../src/tokenizer/tokenizer';
import { TINYSTORIES } from '../helpers/models';

const MODEL_DIR = TINYSTORIES;

let ckpt: Checkpoint;
let model: ReferenceModel;
let tok: TextTokenizer;

beforeAll(async () => {
  ckpt = await openHfCheckpoint(directorySource(MODEL_DIR));
  model = await ReferenceModel.load(ckpt);
  tok = TextTokenizer.fromFiles(ckpt.tokenizer);
});

function maxRelDiff(a: Float32Array, b: Float32Array): number {
  let scale = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / scale);
  return worst;
}

describe('reference forward on tinystories-656k (expected text from HF transformers fp32)', () => {
  it('greedy from BOS', () => {
    const ids = greedy(model.newSession(128), [1], 25, ckpt.config.eosTokenIds);
    expect(ids).toHaveLength(25);
    expect(tok.decode(ids)).toMatch(
      /^Once upon a time, there was a little girl named Lily\. She had a toy car that she loved very much\./,
    );
  });

  it('greedy continuation of "Once upon a time"', () => {
    const prompt = tok.encode('Once upon a time');
    expect(prompt[0]).toBe(1); // BOS from the tokenizer's post_processor
    const ids = greedy(model.newSession(128), prompt, 25, ckpt.config.eosTokenIds);
    expect(tok.decode(ids)).toMatch(
      /^, a little girl named Lily lived in a small house with her mom, dad, and her dog, Spot/,
    );
  });

  it('one batched forward equals token-by-token forwards', () => {
    const prompt = tok.encode('Once upon a time, there was a big dog.');
    const batched = model.newSession(64).forward(prompt, { allLogits: true });
    const V = ckpt.config.vocabSize;
    expect(batched.length).toBe(prompt.length * V);
    const session = model.newSession(64);
    prompt.forEach((id, t) => {
      const step = session.forward([id]);
      expect(maxRelDiff(step, batched.subarray(t * V, (t + 1) * V))).toBeLessThan(1e-5);
    });
    expect(session.position).toBe(prompt.length);
    // Default: only the last position.
    const last = model.newSession(64).forward(prompt);
    expect(maxRelDiff(last, batched.subarray((prompt.length - 1) * V))).toBeLessThan(1e-5);
  });

  it('prefill in chunks equals one prefill', () => {
    const prompt = tok.encode('Lily and Ben went to the park to play.');
    const whole = model.newSession(64).forward(prompt);
    const s = model.newSession(64);
    s.forward(prompt.slice(0, 4));
    const chunked = s.forward(prompt.slice(4));
    expect(maxRelDiff(chunked, whole)).toBeLessThan(1e-5);
  });

  it('reports every linear input with the right shape; q/k/v and gate/up share theirs', () => {
    const c = ckpt.config;
    const seen: { layer: number; name: LinearName; x: Float32Array }[] = [];
    const prompt = [1, 147, 201, 282];
    model.newSession(16).forward(prompt, {
      allLogits: true,
      onLinearInput: (layer, name, x) => seen.push({ layer, name, x }),
    });
    expect(seen.map((s) => `${s.layer}:${s.name}`)).toEqual([
      ...[0, 1].flatMap((l) => ['q', 'k', 'v', 'o', 'gate', 'up', 'down'].map((n) => `${l}:${n}`)),
      `${c.numLayers}:lm_head`,
    ]);
    const inDim: Record<LinearName, number> = {
      q: c.hiddenSize,
      k: c.hiddenSize,
      v: c.hiddenSize,
      o: c.numHeads * c.headDim,
      gate: c.hiddenSize,
      up: c.hiddenSize,
      down: c.intermediateSize,
      lm_head: c.hiddenSize,
    };
    for (const s of seen) expect(s.x.length, s.name).toBe(prompt.length * inDim[s.name]);
    expect(seen[0].x).toBe(seen[1].x);
    expect(seen[0].x).toBe(seen[2].x);
    expect(seen[4].x).toBe(seen[5].x);
  });

  it('runs from a plain {config, weight} source (e.g. a dequantized pack)', async () => {
    const weights = new Map<string, Float32Array>();
    for (const t of ckpt.tensors) weights.set(t.name, await ckpt.readTensor(t.name));
    const fromSource = ReferenceModel.fromWeights({ config: ckpt.config, weight: (n) => weights.get(n)! });
    const prompt = [1, 147, 201];
    expect(maxRelDiff(fromSource.newSession(8).forward(prompt), model.newSession(8).forward(prompt))).toBe(0);
    // Perturbing a weight changes the output: the source is really used.
    const perturbed = new Map(weights);
    perturbed.set(
      tensorNames.finalNorm,
      weights.get(tensorNames.finalNorm)!.map((w) => w * 2),
    );
    const other = ReferenceModel.fromWeights({ config: ckpt.config, weight: (n) => perturbed.get(n)! });
    expect(
      maxRelDiff(other.newSession(8).forward(prompt), model.newSession(8).forward(prompt)),
    ).toBeGreaterThan(0.01);
  });

  it('refuses to overflow the context', () => {
    const s = model.newSession(3);
    s.forward([1, 2]);
    expect(() => s.forward([3, 4])).toThrow(/context full/);
  });
});

describe('RoPE inverse frequencies', () => {
  const cfg = (ropeScaling: ModelConfig['ropeScaling'], ropeTheta = 500000, headDim = 128): ModelConfig =>
    ({ headDim, ropeTheta, ropeScaling }) as ModelConfig;

  it('plain: theta^(-2i/d)', () => {
    const inv = ropeInvFreq(
      cfg(
        { type: 'none', factor: 1, lowFreqFactor: 1, highFreqFactor: 1, originalMaxPositionEmbeddings: 512 },
        10000,
        16,
      ),
    );
    expect(inv).toHaveLength(8);
    for (let i = 0; i < 8; i++) {
      const want = 10000 ** (-(2 * i) / 16);
      expect(Math.abs(inv[i] - want) / want).toBeLessThan(1e-7);
    }
  });

  it('llama3 scaling matches HF _compute_llama3_parameters (Llama 3.1 settings)', () => {
    const inv = ropeInvFreq(
      cfg({
        type: 'llama3',
        factor: 8,
        lowFreqFactor: 1,
        highFreqFactor: 4,
        originalMaxPositionEmbeddings: 8192,
      }),
    );
    // Worked out by hand from the HF formula with theta 500000, d 128:
    //   inv = theta^(-2i/d), wavelen = 2*pi/inv, low_wavelen = 8192/1, high_wavelen = 8192/4 = 2048
    //   wavelen < 2048 -> inv;  wavelen > 8192 -> inv / 8;
    //   otherwise s = (8192/wavelen - 1) / (4 - 1), inv' = (1 - s) * inv / 8 + s * inv
    const expected: [number, number][] = [
      [0, 1.0], // wavelen 6.28: high frequency, unchanged
      [10, 0.12868737343265052],
      [28, 0.0032114459947525913], // wavelen 1956.5 < 2048: unchanged
      [29, 0.002166570763503359], // wavelen 2401.7: s = 0.803621
      [30, 0.0013718935677611381], // wavelen 2948.3: s = 0.592849
      [31, 0.0008567514129196321], // wavelen 3619.2: s = 0.421151
      [40, 3.428102195952591e-5], // wavelen 22910.6 > 8192: 0.0002742481756762073 / 8
      [63, 3.068925988914511e-7], // 2.455140791131609e-06 / 8
    ];
    for (const [i, v] of expected) expect(Math.abs(inv[i] - v) / v, `i=${i}`).toBeLessThan(1e-6);
  });

  it('linear scaling divides by the factor', () => {
    const inv = ropeInvFreq(
      cfg(
        { type: 'linear', factor: 4, lowFreqFactor: 1, highFreqFactor: 1, originalMaxPositionEmbeddings: 0 },
        10000,
        16,
      ),
    );
    for (let i = 0; i < 8; i++) {
      const want = 10000 ** (-(2 * i) / 16) / 4;
      expect(Math.abs(inv[i] - want) / want).toBeLessThan(1e-7);
    }
  });
});

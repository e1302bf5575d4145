/**
 * The whole model on the GPU (Node, Dawn/lavapipe) against the CPU reference forward on the real
 * weights in ../shared/models: same greedy tokens, last-position logits within 1e-3 relative,
 * and prefill-then-decode equal to token-by-token decoding.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Pack } from '../../src/format/pack-reader';
import { acquireDevice, type GpuContext } from '../../src/gpu/device';
import { prefillSubgroupFits } from '../../src/kernels/attention';
import { defaultKvCache, GpuModel } from '../../src/model/gpu-model';
import { packReferenceWeights } from '../../src/model/pack-weights';
import { ReferenceModel } from '../../src/model/reference';
import { TextTokenizer } from '../../src/tokenizer/tokenizer';
import { memoryPack, stories260k, tinystories } from '../helpers/packs';

let gpu: GpuContext;
beforeAll(async () => {
  gpu = await acquireDevice();
});
afterAll(() => gpu?.device.destroy());

/** max |a − b| / max |b|: the logits' error relative to their scale. */
function relError(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / den;
}

async function greedyGpu(
  model: GpuModel,
  prompt: number[],
  n: number,
): Promise<{ ids: number[]; logits: Float32Array }> {
  const session = await model.createSession({ maxContext: 128, maxChunk: 16 });
  const ids: number[] = [];
  let next = await session.prefill(prompt);
  const logits = await session.readLogits();
  for (let i = 0; i < n; i++) {
    ids.push(next);
    if (i + 1 < n) next = await session.decode();
  }
  session.destroy();
  return { ids, logits };
}

function greedyCpu(
  ref: ReferenceModel,
  prompt: number[],
  n: number,
): { ids: number[]; logits: Float32Array } {
  const s = ref.newSession(128);
  let logits = s.forward(prompt);
  const first = Float32Array.from(logits);
  const ids: number[] = [];
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let v = 1; v < logits.length; v++) if (logits[v] > logits[best]) best = v;
    ids.push(best);
    logits = s.forward([best]);
  }
  return { ids, logits: first };
}

/** A prompt of ~17 tokens: several key tiles at lavapipe's 8 lanes, several 5-token chunks. */
const STORY_PROMPT = 'Once upon a time, in a small town, a boy found a very shiny';

describe.each([
  {
    model: 'tinystories-656k (HF safetensors)',
    open: tinystories,
    expected: 'Once upon a time, there was a little girl named Lily. She had a toy car',
  },
  {
    model: 'stories260k (GGUF)',
    open: stories260k,
    expected: 'Once upon a time, there was a little girl named Lily.',
  },
])('$model, f32 pack on the GPU', ({ open, expected }) => {
  let pack: Pack;
  let model: GpuModel;
  let ref: ReferenceModel;
  let tok: TextTokenizer;
  beforeAll(async () => {
    const ckpt = await open();
    pack = await memoryPack(ckpt, { scheme: 'f32' });
    model = await GpuModel.load(gpu, pack);
    ref = await ReferenceModel.load(await packReferenceWeights(pack));
    tok = await TextTokenizer.fromFiles(await pack.readTokenizer());
  });
  afterAll(() => model?.destroy());

  test('greedy from BOS: same tokens as the CPU reference and the known text; logits within 1e-3', async () => {
    const bos = [pack.manifest.config.bosTokenId ?? 1];
    const n = 24;
    const gpuOut = await greedyGpu(model, bos, n);
    const cpuOut = greedyCpu(ref, bos, n);
    expect(gpuOut.ids).toEqual(cpuOut.ids);
    expect(tok.decode(gpuOut.ids)).toContain(expected);
    expect(relError(gpuOut.logits, cpuOut.logits)).toBeLessThan(1e-3);
  });

  test('a prompt in chunks then decode equals feeding it token by token', async () => {
    const prompt = tok.encode(STORY_PROMPT);
    // The chunks are submitted back to back and only the last one's id is read (prefill).
    const chunked = await model.createSession({ maxContext: 128, maxChunk: 5 });
    const nextChunked = await chunked.prefill(prompt);
    await chunked.decode();
    const a = await chunked.readLogits();
    const single = await model.createSession({ maxContext: 128, maxChunk: 1 });
    const nextSingle = await single.prefill(prompt);
    await single.decode();
    const b = await single.readLogits();
    expect(nextChunked).toBeGreaterThanOrEqual(0);
    expect(nextChunked).toBe(nextSingle);
    expect(relError(a, b)).toBeLessThan(1e-4);
    chunked.destroy();
    single.destroy();
  });

  test('a chunk submitted in pieces (after layers 1, 2, 4 …) computes exactly what one submit does', async () => {
    const prompt = tok.encode(STORY_PROMPT);
    const { queue } = gpu.device;
    const submit = queue.submit;
    // maxChunk 32: one chunk; 5: several, each but the last submitted without a readback.
    const run = async (prefillPieces: boolean, maxChunk = 32) => {
      const session = await model.createSession({ maxContext: 128, maxChunk, prefillPieces });
      let submits = 0;
      queue.submit = (buffers: Iterable<GPUCommandBuffer>) => {
        submits++;
        submit.call(queue, buffers);
      };
      let next: number;
      try {
        next = await session.prefill(prompt);
      } finally {
        queue.submit = submit;
      }
      const logits = await session.readLogits();
      const after = await session.decode();
      const decoded = await session.readLogits();
      session.destroy();
      return { next, logits, after, decoded, submits };
    };
    const whole = await run(false);
    const pieces = await run(true);
    const layers = model.config.numLayers;
    let cuts = 0;
    for (let cut = 1; cut < layers; cut *= 2) cuts++;
    expect(whole.submits).toBe(1);
    expect(pieces.submits).toBe(1 + cuts);
    expect(pieces.next).toBe(whole.next);
    expect(Array.from(pieces.logits)).toEqual(Array.from(whole.logits));
    expect(pieces.after).toBe(whole.after);
    expect(Array.from(pieces.decoded)).toEqual(Array.from(whole.decoded));
    // Several chunks back to back, each in pieces, then a decode step on the cache they wrote.
    const chunks = Math.ceil(prompt.length / 5);
    const wholeChunks = await run(false, 5);
    const pieceChunks = await run(true, 5);
    expect(wholeChunks.submits).toBe(chunks);
    expect(pieceChunks.submits).toBe(chunks * (1 + cuts));
    expect(pieceChunks.next).toBe(wholeChunks.next);
    expect(Array.from(pieceChunks.logits)).toEqual(Array.from(wholeChunks.logits));
    expect(Array.from(pieceChunks.decoded)).toEqual(Array.from(wholeChunks.decoded));
  });

  test('the subgroup prefill attention (the GPU default) agrees with the tiled kernel on a whole prompt', async (ctx) => {
    const c = model.config;
    const shape = {
      numHeads: c.numHeads,
      numKvHeads: c.numKvHeads,
      headDim: c.headDim,
      maxPos: 128,
      kv: defaultKvCache(pack.manifest.scheme),
    };
    if (!prefillSubgroupFits(gpu, shape)) ctx.skip('this adapter does not run the subgroup prefill kernel');
    // CPU adapters default to the tiled kernel; GPUs run the subgroup one, so it is checked here
    // on the real weights (lavapipe: 8 lanes, so this prompt spans several key tiles).
    const prompt = tok.encode(STORY_PROMPT);
    const run = async (prefillAttention: 'subgroup' | 'tiled') => {
      const session = await model.createSession({
        maxContext: 128,
        maxChunk: 32,
        tuning: { prefillAttention },
      });
      const next = await session.prefill(prompt);
      const first = await session.readLogits();
      await session.decode();
      const second = await session.readLogits();
      session.destroy();
      return { next, first, second };
    };
    const sg = await run('subgroup');
    const tiled = await run('tiled');
    expect(sg.next).toBe(tiled.next);
    expect(relError(sg.first, tiled.first)).toBeLessThan(1e-4);
    expect(relError(sg.second, tiled.second)).toBeLessThan(1e-4);
  });
});

/** KL(p ‖ q) of two logit vectors, in nats. */
function kl(pLogits: Float32Array, qLogits: Float32Array): number {
  const logSoftmax = (l: Float32Array) => {
    let m = -Infinity;
    for (const v of l) m = Math.max(m, v);
    let s = 0;
    for (const v of l) s += Math.exp(v - m);
    const lse = m + Math.log(s);
    return Array.from(l, (v) => v - lse);
  };
  const lp = logSoftmax(pLogits);
  const lq = logSoftmax(qLogits);
  let d = 0;
  for (let i = 0; i < lp.length; i++) d += Math.exp(lp[i]) * (lp[i] - lq[i]);
  return d;
}

describe.each([
  { scheme: 'w4a8' as const, method: 'rtn' as const },
  { scheme: 'w4a16' as const, method: 'rtn' as const },
  { scheme: 'w2-4-16' as const, method: 'rtn' as const },
  { scheme: 'f16' as const, method: 'rtn' as const },
])(
  'tinystories-656k, $scheme pack: GPU kernels compute what the CPU reference of the same pack computes',
  ({ scheme, method }) => {
    test('greedy tokens and per-step distributions agree', async () => {
      const pack = await memoryPack(await tinystories(), { scheme, method });
      const model = await GpuModel.load(gpu, pack);
      const ref = await ReferenceModel.load(await packReferenceWeights(pack), {
        activationQuant: scheme === 'w4a8' ? 'int8-per-token' : undefined,
      });
      const session = await model.createSession({ maxContext: 128, maxChunk: 8 });
      const cpu = ref.newSession(128);
      const tok = await TextTokenizer.fromFiles(await pack.readTokenizer());
      const prompt = tok.encode('Once upon a time');
      let next = await session.prefill(prompt);
      let cpuLogits = cpu.forward(prompt);
      let worst = 0;
      const gpuIds: number[] = [];
      const cpuIds: number[] = [];
      for (let i = 0; i < 16; i++) {
        const gpuLogits = await session.readLogits();
        worst = Math.max(worst, kl(cpuLogits, gpuLogits));
        let best = 0;
        for (let v = 1; v < cpuLogits.length; v++) if (cpuLogits[v] > cpuLogits[best]) best = v;
        gpuIds.push(next);
        cpuIds.push(best);
        // Both continue from the GPU's choice so one near-tie cannot derail the comparison.
        cpuLogits = cpu.forward([next]);
        next = await session.decode();
      }
      // W4A8: per-token int8 rounding flips one level wherever the GPU's f32 arithmetic (e.g.
      // inverseSqrt in RMSNorm) lands on the other side of a .5 boundary than the CPU's. This tiny
      // model is that sensitive: perturbing only the norm weights by 1e-6 (relative) moves the CPU
      // reference itself by KL 2.1e-3 over these steps (measured 2026-11-23), while activation
      // quantization as a whole costs 9.2e-3. The float schemes differ only in accumulation order.
      expect(worst).toBeLessThan(scheme === 'w4a8' ? 5e-3 : 1e-4);
      expect(gpuIds.filter((id, i) => id === cpuIds[i]).length).toBeGreaterThanOrEqual(15);
      session.destroy();
      model.destroy();
    });
  },
);

describe('int8 KV cache (tinystories-656k, w4a16 pack)', () => {
  test('the GPU matches the CPU reference with the same int8 cache; the cache costs little against an exact one', async () => {
    const pack = await memoryPack(await tinystories(), { scheme: 'w4a16' });
    const model = await GpuModel.load(gpu, pack);
    const ref = await ReferenceModel.load(await packReferenceWeights(pack));
    // maxChunk 4: the 6-token prompt is two chunks, so the second reads the first's int8 rows
    // through the prefill kernel, and decode reads both through the decode kernel.
    const session = await model.createSession({ maxContext: 128, maxChunk: 4, kvCache: 'int8' });
    expect(session.kvCache).toBe('int8');
    const same = ref.newSession(128, { kvCache: 'int8' });
    const exact = ref.newSession(128);
    const prompt = [1, 147, 201, 282, 215, 33];
    let next = await session.prefill(prompt);
    let sameLogits = same.forward(prompt);
    let exactLogits = exact.forward(prompt);
    let worst = 0;
    let cost = 0;
    const ids: number[][] = [[], []];
    for (let i = 0; i < 16; i++) {
      const gpuLogits = await session.readLogits();
      worst = Math.max(worst, kl(sameLogits, gpuLogits));
      cost = Math.max(cost, kl(exactLogits, sameLogits));
      let best = 0;
      for (let v = 1; v < sameLogits.length; v++) if (sameLogits[v] > sameLogits[best]) best = v;
      ids[0].push(next);
      ids[1].push(best);
      sameLogits = same.forward([next]);
      exactLogits = exact.forward([next]);
      next = await session.decode();
    }
    // What the cache itself costs on this model: its logits' KL from the exact cache's.
    console.log(
      `int8 KV cache, tinystories w4a16, max KL over 16 steps: GPU vs CPU (same cache) ${worst.toExponential(2)}, CPU int8 vs f32 cache ${cost.toExponential(2)}`,
    );
    // Against the float schemes' 1e-4 with an exact cache: where the GPU's RoPE differs from the
    // CPU's by an f32 ulp across a rounding boundary, an int8 level moves a value by 1/127 of its
    // row's max, and the prefill kernel reads int8 rows as f16 pairs (measured 1.3e-4 here, a
    // quarter of what the int8 cache itself costs).
    expect(worst).toBeLessThan(3e-4);
    expect(ids[0].filter((id, i) => id === ids[1][i]).length).toBeGreaterThanOrEqual(15);
    expect(cost).toBeLessThan(2e-3);
    session.destroy();
    model.destroy();
  });

  test('a head_dim that is not a multiple of 16 is refused with the reason; the default cache works', async () => {
    const pack = await memoryPack(await stories260k(), { scheme: 'w4a16' });
    const model = await GpuModel.load(gpu, pack);
    await expect(model.createSession({ maxContext: 64, kvCache: 'int8' })).rejects.toThrow(
      /head_dim a multiple of 16/,
    );
    const plain = await model.createSession({ maxContext: 64 });
    expect(plain.kvCache).toBe('f16');
    plain.destroy();
    model.destroy();
  });

  test('the default cache: f16 for quantized packs (int8 is opt-in), exact for float packs', () => {
    expect(defaultKvCache('w4a8')).toBe('f16');
    expect(defaultKvCache('w2-4-16')).toBe('f16');
    expect(defaultKvCache('f16')).toBe('f32');
    expect(defaultKvCache('f32')).toBe('f32');
  });
});

describe('W4A8 kernel plans (tinystories-656k, 8 layers)', () => {
  test('decode fuses norm/quantize/RoPE and attention: 5 dispatches per layer; the unfused ablation agrees', async () => {
    const pack = await memoryPack(await tinystories(), { scheme: 'w4a8' });
    const model = await GpuModel.load(gpu, pack);
    const layers = model.config.numLayers;
    const fused = await model.createSession({ maxContext: 64, maxChunk: 8 });
    const unfused = await model.createSession({
      maxContext: 64,
      maxChunk: 8,
      tuning: { fuseActivations: false },
    });
    const splitAttention = await model.createSession({
      maxContext: 64,
      maxChunk: 8,
      tuning: { decodeAttention: 'partial' },
    });
    // embed + per layer + final norm, lm_head, sample. Decode attention is one dispatch while one
    // 256-key split holds the context; the 32-key partial kernel adds its merge.
    expect(await fused.dispatchesPerStep(1)).toBe(4 + 5 * layers);
    expect(await splitAttention.dispatchesPerStep(1)).toBe(4 + 6 * layers);
    expect(await unfused.dispatchesPerStep(1)).toBe(4 + 9 * layers);
    // Prefill chunks keep separate norm / quantize / RoPE dispatches (token-block matmuls); the
    // tiled prefill attention is one dispatch, the split ablation (partial + merge) two.
    expect(await fused.dispatchesPerStep(5)).toBe(4 + 10 * layers);
    const splitPrefill = await model.createSession({
      maxContext: 64,
      maxChunk: 8,
      tuning: { prefillAttention: 'split' },
    });
    expect(await splitPrefill.dispatchesPerStep(5)).toBe(4 + 11 * layers);
    splitPrefill.destroy();
    splitAttention.destroy();
    // The tile's scales staged in workgroup memory (the default before session 20; per-channel
    // scales are now read by each row's invocations): the same dispatches and the same
    // arithmetic, from pipelines of its own (SCALES_IN_SHARED = 1: the option reached the kernels).
    const pipelinesBefore = gpu.pipelines.size;
    const staged = await model.createSession({
      maxContext: 64,
      maxChunk: 8,
      tuning: { matmulScalesInShared: true },
    });
    expect(gpu.pipelines.size).toBeGreaterThan(pipelinesBefore);
    expect(await staged.dispatchesPerStep(1)).toBe(4 + 5 * layers);
    const prompt = [1, 147, 201, 282, 215];
    const ids = [
      [await fused.prefill(prompt)],
      [await unfused.prefill(prompt)],
      [await staged.prefill(prompt)],
    ];
    let worst = 0;
    for (let i = 0; i < 12; i++) {
      const a = await fused.readLogits();
      const b = await unfused.readLogits();
      worst = Math.max(worst, kl(b, a));
      expect(Array.from(await staged.readLogits())).toEqual(Array.from(a));
      ids[0].push(await fused.decode());
      ids[1].push(await unfused.decode());
      ids[2].push(await staged.decode());
    }
    expect(ids[2]).toEqual(ids[0]);
    staged.destroy();
    // The same math; only f32 reduction order differs (int8 levels can flip at .5 boundaries).
    expect(worst).toBeLessThan(5e-3);
    expect(ids[0].filter((id, i) => id === ids[1][i]).length).toBeGreaterThanOrEqual(12);
    fused.destroy();
    unfused.destroy();
    model.destroy();
  });
});

describe.each(['w4a16' as const, 'w2-4-16' as const])('%s kernel plans (tinystories-656k)', (scheme) => {
  test('16-bit staged matmuls fold both RMSNorms per layer, prefill runs token blocks; the f32 baseline agrees', async () => {
    const pack = await memoryPack(await tinystories(), { scheme });
    const model = await GpuModel.load(gpu, pack);
    const layers = model.config.numLayers;
    const staged = await model.createSession({ maxContext: 64, maxChunk: 8 });
    const baseline = await model.createSession({
      maxContext: 64,
      maxChunk: 8,
      tuning: { int16Activations: false },
    });
    const perToken = await model.createSession({
      maxContext: 64,
      maxChunk: 8,
      tuning: { int16PrefillBlocks: false },
    });
    // Decode (and prefill without token blocks): two norm dispatches per layer fewer than the f32
    // kernels'. Prefill token blocks: a norm or quantize dispatch before each of the 4 matmuls.
    expect(await staged.dispatchesPerStep(1)).toBe((await baseline.dispatchesPerStep(1)) - 2 * layers);
    expect(await perToken.dispatchesPerStep(5)).toBe((await baseline.dispatchesPerStep(5)) - 2 * layers);
    expect(await staged.dispatchesPerStep(5)).toBe((await baseline.dispatchesPerStep(5)) + 2 * layers);
    // 11 prompt tokens: a chunk of 8 (one whole block) and one of 3 (a partial block).
    const prompt = [1, 147, 201, 282, 215, 33, 99, 147, 5, 260, 12];
    const sessions = [staged, perToken, baseline];
    const ids = await Promise.all(sessions.map(async (s) => [await s.prefill(prompt)]));
    let worst = 0;
    for (let i = 0; i < 12; i++) {
      const ref = await baseline.readLogits();
      worst = Math.max(worst, kl(ref, await staged.readLogits()), kl(ref, await perToken.readLogits()));
      for (let j = 0; j < sessions.length; j++) ids[j].push(await sessions[j].decode());
    }
    // 16-bit activations (max|x| · 2^-16 per element) against f32 ones: far below the 1e-4 the
    // float schemes get against the CPU reference.
    expect(worst).toBeLessThan(1e-5);
    expect(ids[0]).toEqual(ids[2]);
    expect(ids[1]).toEqual(ids[2]);
    for (const s of sessions) s.destroy();
    model.destroy();
  });
});

describe('2/4/16 decode at int8 activations (tinystories-656k, w2DecodeActivationBits 8)', () => {
  test('matches the CPU reference quantizing every linear input to int8; differs from the 16-bit default', async () => {
    const pack = await memoryPack(await tinystories(), { scheme: 'w2-4-16' });
    const model = await GpuModel.load(gpu, pack);
    const a8 = await model.createSession({
      maxContext: 64,
      maxChunk: 8,
      tuning: { w2DecodeActivationBits: 8 },
    });
    const x16 = await model.createSession({ maxContext: 64, maxChunk: 8 });
    const ref = await ReferenceModel.load(await packReferenceWeights(pack), {
      activationQuant: 'int8-per-token',
    });
    const cpu = ref.newSession(64);
    // One prompt token: every step runs the single-token matmuls, all at int8 with the option
    // (prefill chunks of several tokens keep their 16-bit token blocks).
    const prompt = [model.config.bosTokenId ?? 1];
    let next = await a8.prefill(prompt);
    await x16.prefill(prompt);
    let cpuLogits = cpu.forward(prompt);
    let worst = 0;
    let apart = 0;
    let same = 0;
    for (let i = 0; i < 16; i++) {
      const gpuLogits = await a8.readLogits();
      worst = Math.max(worst, kl(cpuLogits, gpuLogits));
      apart = Math.max(apart, kl(await x16.readLogits(), gpuLogits));
      let best = 0;
      for (let v = 1; v < cpuLogits.length; v++) if (cpuLogits[v] > cpuLogits[best]) best = v;
      if (best === next) same++;
      // All three continue from the int8 session's choice.
      cpuLogits = cpu.forward([next]);
      await x16.prefill([next]);
      next = await a8.decode();
    }
    // Looser than the W4A8 pack's 5e-3: with 2/4/16 weights this model's int8 rounding is far
    // more sensitive to f32 differences. Each linear alone at int8 (the rest f32, CPU and GPU
    // alike) agrees to KL ≤ 1e-6 at the first step; all of them together 2.2e-2, and scaling the
    // CPU reference's RMSNorm outputs by 1 + 1e-7 (an ulp of f32 re-rounding here and there) moves
    // it by 3.0e-3 at that step (W4A8 pack: 1.7e-13; measured 2026-12-07). A wrong scale, lane or offset costs KL ≫ 1.
    expect(worst).toBeLessThan(5e-2);
    expect(same).toBeGreaterThanOrEqual(14);
    // The option took effect: int8 rounding moves the logits well past the 16-bit session's.
    expect(apart).toBeGreaterThan(1e-5);
    for (const s of [a8, x16]) s.destroy();
    model.destroy();
  });
});

describe('pipelined decoding (decodeStream)', () => {
  // lookahead 1 is the default; 2 and 3 keep more speculative steps in flight, all undone on a stop.
  test.each([1, 2, 3])(
    'lookahead %i: gives the ids of plain decode() calls, and a stop leaves the session as plain decoding would',
    async (lookahead) => {
      const pack = await memoryPack(await tinystories(), { scheme: 'w4a8' });
      const model = await GpuModel.load(gpu, pack);
      const prompt = [1, 147, 201];
      // Sampling, not greedy: the random stream must advance exactly once per kept token too.
      const sampling = { temperature: 0.9, topP: 0.95 };

      const plain = await model.createSession({ maxContext: 64 });
      plain.setSampling(sampling, 11);
      const want = [await plain.prefill(prompt)];
      for (let i = 0; i < 12; i++) want.push(await plain.decode());

      const piped = await model.createSession({ maxContext: 64, lookahead });
      expect(piped.lookahead).toBe(lookahead);
      piped.setSampling(sampling, 11);
      const got = [await piped.prefill(prompt)];
      const submittedBefore = piped.hostStats.steps;
      // Stop after 5 ids (speculative steps are in flight and must be undone)…
      await piped.decodeStream(20, (id) => {
        got.push(id);
        return got.length < 6;
      });
      expect(piped.position).toBe(prompt.length + 5);
      // The 5 kept steps plus the ones in flight when the 5th id arrived: lookahead beyond the
      // next one, which is submitted as soon as an id arrives.
      expect(piped.hostStats.steps - submittedBefore).toBe(5 + lookahead + 1);
      // …then continue with plain decode() and pipelined steps to the same length.
      got.push(await piped.decode());
      // The bench's read record (hostReads): one [submitted, map requested, read] per id, in order.
      const reads: number[][] = [];
      piped.hostReads = reads;
      await piped.decodeStream(6, (id) => {
        got.push(id);
        return true;
      });
      piped.hostReads = null;
      expect(got).toEqual(want);
      expect(reads).toHaveLength(6);
      for (const [k, [submitted, requested, read]] of reads.entries()) {
        expect(submitted).toBeLessThanOrEqual(requested);
        expect(requested).toBeLessThanOrEqual(read);
        if (k) expect(reads[k - 1][2]).toBeLessThanOrEqual(read);
      }
      expect(piped.position).toBe(prompt.length + 12);
      plain.destroy();
      piped.destroy();
      model.destroy();
    },
  );

  test('rejects a lookahead outside 1 … 3', async () => {
    const pack = await memoryPack(await tinystories(), { scheme: 'w4a8' });
    const model = await GpuModel.load(gpu, pack);
    await expect(model.createSession({ maxContext: 64, lookahead: 0 })).rejects.toThrow(/lookahead/);
    await expect(model.createSession({ maxContext: 64, lookahead: 4 })).rejects.toThrow(/lookahead/);
    model.destroy();
  });
});

import { beforeAll, describe, expect, it } from 'vitest';
import { type ConvertEvent, convertCheckpoint } from '../../src/convert/convert';
import { splitGateUp, splitQkv } from '../../src/convert/fuse';
import type { Checkpoint } from '../../src/format/checkpoint';
import { openGgufCheckpoint } from '../../src/format/gguf-checkpoint';
import { openHfCheckpoint } from '../../src/format/hf-checkpoint';
import { fusedNames } from '../../src/format/pack';
import { tensorNames } from '../../src/model/config';
import { packReferenceWeights } from '../../src/model/pack-weights';
import { ReferenceModel } from '../../src/model/reference';
import { directorySource, fileSource } from '../../src/node/file-source';
import type { Scheme } from '../../src/quant/types';
import {
  checkTensorBound,
  MemoryPackSink,
  openMemoryPack,
  originalOf,
  STORIES260K,
  TINYSTORIES,
} from './helpers';

const SCHEMES: Scheme[] = ['f32', 'f16', 'w4a16', 'w4a8', 'w2-4-16'];

/** Pack tensor names in pack order, for a config. */
function expectedPackNames(ckpt: Checkpoint): string[] {
  const c = ckpt.config;
  const names = c.tieWordEmbeddings ? [] : [tensorNames.embed];
  for (let i = 0; i < c.numLayers; i++) {
    const l = tensorNames.layer(i);
    names.push(l.attnNorm, fusedNames.qkv(i), l.o, l.mlpNorm, fusedNames.gateUp(i), l.down);
  }
  names.push(tensorNames.finalNorm, tensorNames.lmHead);
  return names;
}

async function roundTrip(ckpt: Checkpoint, scheme: Scheme) {
  const sink = new MemoryPackSink();
  const events: ConvertEvent[] = [];
  const summary = await convertCheckpoint(ckpt, sink, {
    scheme,
    method: 'rtn',
    onProgress: (e) => events.push(e),
  });
  const pack = await openMemoryPack(sink);
  const m = pack.manifest;
  expect(m.scheme).toBe(scheme);
  expect(m.method).toBe(scheme === 'f32' || scheme === 'f16' ? 'none' : 'rtn');
  expect(m.config).toEqual(ckpt.config);
  expect(m.tensors.map((t) => t.name)).toEqual(expectedPackNames(ckpt));
  // Progress: one event per pack tensor, in order, input bytes adding up.
  const tensorEvents = events.filter((e) => e.kind === 'tensor');
  expect(tensorEvents.map((e) => e.name)).toEqual(m.tensors.map((t) => t.name));
  const last = tensorEvents[tensorEvents.length - 1];
  expect(last.index).toBe(last.total);
  expect(last.doneInputBytes).toBe(last.totalInputBytes);

  let clipped = 0;
  for (const t of m.tensors) {
    const orig = await originalOf(ckpt, t.name);
    const shape = t.name === fusedNames.qkv(0) ? null : t.shape; // shapes checked below for all
    if (shape) expect(t.shape.reduce((a, b) => a * b, 1)).toBe(orig.length);
    expect(t.scheme).toBe(t.shape.length === 1 ? 'f32' : scheme);
    clipped += await checkTensorBound(pack, t.name, orig);
  }
  return { pack, summary, clipped };
}

describe('convert tinystories-656k (HF) with RTN', () => {
  let ckpt: Checkpoint;
  beforeAll(async () => {
    ckpt = await openHfCheckpoint(directorySource(TINYSTORIES));
  });

  for (const scheme of SCHEMES) {
    it(`${scheme}: every tensor within the scheme's bound of the original`, async () => {
      const { pack, summary, clipped } = await roundTrip(ckpt, scheme);
      const c = ckpt.config;
      const H = c.hiddenSize;
      const qkv = pack.tensor(fusedNames.qkv(0));
      expect(qkv.shape).toEqual([(c.numHeads + 2 * c.numKvHeads) * c.headDim, H]);
      expect(pack.tensor(fusedNames.gateUp(1)).shape).toEqual([2 * c.intermediateSize, H]);
      expect(pack.tensor(tensorNames.lmHead).shape).toEqual([c.vocabSize, H]);
      // Tied: only lm_head is stored.
      expect(() => pack.tensor(tensorNames.embed)).toThrow(/no such tensor/);
      // w2-4-16 at K = 128: 2 groups per row, one of them 4-bit, and a mask, code and row-scale word
      // per row: ≈ 3 + 0.75 + outliers (the 2.85 target needs K in the thousands).
      const [lo, hi] = {
        f32: [32, 32],
        f16: [16, 16],
        w4a16: [4.25, 4.3],
        w4a8: [4.08, 4.26],
        'w2-4-16': [3, 4],
      }[scheme];
      expect(summary.bitsPerWeight).toBeGreaterThanOrEqual(lo);
      expect(summary.bitsPerWeight).toBeLessThanOrEqual(hi);
      expect(summary.totalBytes).toBe(pack.manifest.provenance.totalBytes);
      if (scheme !== 'w2-4-16') expect(clipped).toBe(0); // RTN ranges cover every value
      for (const t of summary.tensors) {
        if (scheme === 'f32') expect(t.maxAbsError).toBe(0);
        expect(Number.isFinite(t.rmsError)).toBe(true);
      }
      console.log(
        `tinystories ${scheme}: ${summary.bitsPerWeight.toFixed(3)} bits/weight (pack ${summary.packBitsPerWeight.toFixed(2)}), ${summary.totalBytes} bytes, ${summary.seconds.toFixed(2)} s, ${clipped} clipped`,
      );
    });
  }

  it('f32 pack: fused tensors de-fuse to the exact q/k/v and gate/up rows, and the model computes the same logits', async () => {
    const sink = new MemoryPackSink();
    await convertCheckpoint(ckpt, sink, { scheme: 'f32' });
    const pack = await openMemoryPack(sink);
    const c = ckpt.config;
    const H = c.hiddenSize;
    for (let i = 0; i < c.numLayers; i++) {
      const l = tensorNames.layer(i);
      const qkv = splitQkv(
        await pack.dequantizeTensor(fusedNames.qkv(i)),
        c.numHeads * c.headDim,
        c.numKvHeads * c.headDim,
        H,
      );
      expect(qkv.q).toEqual(await ckpt.readTensor(l.q));
      expect(qkv.k).toEqual(await ckpt.readTensor(l.k));
      expect(qkv.v).toEqual(await ckpt.readTensor(l.v));
      const gu = splitGateUp(await pack.dequantizeTensor(fusedNames.gateUp(i)), c.intermediateSize, H);
      expect(gu.gate).toEqual(await ckpt.readTensor(l.gate));
      expect(gu.up).toEqual(await ckpt.readTensor(l.up));
    }
    const tokens = [1, 400, 30, 700, 12, 99];
    const ref = (await ReferenceModel.load(ckpt)).newSession().forward(tokens, { allLogits: true });
    const fromPack = ReferenceModel.fromWeights(await packReferenceWeights(pack))
      .newSession()
      .forward(tokens, { allLogits: true });
    expect(fromPack).toEqual(ref);
  });

  it('tiny piece limit: tensors split into row pieces read back identical to unsplit ones', async () => {
    for (const scheme of ['w2-4-16', 'w4a8'] as Scheme[]) {
      const whole = new MemoryPackSink();
      await convertCheckpoint(ckpt, whole, { scheme });
      const split = new MemoryPackSink();
      await convertCheckpoint(ckpt, split, {
        scheme,
        writer: { pieceMaxBytes: 8192, shardTargetBytes: 64 * 1024 },
      });
      const a = await openMemoryPack(whole);
      const b = await openMemoryPack(split);
      expect(b.manifest.shards.length).toBeGreaterThan(a.manifest.shards.length);
      const lm = b.tensor(tensorNames.lmHead);
      expect(lm.pieces.length).toBeGreaterThan(4);
      for (const t of a.manifest.tensors) {
        expect(await b.dequantizeTensor(t.name), t.name).toEqual(await a.dequantizeTensor(t.name));
      }
    }
  });

  it('row blocks: quantizing in small row blocks gives the same pack bytes as one block', async () => {
    const one = new MemoryPackSink();
    await convertCheckpoint(ckpt, one, { scheme: 'w2-4-16', blockBytes: 1 << 30 });
    const many = new MemoryPackSink();
    await convertCheckpoint(ckpt, many, { scheme: 'w2-4-16', blockBytes: 4096 });
    const a = await openMemoryPack(one);
    const b = await openMemoryPack(many);
    expect(b.manifest.shards.map((s) => s.sha256)).toEqual(a.manifest.shards.map((s) => s.sha256));
  });

  it('grouped w4a8 records the group size and stays within bound', async () => {
    const sink = new MemoryPackSink();
    const summary = await convertCheckpoint(ckpt, sink, { scheme: 'w4a8', groupSize: 64 });
    const pack = await openMemoryPack(sink);
    expect(pack.tensor(fusedNames.qkv(0)).groupSize).toBe(64);
    expect(summary.bitsPerWeight).toBeCloseTo(4.5, 1);
    for (const t of pack.manifest.tensors)
      await checkTensorBound(pack, t.name, await originalOf(ckpt, t.name));
  });

  it('refuses nonsensical options before writing anything', async () => {
    for (const opts of [
      { scheme: 'w4a16' as Scheme, groupSize: 64 },
      { scheme: 'w4a8' as Scheme, groupSize: 48 },
      { scheme: 'f16' as Scheme, method: 'gptq' as const },
      { scheme: 'w4a16' as Scheme, smoothQuant: true },
      { scheme: 'q3' as Scheme },
    ]) {
      const sink = new MemoryPackSink();
      await expect(convertCheckpoint(ckpt, sink, opts)).rejects.toThrow();
      expect(sink.aborted).toBe(true);
      expect(sink.files.size).toBe(0);
    }
  });
});

describe('convert stories260K (GGUF) with RTN', () => {
  let ckpt: Checkpoint;
  beforeAll(async () => {
    ckpt = await openGgufCheckpoint(fileSource(STORIES260K));
  });

  for (const scheme of SCHEMES) {
    it(`${scheme}: every tensor within bound (K=172 exercises padding)`, async () => {
      const { summary } = await roundTrip(ckpt, scheme);
      expect(summary.name).toBe('stories260K');
      console.log(
        `stories260K ${scheme}: ${summary.bitsPerWeight.toFixed(3)} bits/weight, ${summary.totalBytes} bytes, ${summary.seconds.toFixed(2)} s`,
      );
    });
  }
});

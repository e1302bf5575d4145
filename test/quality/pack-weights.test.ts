import { beforeAll, describe, expect, it } from 'vitest';
import { memoryDirectory } from '../../src/format/byte-source';
import type { Checkpoint } from '../../src/format/checkpoint';
import { openHfCheckpoint } from '../../src/format/hf-checkpoint';
import { fusedNames } from '../../src/format/pack';
import { openPack } from '../../src/format/pack-reader';
import { MemoryPackSink, PackWriter } from '../../src/format/pack-writer';
import { tensorNames } from '../../src/model/config';
import { packReferenceWeights } from '../../src/model/pack-weights';
import { ReferenceModel } from '../../src/model/reference';
import { directorySource } from '../../src/node/file-source';
import { dequantize, packF32, quantizeLinear } from '../../src/quant';
import type { Scheme } from '../../src/quant/types';
import { TINYSTORIES } from '../helpers/models';

const MODEL_DIR = TINYSTORIES;

let ckpt: Checkpoint;
beforeAll(async () => {
  ckpt = await openHfCheckpoint(directorySource(MODEL_DIR));
});

function concatRows(...parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function interleaveRows(a: Float32Array, b: Float32Array, K: number): Float32Array {
  const N = a.length / K;
  const out = new Float32Array(2 * N * K);
  for (let r = 0; r < N; r++) {
    out.set(a.subarray(r * K, (r + 1) * K), 2 * r * K);
    out.set(b.subarray(r * K, (r + 1) * K), (2 * r + 1) * K);
  }
  return out;
}

/**
 * A pack written by hand with PackWriter (fusing as the converter does), every linear in `scheme`
 * by RTN; tiny piece limit so the reader has to join row pieces. Independent of src/convert.
 */
async function buildPack(scheme: Scheme) {
  const c = ckpt.config;
  const H = c.hiddenSize;
  const sink = new MemoryPackSink();
  const writer = new PackWriter(sink, { pieceMaxBytes: 16 * 1024 });
  const linear = async (name: string, W: Float32Array, N: number, K: number) => {
    const q = quantizeLinear(W, N, K, { scheme });
    await writer.addTensor(name, [N, K], scheme, scheme === 'w4a8' ? K : undefined, q.components);
  };
  const norm = (name: string, w: Float32Array) =>
    writer.addTensor(name, [w.length], 'f32', undefined, packF32(w, 1, w.length));
  const read = (n: string) => ckpt.readTensor(n);
  for (let i = 0; i < c.numLayers; i++) {
    const l = tensorNames.layer(i);
    await norm(l.attnNorm, await read(l.attnNorm));
    const qkv = concatRows(await read(l.q), await read(l.k), await read(l.v));
    await linear(fusedNames.qkv(i), qkv, qkv.length / H, H);
    await linear(l.o, await read(l.o), H, c.numHeads * c.headDim);
    await norm(l.mlpNorm, await read(l.mlpNorm));
    const gu = interleaveRows(await read(l.gate), await read(l.up), H);
    await linear(fusedNames.gateUp(i), gu, 2 * c.intermediateSize, H);
    await linear(l.down, await read(l.down), H, c.intermediateSize);
  }
  await norm(tensorNames.finalNorm, await read(tensorNames.finalNorm));
  await linear(tensorNames.lmHead, await read(tensorNames.lmHead), c.vocabSize, H);
  await writer.finish({
    name: 'test',
    config: c,
    scheme,
    method: 'rtn',
    generation: {},
    tokenizer: ckpt.tokenizer,
    chatTemplate: null,
    provenance: { source: MODEL_DIR, converter: 'test', created: '', bitsPerWeight: 0 },
  });
  return openPack(memoryDirectory('pack', Object.fromEntries(sink.files)));
}

describe('packReferenceWeights', () => {
  it('f32 pack: de-fused weights equal the checkpoint, logits are identical', async () => {
    const pack = await buildPack('f32');
    expect(pack.manifest.tensors.some((t) => t.pieces.length > 1)).toBe(true);
    const w = await packReferenceWeights(pack);
    for (const t of ckpt.tensors) expect(w.weight(t.name)).toEqual(await ckpt.readTensor(t.name));
    expect(w.weight(tensorNames.embed)).toBe(w.weight(tensorNames.lmHead)); // tied: one table
    const prompt = [1, 147, 201, 282, 300, 17];
    const a = (await ReferenceModel.load(ckpt)).newSession(16).forward(prompt, { allLogits: true });
    const b = ReferenceModel.fromWeights(w).newSession(16).forward(prompt, { allLogits: true });
    expect(b).toEqual(a);
  });

  it('w4a8 pack: each de-fused row is the dequantized quantized row; embedding = dequantized lm_head', async () => {
    const pack = await buildPack('w4a8');
    const w = await packReferenceWeights(pack);
    const c = ckpt.config;
    const H = c.hiddenSize;
    const l = tensorNames.layer(1);
    // w4a8 is per output channel, so quantizing the fused tensor = quantizing each row alone.
    for (const name of [l.q, l.k, l.v, l.gate, l.up, tensorNames.lmHead]) {
      const W = await ckpt.readTensor(name);
      const N = W.length / H;
      expect(w.weight(name)).toEqual(
        dequantize('w4a8', quantizeLinear(W, N, H, { scheme: 'w4a8' }).components, N, H),
      );
    }
    expect(w.weight(tensorNames.embed)).toBe(w.weight(tensorNames.lmHead));
    const orig = await ckpt.readTensor(tensorNames.embed);
    expect(w.weight(tensorNames.embed)).not.toEqual(orig);
  });

  it('names the missing tensor', async () => {
    const pack = await buildPack('f32');
    const broken = {
      manifest: {
        ...pack.manifest,
        tensors: pack.manifest.tensors.filter((t) => t.name !== fusedNames.gateUp(1)),
      },
      dequantizeTensor: pack.dequantizeTensor,
    };
    await expect(packReferenceWeights(broken)).rejects.toThrow(/gate_up_proj/);
  });
});

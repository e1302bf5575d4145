/**
 * The CPU reference's view of a pack: every tensor dequantized to f32 exactly as the kernels see
 * it, and the pack's fused tensors split back into the checkpoint's names. Running the reference
 * on these weights (with activationQuant for w4a8 packs) computes what the GPU computes, up to
 * summation order — the oracle for the GPU graph and the "test" side of a quality comparison.
 */
import { fusedNames, type PackManifest } from '../format/pack';
import { tensorNames } from './config';
import type { ReferenceWeights } from './reference';

/** What this needs of an opened pack (src/format/pack-reader.ts provides it). */
export interface DequantizingPack {
  readonly manifest: PackManifest;
  /** The tensor as f32 [N, K] (or [K] for norms), dequantized from the stored scheme. */
  dequantizeTensor(name: string): Promise<Float32Array>;
}

export async function packReferenceWeights(pack: DequantizingPack): Promise<ReferenceWeights> {
  const { config: c, tensors } = pack.manifest;
  const H = c.hiddenSize;
  const I = c.intermediateSize;
  const qDim = c.numHeads * c.headDim;
  const kvDim = c.numKvHeads * c.headDim;
  const stored = new Set(tensors.map((t) => t.name));
  const out = new Map<string, Float32Array>();

  const read = async (name: string, length: number): Promise<Float32Array> => {
    if (!stored.has(name)) throw new Error(`pack: no tensor ${name}`);
    const w = await pack.dequantizeTensor(name);
    if (w.length !== length) throw new Error(`pack: ${name} has ${w.length} values, expected ${length}`);
    return w;
  };

  for (let i = 0; i < c.numLayers; i++) {
    const l = tensorNames.layer(i);
    out.set(l.attnNorm, await read(l.attnNorm, H));
    out.set(l.mlpNorm, await read(l.mlpNorm, H));
    out.set(l.o, await read(l.o, H * qDim));
    out.set(l.down, await read(l.down, H * I));

    // qkv_proj: rows q, then k, then v — contiguous row blocks.
    const qkv = await read(fusedNames.qkv(i), (qDim + 2 * kvDim) * H);
    out.set(l.q, qkv.subarray(0, qDim * H));
    out.set(l.k, qkv.subarray(qDim * H, (qDim + kvDim) * H));
    out.set(l.v, qkv.subarray((qDim + kvDim) * H));

    // gate_up_proj: rows interleaved gate 0, up 0, gate 1, up 1, … (one GEMV row pair feeds one
    // SiLU·mul output), so de-interleave.
    const gu = await read(fusedNames.gateUp(i), 2 * I * H);
    const gate = new Float32Array(I * H);
    const up = new Float32Array(I * H);
    for (let r = 0; r < I; r++) {
      gate.set(gu.subarray(2 * r * H, (2 * r + 1) * H), r * H);
      up.set(gu.subarray((2 * r + 1) * H, (2 * r + 2) * H), r * H);
    }
    out.set(l.gate, gate);
    out.set(l.up, up);
  }
  out.set(tensorNames.finalNorm, await read(tensorNames.finalNorm, H));
  const lmHead = await read(tensorNames.lmHead, c.vocabSize * H);
  out.set(tensorNames.lmHead, lmHead);
  // Tied: only lm_head is stored, and the GPU gathers embedding rows from that quantized table,
  // so the reference embeds with the dequantized lm_head too (not the original f32 embedding).
  out.set(tensorNames.embed, c.tieWordEmbeddings ? lmHead : await read(tensorNames.embed, c.vocabSize * H));

  return {
    config: c,
    weight: (name) => {
      const w = out.get(name);
      if (!w) throw new Error(`pack: no reference weight ${name}`);
      return w;
    },
  };
}

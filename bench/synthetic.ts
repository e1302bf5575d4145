import { fusedNames, type PackTensor, PIECE_MAX_BYTES } from '../src/format/pack';
import { componentSpec, manifestGroupSize } from '../src/format/pack-layout';
import { type ModelConfig, tensorNames } from '../src/model/config';
import type { WeightSource } from '../src/model/gpu-model';
import { w2Geometry } from '../src/quant/layouts';
import type { Components, Scheme } from '../src/quant/types';

/**
 * Random weights in real model shapes, generated piece by piece in the pack layout: decode speed
 * does not depend on the values, and real 1B/7B checkpoints are not reachable here. Values are
 * kept small and finite (scales ~1e-3) so activations stay sane through the layers.
 */
export const SHAPES: Record<string, ModelConfig> = {
  'llama-3.2-1b': llama({
    hidden: 2048,
    layers: 16,
    heads: 32,
    kvHeads: 8,
    ffn: 8192,
    vocab: 128256,
    tied: true,
  }),
  'llama-2-7b': llama({
    hidden: 4096,
    layers: 32,
    heads: 32,
    kvHeads: 32,
    ffn: 11008,
    vocab: 32000,
    tied: false,
  }),
  // 7B's layer count and kernel sequence at a tiny width: the per-token dispatch count and host
  // encoding cost of 7B, at a size any adapter (lavapipe included) runs in seconds.
  'thin-32-layers': llama({
    hidden: 256,
    layers: 32,
    heads: 4,
    kvHeads: 4,
    ffn: 512,
    vocab: 512,
    tied: false,
  }),
};

function llama(s: {
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  ffn: number;
  vocab: number;
  tied: boolean;
}): ModelConfig {
  return {
    architecture: 'llama',
    hiddenSize: s.hidden,
    intermediateSize: s.ffn,
    numLayers: s.layers,
    numHeads: s.heads,
    numKvHeads: s.kvHeads,
    headDim: s.hidden / s.heads,
    vocabSize: s.vocab,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    ropeScaling: {
      type: 'none',
      factor: 1,
      lowFreqFactor: 1,
      highFreqFactor: 1,
      originalMaxPositionEmbeddings: 4096,
    },
    maxPositionEmbeddings: 4096,
    tieWordEmbeddings: s.tied,
    bosTokenId: 1,
    eosTokenIds: [2],
  };
}

/** xorshift32: fast enough to fill gigabytes. */
function fillRandom(words: Uint32Array, seed: number): void {
  let x = seed | 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
}

export function randomComponents(
  scheme: Scheme,
  rows: number,
  K: number,
  groupSize: number | undefined,
  seed: number,
): Components {
  const spec = componentSpec(scheme, rows, K, groupSize);
  const out: Components = {};
  for (const [name, { dtype, bytes }] of Object.entries(spec)) {
    if (bytes === null) continue; // w2-4-16 outliers, below
    const n = bytes / 4;
    if (dtype === 'f32') {
      out[name] = new Float32Array(n).fill(name === 'data' ? 1 : 1e-3);
      continue;
    }
    const w = new Uint32Array(n);
    if (name === 'qweight' || name === 'data') fillRandom(w, seed + n);
    else if (name === 'scales')
      w.fill(0x14001400); // w4a16: (scale, bias) = (f16 ~1e-3, ~1e-3)
    else if (name === 'scaleCodes') w.fill(0x80808080);
    out[name] = w;
  }
  if (scheme === 'w2-4-16') {
    const g = w2Geometry(K);
    // Exactly n4 4-bit groups per row, spread evenly (the layout's alignment rule).
    const mask = out.mask as Uint32Array;
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < g.n4; j++) {
        const grp = Math.floor((j * g.nG) / g.n4);
        mask[r * g.maskWords + (grp >> 5)] |= 1 << (grp & 31);
      }
    }
    // ~0.5% sparse fp16 outliers per row.
    const perRow = Math.max(1, Math.round(K * 0.005));
    const ptr = new Uint32Array(rows + 1);
    for (let r = 0; r <= rows; r++) ptr[r] = r * perRow;
    const outliers = new Uint32Array(rows * perRow);
    for (let i = 0; i < outliers.length; i++) outliers[i] = ((i * 2654435761) % K) | (0x1400 << 16);
    out.outlierRowPtr = ptr;
    out.outliers = outliers;
  }
  return out;
}

/** A synthetic pack: manifest-shaped tensor table, components generated on read. */
export interface SyntheticWeights extends WeightSource {
  /** Bytes of all linear weights (every component of every piece). */
  weightBytes: number;
  tensorBytes(name: string): number;
}

export function syntheticWeights(config: ModelConfig, scheme: Scheme): SyntheticWeights {
  const tensors: PackTensor[] = [];
  const c = config;
  const qkvRows = (c.numHeads + 2 * c.numKvHeads) * c.headDim;
  const linear = (name: string, N: number, K: number) => {
    const groupSize = manifestGroupSize(scheme, K);
    const rowBytes = Object.values(componentSpec(scheme, 1, K, groupSize)).reduce(
      (a, s) => a + (s.bytes ?? 0),
      0,
    );
    const perPiece = Math.max(2, Math.floor(PIECE_MAX_BYTES / rowBytes / 2) * 2);
    const pieces = [];
    for (let r0 = 0; r0 < N; r0 += perPiece)
      pieces.push({ rows: [r0, Math.min(N, r0 + perPiece)] as [number, number], components: {} });
    tensors.push({ name, shape: [N, K], scheme, groupSize, pieces });
  };
  const norm = (name: string) =>
    tensors.push({ name, shape: [c.hiddenSize], scheme: 'f32', pieces: [{ rows: [0, 1], components: {} }] });
  for (let i = 0; i < c.numLayers; i++) {
    const n = tensorNames.layer(i);
    norm(n.attnNorm);
    linear(fusedNames.qkv(i), qkvRows, c.hiddenSize);
    linear(n.o, c.hiddenSize, c.numHeads * c.headDim);
    norm(n.mlpNorm);
    linear(fusedNames.gateUp(i), 2 * c.intermediateSize, c.hiddenSize);
    linear(n.down, c.hiddenSize, c.intermediateSize);
  }
  norm(tensorNames.finalNorm);
  linear(tensorNames.lmHead, c.vocabSize, c.hiddenSize);
  if (!c.tieWordEmbeddings) linear(tensorNames.embed, c.vocabSize, c.hiddenSize);
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const tensorBytes = (name: string) => {
    const t = byName.get(name);
    if (t?.shape.length !== 2) return 0;
    let bytes = 0;
    for (const p of t.pieces) {
      for (const s of Object.values(componentSpec(scheme, p.rows[1] - p.rows[0], t.shape[1], t.groupSize))) {
        bytes += s.bytes ?? 4 * (p.rows[1] - p.rows[0]) * Math.max(1, Math.round(t.shape[1] * 0.005)); // outliers
      }
    }
    return bytes;
  };
  return {
    weightBytes: tensors.reduce((a, t) => a + tensorBytes(t.name), 0),
    tensorBytes,
    manifest: { config, scheme, tensors },
    tensor: (name) => {
      const t = byName.get(name);
      if (!t) throw new Error(`synthetic pack has no tensor ${name}`);
      return t;
    },
    readTensorComponents: async (name, piece) => {
      const t = byName.get(name)!;
      if (t.shape.length === 1) return { data: new Float32Array(t.shape[0]).fill(1) };
      const [r0, r1] = t.pieces[piece].rows;
      return randomComponents(scheme, r1 - r0, t.shape[1], t.groupSize, r0 * 7919 + name.length);
    },
  };
}

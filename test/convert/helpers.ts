import { memoryDirectory } from '../../src/format/byte-source';
import type { Checkpoint } from '../../src/format/checkpoint';
import { fusedNames } from '../../src/format/pack';
import { openPack, type Pack } from '../../src/format/pack-reader';
import { MemoryPackSink } from '../../src/format/pack-writer';
import { tensorNames } from '../../src/model/config';
import { roundF16, unpackGrid } from '../../src/quant';
import type { QuantScheme, Scheme } from '../../src/quant/types';

export { STORIES260K, TINYSTORIES } from '../helpers/models';

export function openMemoryPack(sink: MemoryPackSink, verify = true): Promise<Pack> {
  return openPack(memoryDirectory('mem', Object.fromEntries(sink.files)), { verify });
}

/**
 * The original f32 matrix behind each pack tensor, fused here independently of src/convert:
 * qkv = rows q, k, v; gate_up = gate/up rows interleaved.
 */
export async function originalOf(ckpt: Checkpoint, name: string): Promise<Float32Array> {
  const c = ckpt.config;
  for (let i = 0; i < c.numLayers; i++) {
    const l = tensorNames.layer(i);
    if (name === fusedNames.qkv(i)) {
      const parts = [await ckpt.readTensor(l.q), await ckpt.readTensor(l.k), await ckpt.readTensor(l.v)];
      const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
      let o = 0;
      for (const p of parts) {
        out.set(p, o);
        o += p.length;
      }
      return out;
    }
    if (name === fusedNames.gateUp(i)) {
      const gate = await ckpt.readTensor(l.gate);
      const up = await ckpt.readTensor(l.up);
      const H = c.hiddenSize;
      const out = new Float32Array(2 * gate.length);
      for (let r = 0; r < c.intermediateSize; r++) {
        out.set(gate.subarray(r * H, (r + 1) * H), 2 * r * H);
        out.set(up.subarray(r * H, (r + 1) * H), (2 * r + 1) * H);
      }
      return out;
    }
  }
  return ckpt.readTensor(name);
}

/**
 * Checks a pack tensor against the original weights with the scheme's bound: f32 exact; f16 the
 * f16 rounding of every value; quantized schemes within half a step of each element's own group
 * (read from the stored grid) plus, for values outside the grid's range (clipped), the distance
 * to the range. Returns the number of elements that were clipped.
 */
export async function checkTensorBound(pack: Pack, name: string, orig: Float32Array): Promise<number> {
  const t = pack.tensor(name);
  const got = await pack.dequantizeTensor(name);
  const K = t.shape.length === 2 ? t.shape[1] : t.shape[0];
  if (got.length !== orig.length) throw new Error(`${name}: ${got.length} values, original ${orig.length}`);
  const scheme: Scheme = t.scheme;
  if (scheme === 'f32') {
    for (let i = 0; i < orig.length; i++) {
      if (got[i] !== orig[i]) throw new Error(`${name}[${i}]: ${got[i]} != ${orig[i]}`);
    }
    return 0;
  }
  if (scheme === 'f16') {
    for (let i = 0; i < orig.length; i++) {
      if (got[i] !== roundF16(orig[i])) throw new Error(`${name}[${i}]: ${got[i]} != f16(${orig[i]})`);
    }
    return 0;
  }
  let clipped = 0;
  for (let p = 0; p < t.pieces.length; p++) {
    const [r0, r1] = t.pieces[p].rows;
    const grid = unpackGrid(scheme as QuantScheme, await pack.readTensorComponents(name, p), r1 - r0, K);
    for (let n = 0; n < r1 - r0; n++) {
      for (let k = 0; k < K; k++) {
        const gi = n * grid.nGroups + Math.floor(k / grid.groupSize);
        const s = grid.scale[gi];
        const b = grid.bias[gi];
        const [qmin, qmax] =
          scheme === 'w4a8' ? [-8, 7] : scheme === 'w4a16' ? [0, 15] : grid.is4![gi] ? [0, 15] : [0, 3];
        const lo = Math.min(s * qmin + b, s * qmax + b);
        const hi = Math.max(s * qmin + b, s * qmax + b);
        const idx = (r0 + n) * K + k;
        const x = orig[idx];
        const outside = x < lo ? lo - x : x > hi ? x - hi : 0;
        if (outside > 1e-3 * s) clipped++; // not the f32 rounding of absmax/7·7
        const bound = s / 2 + outside + 1e-6 * Math.max(Math.abs(x), Math.abs(s)) + 1e-30;
        const err = Math.abs(got[idx] - x);
        if (!(err <= bound)) {
          throw new Error(
            `${name}[${r0 + n}, ${k}]: |${got[idx]} − ${x}| = ${err} > bound ${bound} (scale ${s})`,
          );
        }
      }
    }
  }
  return clipped;
}

export { MemoryPackSink };

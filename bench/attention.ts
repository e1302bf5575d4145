import { storageBuffer, uniformBuffer, uploadBuffer } from '../src/gpu/buffers';
import type { GpuContext } from '../src/gpu/device';
import {
  type AttentionMerge,
  type AttentionShape,
  attentionKernel,
  type DecodeAttention,
  type KvFormat,
  kvCacheBytes,
  kvRowBytes,
} from '../src/kernels/attention';
import { SHAPES } from './synthetic';
import { calibrateIterations, timeGpu } from './timer';

/**
 * Decode attention alone, on a model shape's heads: µs per layer-dispatch, the layer count of
 * dispatches back to back in one pass (each writes the cache the next reads, as in a decode step),
 * per kernel choice and context, and — the diagnostic `strip` variants — with parts of the decode
 * kernel left out, to find where its time goes. Bytes: the K/V rows a step must read.
 */
export interface AttentionVariant {
  name: string;
  mode: DecodeAttention;
  strip?: number;
  /**
   * Each layer-dispatch reads its own K/V cache, as in the model (layers × the cache size, past
   * the L2 for the 7B shape at 128 keys: 32 × 2 MiB): the others re-read one L2-resident cache.
   */
  perLayerCache?: boolean;
  /** KV-cache format (default f16). */
  kv?: KvFormat;
  /** The merge of split outputs (AttentionOptions.merge; default `auto`). */
  merge?: AttentionMerge;
  /** AttentionOptions.kFirst (default true). */
  kFirst?: boolean;
  /** AttentionOptions.vAfterDots (default on GPUs). */
  vAfterDots?: boolean;
  /** AttentionOptions.decodeSplit (default 32). */
  decodeSplit?: number;
}

export const ATTENTION_VARIANTS: AttentionVariant[] = [
  { name: 'auto', mode: 'auto' },
  { name: 'split', mode: 'split' },
  { name: 'partial+merge', mode: 'partial' },
  { name: 'decode', mode: 'decode' },
  { name: 'split, a cache per layer', mode: 'split', perLayerCache: true },
  { name: 'decode, a cache per layer', mode: 'decode', perLayerCache: true },
  // V loaded after the softmax: K's registers are free by then, so two workgroups may share an SM.
  { name: 'decode late V, a cache per layer', mode: 'decode-late-v', perLayerCache: true },
  // The merge before session 14: a round trip per 8 splits.
  { name: 'split, a cache per layer, serial merge', mode: 'split', perLayerCache: true, merge: 'serial' },
  { name: 'decode, a cache per layer, serial merge', mode: 'decode', perLayerCache: true, merge: 'serial' },
  // The split kernel before session 15: its K loads after q's RoPE and the cache write.
  { name: 'split, a cache per layer, K after q', mode: 'split', perLayerCache: true, kFirst: false },
  // … and with its V loads in P·V, after the softmax (before session 15; GPUs now issue them
  // right after the Q·K dots).
  { name: 'split, a cache per layer, V in P·V', mode: 'split', perLayerCache: true, vAfterDots: false },
  { name: 'auto, int8 cache', mode: 'auto', kv: 'int8' },
  { name: 'auto, int8 cache per layer', mode: 'auto', kv: 'int8', perLayerCache: true },
  { name: 'split, int8 cache', mode: 'split', kv: 'int8' },
  { name: 'split, int8 cache per layer', mode: 'split', kv: 'int8', perLayerCache: true },
  { name: 'split 64, a cache per layer', mode: 'split', perLayerCache: true, decodeSplit: 64 },
  { name: 'split 128, a cache per layer', mode: 'split', perLayerCache: true, decodeSplit: 128 },
  { name: 'split 64, int8 cache per layer', mode: 'split', kv: 'int8', perLayerCache: true, decodeSplit: 64 },
  {
    name: 'split 128, int8 cache per layer',
    mode: 'split',
    kv: 'int8',
    perLayerCache: true,
    decodeSplit: 128,
  },
  { name: 'partial+merge, int8 cache', mode: 'partial', kv: 'int8' },
  { name: 'decode, int8 cache', mode: 'decode', kv: 'int8' },
  { name: 'decode −kv loads', mode: 'decode', strip: 1 },
  { name: 'decode −rope', mode: 'decode', strip: 2 },
  { name: 'decode −cache write', mode: 'decode', strip: 4 },
  { name: 'decode −P·V', mode: 'decode', strip: 8 },
  { name: 'decode −softmax reductions', mode: 'decode', strip: 16 },
  { name: 'decode −all of the above', mode: 'decode', strip: 31 },
];

export interface AttentionResult {
  shape: string;
  variant: string;
  context: number;
  microseconds: number;
  kvBytes: number;
  gbPerSecond: number;
}

export async function benchAttention(
  gpu: GpuContext,
  shape: string,
  contexts: number[],
  variants = ATTENTION_VARIANTS,
): Promise<AttentionResult[]> {
  const { device } = gpu;
  const c = SHAPES[shape];
  const D = c.headDim;
  const maxPos = Math.max(...contexts) + 1;
  const shapeOf = (kv: KvFormat): AttentionShape => ({
    numHeads: c.numHeads,
    numKvHeads: c.numKvHeads,
    headDim: D,
    maxPos,
    kv,
  });
  const qkvStride = (c.numHeads + 2 * c.numKvHeads) * D;
  const rnd = (n: number, seed: number) =>
    Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed) * 0.5);
  // Every cached value 1.0: f16 pairs, or int8 127 with scale 1/127.
  const kvInit = (kv: KvFormat) => {
    const s = shapeOf(kv);
    const words = new Uint32Array(kvCacheBytes(s) / 4);
    if (kv === 'int8') {
      const rows = c.numKvHeads * maxPos;
      words.fill(0x7f7f7f7f, 0, (rows * D) / 4);
      new Float32Array(words.buffer, rows * D).fill(1 / 127);
    } else words.fill(0x3c003c00);
    return words;
  };
  const b = {
    q: storageBuffer(device, c.numHeads * D * 4),
    qStride: c.numHeads * D,
    k: uploadBuffer(device, kvInit('f16')),
    v: uploadBuffer(device, kvInit('f16')),
    out: storageBuffer(device, c.numHeads * D * 4),
    outStride: c.numHeads * D,
    step: uniformBuffer(device, new Uint32Array([0, 1])),
    qkv: uploadBuffer(device, rnd(qkvStride, 1)),
    qkvStride,
    cosSin: uploadBuffer(device, rnd(maxPos * D, 2)),
  };
  const results: AttentionResult[] = [];
  for (const v of variants) {
    const opts = {
      decode: v.mode,
      strip: v.strip,
      merge: v.merge,
      kFirst: v.kFirst,
      vAfterDots: v.vAfterDots,
      decodeSplit: v.decodeSplit,
    };
    const kv = v.kv ?? 'f16';
    const s = shapeOf(kv);
    const caches =
      v.perLayerCache || kv !== 'f16'
        ? Array.from({ length: v.perLayerCache ? c.numLayers : 1 }, () => ({
            k: uploadBuffer(device, kvInit(kv)),
            v: uploadBuffer(device, kvInit(kv)),
          }))
        : [];
    const kernels = caches.length
      ? await Promise.all(caches.map((cache) => attentionKernel(gpu, s, { ...b, ...cache }, 1, opts)))
      : [await attentionKernel(gpu, s, b, 1, opts)];
    for (const context of contexts) {
      if (v.strip && context !== contexts[0]) continue;
      const last = context - 1;
      device.queue.writeBuffer(b.step, 0, new Uint32Array([last, 1]));
      const encode = (pass: GPUComputePassEncoder) => {
        for (let l = 0; l < c.numLayers; l++) kernels[l % kernels.length].encodeAt(pass, 1, last);
      };
      const iterations = await calibrateIterations(gpu, encode, 0.03, 512);
      const t = await timeGpu(gpu, encode, { iterations, samples: 5 });
      const seconds = t.secondsPerIteration / c.numLayers;
      const kvBytes = 2 * c.numKvHeads * context * kvRowBytes(D, kv);
      results.push({
        shape,
        variant: v.name,
        context,
        microseconds: seconds * 1e6,
        kvBytes,
        gbPerSecond: kvBytes / seconds / 1e9,
      });
    }
    for (const k of kernels) k.destroy();
    for (const kv of caches) {
      kv.k.destroy();
      kv.v.destroy();
    }
  }
  for (const buf of [b.q, b.k, b.v, b.out, b.step, b.qkv, b.cosSin]) buf.destroy();
  return results;
}

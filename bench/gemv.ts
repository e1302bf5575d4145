import { manifestGroupSize } from '../src/format/pack-layout';
import { roundUp, storageBuffer, uploadBuffer } from '../src/gpu/buffers';
import type { GpuContext } from '../src/gpu/device';
import { dequantizeW4a8Kernel } from '../src/kernels/dequant';
import type { Encodable } from '../src/kernels/encodable';
import { type GemvOptions, gemv } from '../src/kernels/gemv';
import { ACT_ALIGN, type Activations, type GpuLinear, x16Bytes } from '../src/kernels/linear';
import type { Scheme } from '../src/quant/types';
import { randomComponents } from './synthetic';
import { calibrateIterations, timeGpu } from './timer';

/**
 * GEMV micro-benchmarks on the 1B and 7B layer shapes: weight GB/s ÷ the read bandwidth of the
 * same run, per scheme and kernel variant. Each iteration uses another copy of the weights, and
 * the copies together exceed the L2 several times over, so the figures are DRAM figures.
 */
export const LAYER_SHAPES: Record<string, [string, number, number][]> = {
  'llama-2-7b': [
    ['qkv', 12288, 4096],
    ['o', 4096, 4096],
    ['gate_up', 22016, 4096],
    ['down', 4096, 11008],
  ],
  'llama-3.2-1b': [
    ['qkv', 3072, 2048],
    ['o', 2048, 2048],
    ['gate_up', 16384, 2048],
    ['down', 2048, 8192],
    ['lm_head', 128256, 2048],
  ],
};

export interface GemvVariant {
  name: string;
  opts: GemvOptions;
  /**
   * The input when not the scheme's plain one (W4A8: int8 rows; W4A16 / 2/4/16: f32 rows the
   * kernel stages as 16 bits). `f32`: f32 rows the kernel stages (W4A8: quantizes) itself, as the
   * model's decode o / down; `norm`: the same with the RMSNorm fused, as the model's qkv /
   * gate_up; `x16` (W4A16 / 2/4/16): the input already quantized to 16 bits (the token-block
   * kernel with one token, as the prefill's standalone quantizer feeds it: no staging at all).
   */
  input?: 'f32' | 'norm' | 'x16';
}

export const GEMV_VARIANTS: GemvVariant[] = [
  { name: 'tpr32', opts: { threadsPerRow: 32 } },
  { name: 'tpr16', opts: { threadsPerRow: 16 } },
  { name: 'tpr8', opts: { threadsPerRow: 8 } },
  { name: 'tpr64', opts: { threadsPerRow: 64 } },
  { name: 'tpr32 scales per thread', opts: { threadsPerRow: 32, scalesInShared: false } },
];

/**
 * Extra rows for the 16-bit-activation kernels: fewer invocations per row, the norm fused as in
 * the model, the input quantized once beforehand, and (2/4/16) the staged kernel with parts left
 * out (STRIP bits, gemv_w2_4_16.wgsl) to see where its time goes.
 */
export const INT16_GEMV_VARIANTS: GemvVariant[] = [
  { name: 'tpr4', opts: { threadsPerRow: 4 } },
  { name: 'tpr8 + norm', opts: { threadsPerRow: 8 }, input: 'norm' },
  { name: 'tpr4 + norm', opts: { threadsPerRow: 4 }, input: 'norm' },
  { name: 'x16 input tpr4', opts: { threadsPerRow: 4 }, input: 'x16' },
  { name: 'x16 input tpr8', opts: { threadsPerRow: 8 }, input: 'x16' },
  { name: 'x16 input tpr16', opts: { threadsPerRow: 16 }, input: 'x16' },
  { name: 'x16 input tpr8 unroll8', opts: { threadsPerRow: 8, unroll: 8 }, input: 'x16' },
  { name: 'tpr8 unroll8', opts: { threadsPerRow: 8, unroll: 8 } },
];

/**
 * The 2/4/16 16-bit kernel with the norm fused (the model's qkv / gate_up) with each of its three
 * tile levers (session 23, w2TileDefaults in src/kernels/gemv.ts): 16-bit schedule entries, the
 * norm weights loaded late, 2 weight chunks in flight — the first and last together let it fit 3
 * tiles per SM instead of 2. `tpr8 + norm` is the default (all three); `s22` none (session 22's).
 */
const W2_TILE = (
  name: string,
  schedule16: boolean,
  normWeightsLate: boolean,
  unroll: number,
): GemvVariant => ({
  name: `tpr8 + norm ${name}`,
  opts: { threadsPerRow: 8, schedule16, normWeightsLate, unroll },
  input: 'norm',
});
export const W2_TILE_VARIANTS: GemvVariant[] = [
  W2_TILE('s22', false, false, 4),
  W2_TILE('late', false, true, 4),
  W2_TILE('unroll2', false, false, 2),
  W2_TILE('s16', true, false, 4),
  W2_TILE('s16 late', true, true, 4),
  W2_TILE('late unroll2', false, true, 2),
  W2_TILE('s16 unroll2', true, false, 2),
  { name: 'tpr8 s16', opts: { threadsPerRow: 8, schedule16: true } },
  { name: 'tpr16 + norm', opts: { threadsPerRow: 16 }, input: 'norm' },
  {
    name: 'tpr8 + norm a8 s16',
    opts: { threadsPerRow: 8, stagedActivationBits: 8, schedule16: true },
    input: 'norm',
  },
  // int8 + norm with session 22's tile (the late norm weights only; the default since c152b9d has all three).
  {
    name: 'tpr8 + norm a8 s22',
    opts: { threadsPerRow: 8, stagedActivationBits: 8, schedule16: false, normWeightsLate: true, unroll: 4 },
    input: 'norm',
  },
  {
    name: 'tpr8 + norm a8 s16 unroll2',
    opts: { threadsPerRow: 8, stagedActivationBits: 8, schedule16: true, unroll: 2 },
    input: 'norm',
  },
  { name: 'tpr16 a8 s22', opts: { threadsPerRow: 16, stagedActivationBits: 8, schedule16: false } },
  // o / down at 16 bits (16 per row, no norm): the same levers.
  { name: 'tpr16 unroll2', opts: { threadsPerRow: 16, unroll: 2 } },
  { name: 'tpr16 s16', opts: { threadsPerRow: 16, schedule16: true } },
  { name: 'tpr16 s16 unroll2', opts: { threadsPerRow: 16, schedule16: true, unroll: 2 } },
];

/** STRIP bits of the 2/4/16 staged kernel, measured at tpr 8 (results wrong by design). */
export const W2_STRIP_VARIANTS: GemvVariant[] = [
  { name: 'tpr8 −staging', opts: { threadsPerRow: 8, strip: 1 } },
  { name: 'tpr8 −schedule', opts: { threadsPerRow: 8, strip: 2 } },
  { name: 'tpr8 −multiplies', opts: { threadsPerRow: 8, strip: 4 } },
  { name: 'tpr8 −weight loads', opts: { threadsPerRow: 8, strip: 8 } },
  { name: 'tpr8 −staging −schedule', opts: { threadsPerRow: 8, strip: 3 } },
  { name: 'tpr8 −staging −multiplies', opts: { threadsPerRow: 8, strip: 5 } },
  { name: 'tpr8 loads only', opts: { threadsPerRow: 8, strip: 7 } },
  // The schedule kept, its groups consecutive: what of − schedule is the activations' addresses.
  { name: 'tpr8 consecutive groups', opts: { threadsPerRow: 8, strip: 16 } },
  { name: 'tpr8 + norm consecutive groups', opts: { threadsPerRow: 8, strip: 16 }, input: 'norm' },
  { name: 'tpr8 + norm −schedule', opts: { threadsPerRow: 8, strip: 2 }, input: 'norm' },
  // The same split at int8 activations (W2_A8_VARIANTS' kernel).
  {
    name: 'tpr8 + norm a8 consecutive groups',
    opts: { threadsPerRow: 8, strip: 16, stagedActivationBits: 8 },
    input: 'norm',
  },
  {
    name: 'tpr8 + norm a8 −schedule',
    opts: { threadsPerRow: 8, strip: 2, stagedActivationBits: 8 },
    input: 'norm',
  },
  { name: 'tpr8 a8 −staging', opts: { threadsPerRow: 8, strip: 1, stagedActivationBits: 8 } },
  { name: 'tpr8 a8 −weight loads', opts: { threadsPerRow: 8, strip: 8, stagedActivationBits: 8 } },
  {
    name: 'tpr8 a8 −staging −weight loads',
    opts: { threadsPerRow: 8, strip: 9, stagedActivationBits: 8 },
  },
  // What is left: the multiplies on words made from the slot index, the reductions, the store.
  {
    name: 'tpr8 a8 multiplies only',
    opts: { threadsPerRow: 8, strip: 11, stagedActivationBits: 8 },
  },
];

/** 2/4/16 at int8 activation levels, as the model's decode matmuls run with `w2-a8`. */
export const W2_A8_VARIANTS: GemvVariant[] = [
  { name: 'tpr8 + norm a8', opts: { threadsPerRow: 8, stagedActivationBits: 8 }, input: 'norm' },
  { name: 'tpr16 a8', opts: { threadsPerRow: 16, stagedActivationBits: 8 } },
  { name: 'tpr8 a8', opts: { threadsPerRow: 8, stagedActivationBits: 8 } },
  // Fewer / more weight loads in flight per invocation (fewer / more live registers).
  {
    name: 'tpr8 + norm a8 unroll2',
    opts: { threadsPerRow: 8, stagedActivationBits: 8, unroll: 2 },
    input: 'norm',
  },
  {
    name: 'tpr8 + norm a8 unroll8',
    opts: { threadsPerRow: 8, stagedActivationBits: 8, unroll: 8 },
    input: 'norm',
  },
];

/** W4A8 staging its own row as the model's decode does (qkv / gate_up with the norm, o / down without). */
const W4A8_STAGED: GemvVariant[] = [
  { name: 'tpr8 + norm', opts: { threadsPerRow: 8 }, input: 'norm' },
  { name: 'tpr4 + norm', opts: { threadsPerRow: 4 }, input: 'norm' },
  { name: 'tpr16 staged', opts: { threadsPerRow: 16 }, input: 'f32' },
];

/**
 * Those kernels with the tile's scales in workgroup memory, then with each row's scale read by
 * its invocations (the model's default for per-channel scales since session 20).
 */
export const W4A8_STAGED_VARIANTS: GemvVariant[] = [
  ...W4A8_STAGED,
  ...W4A8_STAGED.map((v) => ({
    ...v,
    name: `${v.name}, scales per thread`,
    opts: { ...v.opts, scalesInShared: false },
  })),
];

/** The variants the suite runs for a scheme. */
export function gemvVariantsFor(scheme: Scheme): GemvVariant[] {
  if (scheme === 'w4a8') return [...GEMV_VARIANTS, ...W4A8_STAGED_VARIANTS];
  if (scheme === 'w4a16') return [...GEMV_VARIANTS, ...INT16_GEMV_VARIANTS];
  if (scheme === 'w2-4-16')
    return [
      ...GEMV_VARIANTS,
      ...INT16_GEMV_VARIANTS,
      ...W2_TILE_VARIANTS,
      ...W2_A8_VARIANTS,
      ...W2_STRIP_VARIANTS,
    ];
  return GEMV_VARIANTS;
}

export interface GemvResult {
  shape: string;
  layer: string;
  scheme: Scheme;
  variant: string;
  N: number;
  K: number;
  microseconds: number;
  gbPerSecond: number;
  rooflineFraction: number;
}

const L2_MULTIPLE = 256 * 1024 * 1024; // rotate through at least this many bytes of weights

/**
 * Random weights of one layer (N × K) uploaded as enough copies that rotating through them reads
 * L2_MULTIPLE bytes (several times the L2): iteration i of a timing uses copy i mod copies.
 * `bytes` is one copy's stored size.
 */
export function rotatedWeights(device: GPUDevice, scheme: Scheme, N: number, K: number, seed: number) {
  const groupSize = manifestGroupSize(scheme, K) ?? K;
  const comps = randomComponents(scheme, N, K, groupSize, seed);
  const bytes = Object.values(comps).reduce((a, c) => a + c.byteLength, 0);
  const copies = Math.max(2, Math.ceil(L2_MULTIPLE / bytes));
  const weights: GpuLinear[] = [];
  for (let i = 0; i < copies; i++) {
    const buffers: Record<string, GPUBuffer> = {};
    for (const [name, arr] of Object.entries(comps)) buffers[name] = uploadBuffer(device, arr);
    weights.push({ scheme, N, K, groupSize, pieces: [{ row0: 0, rows: N, buffers }] });
  }
  return { comps, bytes, weights, groupSize };
}

/**
 * Seconds per iteration of `encode` (iteration i may use weight copy i mod copies): batches of
 * ~30 ms, the median of 5 — the gemv and occupancy suites' one timing recipe.
 */
export async function secondsPerDispatch(
  gpu: GpuContext,
  encode: (pass: GPUComputePassEncoder, i: number) => void,
): Promise<number> {
  const iterations = await calibrateIterations(gpu, encode, 0.03);
  return (await timeGpu(gpu, encode, { iterations, samples: 5 })).secondsPerIteration;
}

export function destroyWeights(weights: GpuLinear[]): void {
  for (const w of weights) for (const b of Object.values(w.pieces[0].buffers)) b.destroy();
}

export async function benchGemv(
  gpu: GpuContext,
  shape: string,
  scheme: Scheme,
  readGBs: number,
  variants: GemvVariant[],
  /** Also the L2-resident and fixed-cost rows, and W4A8's dequantize → f16 GEMV ablation. */
  diagnostics = true,
  /** Called with each result as soon as it is measured (a run cut short still prints what it has). */
  onResult: (r: GemvResult) => void = () => {},
): Promise<GemvResult[]> {
  const { device } = gpu;
  const results: GemvResult[] = [];
  for (const [layer, N, K] of LAYER_SHAPES[shape]) {
    const { comps, bytes, weights, groupSize } = rotatedWeights(device, scheme, N, K, N * 31 + K);
    const inputs = gemvInputs(device, scheme, K);
    const { x } = inputs;
    const y = storageBuffer(device, N * 4);
    // Times one way of computing this layer (iteration i uses weight copy i mod copies); GB/s
    // always counts the layer's stored bytes.
    const measure = async (
      variant: string,
      encode: (pass: GPUComputePassEncoder, i: number) => void,
      bytesRead = bytes,
    ) => {
      const seconds = await secondsPerDispatch(gpu, encode);
      const gbPerSecond = bytesRead / seconds / 1e9;
      const r: GemvResult = {
        shape,
        layer,
        scheme,
        variant,
        N,
        K,
        microseconds: seconds * 1e6,
        gbPerSecond,
        rooflineFraction: gbPerSecond / readGBs,
      };
      results.push(r);
      onResult(r);
      return gbPerSecond;
    };
    for (const v of variants) {
      if (scheme !== 'w4a8' && scheme !== 'w4a16' && scheme !== 'w2-4-16') continue;
      const input = inputs.inputFor(v);
      if (!input) continue;
      const opts = inputs.optsFor(v);
      const kernels: Encodable[] = [];
      try {
        for (const w of weights) kernels.push(await gemv(gpu, w, input, y, opts));
      } catch (e) {
        // A variant this shape cannot run (e.g. a tile's table or row past workgroup memory):
        // say so and go on with the rest.
        console.warn(`${layer} ${scheme} ${v.name}: skipped (${String(e).split('\n')[0]})`);
        for (const k of kernels) k.destroy();
        continue;
      }
      const gbPerSecond = await measure(v.name, (pass, i) => kernels[i % kernels.length].encode(pass));
      if (gbPerSecond > readGBs * 1.02)
        throw new Error(
          `${layer} ${scheme} ${v.name}: ${gbPerSecond.toFixed(0)} GB/s exceeds the read roofline: a measurement bug`,
        );
      for (const k of kernels) k.destroy();
    }
    if (diagnostics && variants.length) {
      // Where a matmul's fixed cost goes (first variant's kernel): the same weights every
      // iteration (L2-resident up to ~50 MB on the H100: what prefetching into L2 could buy), and
      // one workgroup's rows (launch + dispatch barrier + one load round trip: the per-dispatch floor).
      const v = variants[0];
      const resident = await gemv(gpu, weights[0], x, y, v.opts);
      await measure(`${v.name}, L2-resident`, (pass) => resident.encode(pass));
      resident.destroy();
      const rows = 8;
      const few: GpuLinear = { ...weights[0], N: rows };
      const fewKernels: Encodable[] = [];
      for (const w of weights.slice(0, 8))
        fewKernels.push(await gemv(gpu, { ...few, pieces: [{ ...w.pieces[0], rows }] }, x, y, v.opts));
      await measure(
        `${v.name}, ${rows} rows (fixed cost)`,
        (pass, i) => fewKernels[i % fewKernels.length].encode(pass),
        (bytes * rows) / N,
      );
      for (const k of fewKernels) k.destroy();
    }
    if (scheme === 'w4a8' && diagnostics) {
      // FastGEMM ablation: the same weights dequantized to f16 by a separate pass each call, then
      // a float GEMV over them (the paper's baseline); GB/s counts the W4A8 bytes, as above.
      const Kp = (comps.qweight.length / N) * 8;
      const scratchBytes = N * Kp * 2;
      if (scratchBytes > device.limits.maxStorageBufferBindingSize) {
        console.warn(
          `${layer} ${scheme} dequantize → f16 GEMV: skipped (its f16 copy, ${scratchBytes} bytes, exceeds this adapter's storage binding limit)`,
        );
      } else {
        const scratch = storageBuffer(device, scratchBytes);
        const xf = uploadBuffer(device, new Float32Array(roundUp(Kp, ACT_ALIGN)).fill(0.01));
        const dense: GpuLinear = {
          scheme: 'f16',
          N,
          K: Kp,
          groupSize: Kp,
          pieces: [{ row0: 0, rows: N, buffers: { data: scratch } }],
        };
        const gemvF16 = await gemv(gpu, dense, { kind: 'f32', x: xf, stride: roundUp(Kp, ACT_ALIGN) }, y);
        const dequant: Encodable[] = [];
        for (const w of weights)
          dequant.push(await dequantizeW4a8Kernel(gpu, w.pieces[0], K, groupSize, scratch));
        await measure('dequantize → f16 GEMV', (pass, i) => {
          dequant[i % dequant.length].encode(pass);
          gemvF16.encode(pass);
        });
        for (const k of [...dequant, gemvF16]) k.destroy();
        scratch.destroy();
        xf.destroy();
      }
    }
    destroyWeights(weights);
    inputs.destroy();
    y.destroy();
  }
  return results;
}

/** A layer's inputs for every gemv variant of a scheme (GemvVariant.input), fixed patterns. */
export interface GemvInputs {
  /** The scheme's plain input: W4A8 int8 rows, W4A16 / 2/4/16 f32 rows. */
  x: Activations;
  /** The variant's input; null where the scheme has none of that kind (x16 for W4A8). */
  inputFor(v: GemvVariant): Activations | null;
  /** The variant's options with its input's extras (the norm weight of `norm`). */
  optsFor(v: GemvVariant): GemvOptions;
  destroy(): void;
}

export function gemvInputs(device: GPUDevice, scheme: Scheme, K: number): GemvInputs {
  const stride = roundUp(K, ACT_ALIGN);
  const x: Activations =
    scheme === 'w4a8'
      ? {
          kind: 'int8',
          q: uploadBuffer(device, new Uint32Array(stride / 4).fill(0x01ff02fe)),
          scale: uploadBuffer(device, new Float32Array([0.01])),
          stride,
        }
      : { kind: 'f32', x: uploadBuffer(device, new Float32Array(stride).fill(0.01)), stride };
  // The 16-bit rows (x16, the quantizer's output layout) and a norm weight for those variants.
  const int16 = scheme === 'w4a16' || scheme === 'w2-4-16';
  const x16: Activations | null = int16 ? x16Input(device, stride, scheme === 'w2-4-16') : null;
  const normWeight = uploadBuffer(device, new Float32Array(stride).fill(1));
  // f32 rows for the kernels staging them (W4A16 / 2/4/16's plain input is already f32).
  const xf: Activations =
    x.kind === 'f32'
      ? x
      : { kind: 'f32', x: uploadBuffer(device, new Float32Array(stride).fill(0.01)), stride };
  return {
    x,
    inputFor: (v) => (v.input === 'x16' ? x16 : v.input ? xf : x),
    optsFor: (v) => (v.input === 'norm' ? { ...v.opts, norm: { weight: normWeight, eps: 1e-5 } } : v.opts),
    destroy() {
      for (const b of x.kind === 'int8' ? [x.q, x.scale] : [x.x]) b.destroy();
      if (x16?.kind === 'x16') for (const b of [x16.q, x16.sum, x16.scale]) b.destroy();
      normWeight.destroy();
      if (xf !== x && xf.kind === 'f32') xf.x.destroy();
    },
  };
}

/** One token's 16-bit split row of `stride` features (x16Bytes' layout), a fixed pattern. */
function x16Input(device: GPUDevice, stride: number, transposed: boolean): Activations {
  const bytes = x16Bytes(stride);
  return {
    kind: 'x16',
    q: uploadBuffer(device, new Uint32Array(bytes.q / 4).fill(0x01ff02fe)),
    sum: uploadBuffer(device, new Int32Array(bytes.sum / 4).fill(64)),
    scale: uploadBuffer(device, new Float32Array([0.01])),
    stride,
    transposed,
  };
}

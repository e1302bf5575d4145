/**
 * GEMV/normalization kernel checks (shared by Node and the browser page). Weights are random,
 * quantized by the real quantizer (src/quant) into the real pack layout; the reference is the
 * layout's exact dequantization times the same activations, in f64.
 */
import { poison, readF32, readU32, storageBuffer, uploadBuffer } from '../../src/gpu/buffers';
import type { GpuContext } from '../../src/gpu/device';
import { gemvW4A8 } from '../../src/kernels/gemv-w4a8';
import type { GpuLinear } from '../../src/kernels/linear';
import { rmsNormKernel } from '../../src/kernels/rmsnorm';
import { dequantizeGrid, packGrid } from '../../src/quant/layouts';
import { rtnQuantize } from '../../src/quant/rtn';
import { expectClose, freshSeed, randomF32, rng } from '../helpers/check';
import type { KernelCase } from './cases';

async function run(gpu: GpuContext, k: { encode(p: GPUComputePassEncoder): void }): Promise<void> {
  const enc = gpu.device.createCommandEncoder();
  const pass = enc.beginComputePass();
  k.encode(pass);
  pass.end();
  gpu.device.queue.submit([enc.finish()]);
}

/** Random int8 activations packed 4 per word, zero beyond K (the padding contract). */
function randomInt8(K: number, Kp: number, next: () => number): { words: Uint32Array; values: Int8Array } {
  const values = new Int8Array(Kp);
  for (let k = 0; k < K; k++) values[k] = Math.round(next() * 254) - 127;
  return { words: new Uint32Array(values.buffer.slice(0)), values };
}

interface GemvCase {
  N: number;
  K: number;
  groupSize?: number;
  threadsPerRow?: number;
  subgroups?: boolean;
  scalesInShared?: boolean;
  accumulate?: boolean;
  /** Split rows into this many pieces (separately bound buffers). */
  pieces?: number;
}

async function checkGemvW4A8(gpu: GpuContext, c: GemvCase): Promise<void> {
  const seed = freshSeed();
  const next = rng(seed);
  const { N, K } = c;
  const W = randomF32(N * K, next);
  const grid = rtnQuantize(W, N, K, 'w4a8', { groupSize: c.groupSize });
  const comps = packGrid(grid);
  const Wq = dequantizeGrid(grid);
  const qweight = comps.qweight as Uint32Array;
  const scales = comps.scales as Float32Array;
  const wordsPerRow = qweight.length / N;
  const Kp = wordsPerRow * 8;
  const groups = scales.length / N;

  const act = randomInt8(K, Kp, next);
  const sx = 0.01 + next() * 0.05;
  const y0 = randomF32(N, next);
  const ref = new Float64Array(N);
  const tol = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    let s = 0;
    let mag = 0;
    for (let k = 0; k < K; k++) {
      s += Wq[n * K + k] * act.values[k] * sx;
      mag += Math.abs(Wq[n * K + k] * act.values[k] * sx);
    }
    ref[n] = (c.accumulate ? y0[n] : 0) + s;
    tol[n] = mag;
  }

  const { device } = gpu;
  const nPieces = c.pieces ?? 1;
  const pieceRows = Math.ceil(N / nPieces);
  const pieces: GpuLinear['pieces'] = [];
  for (let r0 = 0; r0 < N; r0 += pieceRows) {
    const rows = Math.min(pieceRows, N - r0);
    pieces.push({
      row0: r0,
      rows,
      buffers: {
        qweight: uploadBuffer(device, qweight.subarray(r0 * wordsPerRow, (r0 + rows) * wordsPerRow)),
        scales: uploadBuffer(device, scales.subarray(r0 * groups, (r0 + rows) * groups)),
      },
    });
  }
  const weight: GpuLinear = { scheme: 'w4a8', N, K, groupSize: grid.groupSize, pieces };
  const xq = uploadBuffer(device, act.words);
  const xs = uploadBuffer(device, new Float32Array([sx]));
  const y = c.accumulate ? uploadBuffer(device, y0) : storageBuffer(device, N * 4);
  if (!c.accumulate) poison(device, y);
  const k = await gemvW4A8(gpu, weight, { kind: 'int8', q: xq, scale: xs }, y, c);
  await run(gpu, k);
  const got = await readF32(device, y, N);
  k.destroy();
  for (const p of pieces) for (const b of Object.values(p.buffers)) b.destroy();
  for (const b of [xq, xs, y]) b.destroy();

  const what = `gemv w4a8 ${JSON.stringify(c)} seed=${seed}`;
  // i32 accumulation is exact; what remains is f32 rounding of a few products and the scale
  // multiplies: bounded by 1e-5 of the row's magnitude Σ|w·x|.
  for (let n = 0; n < N; n++) {
    expectClose(`${what} row ${n}`, [got[n]], [ref[n]], { rtol: 0, atol: 1e-5 * tol[n] + 1e-6 });
  }
}

/** Round half to even, as WGSL round() does. */
function roundEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

async function checkRmsNorm(gpu: GpuContext, tokens: number, K: number, int8: boolean, normalize: boolean) {
  const seed = freshSeed();
  const next = rng(seed);
  const x = randomF32(tokens * K, next, -3, 3);
  const w = randomF32(K, next, 0.5, 1.5);
  const eps = 1e-5;
  const Kp = Math.ceil(K / 32) * 32;
  const refV = new Float64Array(tokens * K);
  for (let t = 0; t < tokens; t++) {
    let ss = 0;
    for (let k = 0; k < K; k++) ss += x[t * K + k] ** 2;
    const inv = normalize ? 1 / Math.sqrt(ss / K + eps) : 1;
    for (let k = 0; k < K; k++) refV[t * K + k] = normalize ? x[t * K + k] * inv * w[k] : x[t * K + k];
  }
  const { device } = gpu;
  const xb = uploadBuffer(device, x);
  const wb = uploadBuffer(device, w);
  const what = `rmsnorm tokens=${tokens} K=${K} int8=${int8} normalize=${normalize} seed=${seed}`;
  if (!int8) {
    const out = storageBuffer(device, tokens * K * 4);
    poison(device, out);
    const k = await rmsNormKernel(gpu, {
      tokens,
      k: K,
      eps,
      x: xb,
      weight: normalize ? wb : null,
      out: { f32: out },
    });
    await run(gpu, k);
    expectClose(what, await readF32(device, out, tokens * K), refV, { rtol: 1e-5, atol: 1e-6 });
    k.destroy();
    out.destroy();
  } else {
    const q = storageBuffer(device, (tokens * Kp) / 1);
    const scale = storageBuffer(device, tokens * 4);
    poison(device, q);
    poison(device, scale);
    const k = await rmsNormKernel(gpu, {
      tokens,
      k: K,
      eps,
      x: xb,
      weight: normalize ? wb : null,
      out: { q, scale, kp: Kp },
    });
    await run(gpu, k);
    const gotQ = new Int8Array((await readU32(device, q, (tokens * Kp) / 4)).buffer);
    const gotS = await readF32(device, scale, tokens);
    for (let t = 0; t < tokens; t++) {
      let m = 0;
      for (let kk = 0; kk < K; kk++) m = Math.max(m, Math.abs(refV[t * K + kk]));
      expectClose(`${what} scale[${t}]`, [gotS[t]], [m / 127], { rtol: 1e-5, atol: 0 });
      const want = new Float64Array(Kp);
      for (let kk = 0; kk < K; kk++) want[kk] = roundEven(refV[t * K + kk] / (m / 127));
      // The GPU's rsqrt and f32 rounding may move a value across a .5 boundary: one level off.
      expectClose(`${what} q[${t}]`, gotQ.subarray(t * Kp, (t + 1) * Kp), want, { rtol: 0, atol: 1 });
    }
    k.destroy();
    q.destroy();
    scale.destroy();
  }
  xb.destroy();
  wb.destroy();
}

const gemvCases: GemvCase[] = [
  { N: 1, K: 32 },
  { N: 37, K: 100 },
  { N: 300, K: 172, threadsPerRow: 8 },
  { N: 129, K: 1000, groupSize: 64 },
  { N: 96, K: 4096, groupSize: 128, scalesInShared: false },
  { N: 200, K: 384, subgroups: false },
  { N: 77, K: 256, accumulate: true },
  { N: 1000, K: 128, pieces: 3, threadsPerRow: 64 },
];

export const gemvKernelCases: KernelCase[] = [
  ...gemvCases.map((c) => ({
    name: `gemv w4a8 ${JSON.stringify(c)}`,
    run: (gpu: GpuContext) => checkGemvW4A8(gpu, c),
  })),
  ...(
    [
      [1, 128, false, true],
      [3, 1000, false, true],
      [1, 4096, true, true],
      [5, 172, true, true],
      [2, 300, true, false],
    ] as const
  ).map(([t, K, int8, norm]) => ({
    name: `rmsnorm tokens=${t} K=${K} ${int8 ? 'int8' : 'f32'}${norm ? '' : ' (quantize only)'}`,
    run: (gpu: GpuContext) => checkRmsNorm(gpu, t, K, int8, norm),
  })),
];

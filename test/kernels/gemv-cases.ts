/**
 * GEMV/normalization kernel checks (shared by Node and the browser page). Weights are random,
 * quantized by the real quantizer (src/quant) into the real pack layout; the reference is the
 * layout's exact dequantization times the same activations, in f64.
 */

import { sliceRows } from '../../src/format/pieces';
import { poison, readF32, readU32, storageBuffer, uploadBuffer } from '../../src/gpu/buffers';
import type { GpuContext } from '../../src/gpu/device';
import { dequantizeW4a8Kernel } from '../../src/kernels/dequant';
import { MATRIX_GEMM_TOKENS, type MatrixGrid, matrixUnitsAvailable } from '../../src/kernels/gemm-matrix';
import { gemv } from '../../src/kernels/gemv';
import { ACT_ALIGN, type Activations, type GpuLinear } from '../../src/kernels/linear';
import { rmsNormKernel } from '../../src/kernels/rmsnorm';
import { f16BitsToF32, f32ToF16Bits } from '../../src/quant/f16';
import { dequantize, dequantizeGrid, packF16, packF32, packGrid } from '../../src/quant/layouts';
import { rtnQuantize } from '../../src/quant/rtn';
import type { Components, Scheme } from '../../src/quant/types';
import { expectClose, expectEqual, freshSeed, randomF32, rng } from '../helpers/check';
import type { KernelCase } from './cases';

async function run(gpu: GpuContext, k: { encode(p: GPUComputePassEncoder): void }): Promise<void> {
  const enc = gpu.device.createCommandEncoder();
  const pass = enc.beginComputePass();
  k.encode(pass);
  pass.end();
  gpu.device.queue.submit([enc.finish()]);
}

interface GemvCase {
  scheme: Scheme;
  N: number;
  K: number;
  groupSize?: number;
  threadsPerRow?: number;
  subgroups?: boolean;
  scalesInShared?: boolean;
  accumulate?: boolean;
  /** Split rows into this many pieces (separately bound buffers). */
  pieces?: number;
  /** Tokens in one dispatch (prefill batching; default 1). */
  tokens?: number;
  /** Interleaved (gate, up) rows → silu(gate)·up. */
  gated?: boolean;
  /** W4A8 with int8 input: tokens per workgroup (prefill blocks). */
  tokensPerWorkgroup?: number;
  /**
   * W4A8 from f32 activations quantized in the kernel, after RMSNorm ('norm') or not; W4A16 and
   * 2/4/16 with the 16-bit staged kernel: 'norm' fuses RMSNorm (they always stage otherwise).
   */
  stage?: 'quantize' | 'norm';
  /** W4A16 / 2/4/16: false runs the f32 baseline kernels (GemvOptions.int16Activations). */
  int16Activations?: boolean;
  /** 2/4/16 staged: 8-bit activation levels (GemvOptions.stagedActivationBits). */
  stagedActivationBits?: 8 | 16;
  /** 2/4/16 16-bit kernels: 16-bit schedule entries, two per word (GemvOptions.schedule16). */
  schedule16?: boolean;
  /** With `stage: 'norm'`: the norm weights loaded after the sum of squares (GemvOptions.normWeightsLate). */
  normWeightsLate?: boolean;
  /** Weight chunks (groups) in flight per invocation (GemvOptions.unroll). */
  unroll?: number;
  /** Skipped by the browser suite, with the reason (KernelCase.nodeOnly). */
  nodeOnly?: string;
  /** W4A8 int8 input: the matrix-unit GEMM (GemvOptions.matrixUnits); the case needs the adapter's i8 subgroup matrices. */
  matrixUnits?: boolean;
  matrixKTile?: number;
  matrixGrid?: MatrixGrid;
  /** true: the matrix GEMM's lane-rotated staging stores (GemvOptions.matrixStageRotate). */
  matrixStageRotate?: boolean;
  /**
   * W4A16 / 2/4/16: the prefill token-block kernel on `x16` activations (packed here by
   * packX16, the layout's reference), tokensPerWorkgroup tokens per workgroup.
   */
  x16Blocks?: boolean;
}

/** 2/4/16 with the norm fused, gated, over three pieces and two tokens (the model's gate_up). */
const W2_GATED_NORM: GemvCase = {
  scheme: 'w2-4-16',
  N: 134,
  K: 1000,
  stage: 'norm',
  gated: true,
  pieces: 3,
  tokens: 2,
  threadsPerRow: 8,
};

/** 2/4/16 prefill token blocks: gated, over two pieces, 9 tokens in blocks of 8 (one partial). */
const W2_GATED_BLOCKS: GemvCase = {
  scheme: 'w2-4-16',
  N: 130,
  K: 2112,
  gated: true,
  tokens: 9,
  tokensPerWorkgroup: 8,
  threadsPerRow: 4,
  pieces: 2,
  x16Blocks: true,
};

/** 16-bit fixed-point levels of one row, as x16_pack.wgsl computes them (f32 arithmetic). */
function x16Levels(row: ArrayLike<number>, K: number): { v: Int32Array; s: number } {
  const f = Math.fround;
  let m = 0;
  for (let k = 0; k < K; k++) m = Math.max(m, Math.abs(f(row[k])));
  const s = f(m / 32639);
  const r = s > 0 ? f(1 / s) : 0;
  const v = new Int32Array(K);
  for (let k = 0; k < K; k++) v[k] = Math.max(-32639, Math.min(32639, roundEven(f(f(row[k]) * r))));
  return { v, s };
}

/**
 * Column of byte `byte` of lane word `word` in a chunk of 16 (shaders/lib/x16_pack.wgsl): 2/4/16
 * (transposed) word s holds columns s, 4+s, 8+s, 12+s; w4a16 word s holds (0,2,4,6), (1,3,5,7),
 * (8,10,12,14), (9,11,13,15).
 */
function x16Column(word: number, byte: number, transposed: boolean): number {
  return transposed ? 4 * byte + word : 8 * (word >> 1) + 2 * byte + (word & 1);
}

/**
 * The `x16` activation layout (src/kernels/linear.ts, rmsnorm.wgsl X16_OUT) of `T` rows of
 * levels, `stride` features per token: per chunk of 16, four hi words then four lo words
 * (v = 256·hi + lo, hi = (v + 128) >> 8), one Σ v per 64 features, zero padding.
 */
function packX16(levels: Int32Array[], stride: number, transposed: boolean) {
  const T = levels.length;
  const q = new Uint32Array((T * stride) / 2);
  const sum = new Int32Array((T * stride) / 64);
  for (let t = 0; t < T; t++) {
    const v = levels[t];
    const at = (k: number) => (k < v.length ? v[k] : 0);
    for (let ch = 0; ch < stride / 16; ch++) {
      for (let word = 0; word < 4; word++) {
        let hi = 0;
        let lo = 0;
        for (let byte = 0; byte < 4; byte++) {
          const x = at(16 * ch + x16Column(word, byte, transposed));
          const h = (x + 128) >> 8;
          hi |= (h & 0xff) << (8 * byte);
          lo |= ((x - 256 * h) & 0xff) << (8 * byte);
        }
        q[(t * stride) / 2 + 8 * ch + word] = hi >>> 0;
        q[(t * stride) / 2 + 8 * ch + 4 + word] = lo >>> 0;
      }
    }
    for (let g = 0; g < stride / 64; g++) {
      let total = 0;
      for (let k = 64 * g; k < 64 * g + 64; k++) total += at(k);
      sum[(t * stride) / 64 + g] = total;
    }
  }
  return { q, sum };
}

/**
 * What the kernel's prologue computes from an f32 row: RMSNorm (optional), then symmetric int8
 * with scale max|v| / 127, round half to even. f32 arithmetic as on the GPU.
 */
function quantizeRow(x: Float32Array, K: number, norm: Float32Array | null, eps: number) {
  const f = Math.fround;
  let inv = 1;
  if (norm) {
    let ss = 0;
    for (let k = 0; k < K; k++) ss = f(ss + f(x[k] * x[k]));
    inv = f(1 / Math.sqrt(f(f(ss / K) + eps)));
  }
  const v = Array.from({ length: K }, (_, k) => (norm ? f(f(x[k] * inv) * norm[k]) : x[k]));
  const s = f(v.reduce((m, a) => Math.max(m, Math.abs(a)), 0) / 127);
  const r = s > 0 ? f(1 / s) : 0;
  return { q: v.map((a) => Math.max(-127, Math.min(127, roundEven(f(a * r))))), s };
}

/** Quantizes random weights with the real quantizer and returns the layout + its exact dequantization. */
function quantizedWeights(
  c: GemvCase,
  W: Float32Array,
): { comps: Components; Wq: Float32Array; groupSize: number } {
  const { N, K } = c;
  if (c.scheme === 'f32' || c.scheme === 'f16') {
    const comps = c.scheme === 'f32' ? packF32(W, N, K) : packF16(W, N, K);
    return { comps, Wq: dequantize(c.scheme, comps, N, K), groupSize: K };
  }
  const grid = rtnQuantize(W, N, K, c.scheme, { groupSize: c.groupSize, outlierFraction: 0.02 });
  return { comps: packGrid(grid), Wq: dequantizeGrid(grid), groupSize: grid.groupSize };
}

async function checkGemv(gpu: GpuContext, c: GemvCase): Promise<void> {
  const seed = freshSeed();
  const next = rng(seed);
  const { N, K } = c;
  const T = c.tokens ?? 1;
  // Token blocks write whole blocks: buffers hold the token count rounded up (extra rows unchecked).
  const block = c.matrixUnits ? MATRIX_GEMM_TOKENS : (c.tokensPerWorkgroup ?? 1);
  if (c.x16Blocks && (c.stage || c.int16Activations === false))
    throw new Error('test case: x16 blocks take raw rows (no stage, no f32 kernel)');
  const Tpad = Math.ceil(T / block) * block;
  const W = randomF32(N * K, next);
  const { comps, Wq, groupSize } = quantizedWeights(c, W);
  const int8 = c.scheme === 'w4a8';
  const stride = Math.ceil(K / ACT_ALIGN) * ACT_ALIGN; // zero-padded per-token rows
  const xi = new Int8Array(Tpad * stride);
  const xf = new Float32Array(Tpad * stride);
  const sx = new Float32Array(Tpad);
  for (let t = 0; t < T; t++) {
    sx[t] = 0.01 + next() * 0.05;
    for (let k = 0; k < K; k++) {
      xi[t * stride + k] = Math.round(next() * 254) - 127;
      xf[t * stride + k] = next() * 2 - 1;
    }
  }
  const eps = 1e-5;
  const norm = c.stage === 'norm' ? randomF32(K, next, 0.5, 1.5) : null;
  // Kernels quantizing their f32 rows to int8 themselves: W4A8 staging, 2/4/16 at 8 bits.
  const stagedInt8 = (c.stage && int8) || c.stagedActivationBits === 8;
  if (stagedInt8) {
    // The kernel quantizes f32 rows itself: the reference uses that quantization.
    for (let t = 0; t < T; t++) {
      for (let k = 0; k < K; k++) xf[t * stride + k] = (next() * 2 - 1) * 3;
      const { q, s } = quantizeRow(xf.subarray(t * stride, t * stride + K), K, norm, eps);
      sx[t] = s;
      for (let k = 0; k < K; k++) xi[t * stride + k] = q[k];
    }
  }
  // W4A16 / 2/4/16 with a fused norm: the reference normalizes in f64 (the quantization is the
  // kernel's own business, bounded below).
  const xn = new Float64Array(Tpad * stride);
  if (norm && !stagedInt8) {
    for (let t = 0; t < T; t++) {
      let ss = 0;
      for (let k = 0; k < K; k++) ss += xf[t * stride + k] ** 2;
      const inv = 1 / Math.sqrt(ss / K + eps);
      for (let k = 0; k < K; k++) xn[t * stride + k] = xf[t * stride + k] * inv * norm[k];
    }
  }
  const xval = (t: number, k: number) =>
    int8 || stagedInt8 ? xi[t * stride + k] * sx[t] : norm ? xn[t * stride + k] : xf[t * stride + k];
  // One int8 level moved across a rounding boundary by f32 differences costs |w|·s per element.
  const flipSlack = new Float64Array(T * N);
  // The 16-bit staged kernels (W4A16, 2/4/16 by default) multiply by v = round(x / s16) with
  // s16 = max|x| / 32639 (shaders/lib/stage_x16.wgsl), exactly in i32: each activation is off by
  // at most s16 / 2 (plus f32 rounding of x · (1/s16), < 0.01 level), so a row is off by at most
  // 0.51 · s16 · Σ_k |W[n,k]| ≈ max|x| · 2^-16 · Σ|W| — a bound, not an estimate: the test fails on
  // anything worse, while a wrong lane, half or offset term costs O(Σ |W x|).
  const x16 = (c.scheme === 'w4a16' || c.scheme === 'w2-4-16') && c.int16Activations !== false && !stagedInt8;
  if (x16) {
    for (let t = 0; t < T; t++) {
      let m = 0;
      for (let k = 0; k < K; k++) m = Math.max(m, Math.abs(xval(t, k)));
      for (let n = 0; n < N; n++) {
        let sw = 0;
        for (let k = 0; k < K; k++) sw += Math.abs(Wq[n * K + k]);
        flipSlack[t * N + n] = 0.51 * (m / 32639) * sw;
      }
    }
  }
  if (stagedInt8) {
    for (let t = 0; t < T; t++)
      for (let n = 0; n < N; n++) {
        let m = 0;
        for (let k = 0; k < K; k++) m = Math.max(m, Math.abs(Wq[n * K + k]));
        flipSlack[t * N + n] = 2 * m * sx[t];
      }
  }

  // Reference rows in f64, then the epilogue (gating, residual).
  const outs = c.gated ? N / 2 : N;
  const y0 = randomF32(T * outs, next);
  const ref = new Float64Array(T * outs);
  const mag = new Float64Array(T * outs);
  // Tolerance is 1e-5 · mag: the flip slack in those units (|silu'| ≤ 1.1 for the gated pair).
  const slack = (t: number, n: number, gain = 1) => flipSlack[t * N + n] * gain * 1e5;
  for (let t = 0; t < T; t++) {
    const rowVal = new Float64Array(N);
    const rowMag = new Float64Array(N);
    for (let n = 0; n < N; n++) {
      for (let k = 0; k < K; k++) {
        rowVal[n] += Wq[n * K + k] * xval(t, k);
        rowMag[n] += Math.abs(Wq[n * K + k] * xval(t, k));
      }
    }
    for (let j = 0; j < outs; j++) {
      const base = c.accumulate ? y0[t * outs + j] : 0;
      if (c.gated) {
        const g = rowVal[2 * j];
        const u = rowVal[2 * j + 1];
        ref[t * outs + j] = base + (g / (1 + Math.exp(-g))) * u;
        mag[t * outs + j] =
          Math.abs(base) +
          (rowMag[2 * j] + 1) * (rowMag[2 * j + 1] + 1) +
          slack(t, 2 * j, 1.1 * Math.abs(u) + 1) +
          slack(t, 2 * j + 1, Math.abs(g) + 1);
      } else {
        ref[t * outs + j] = base + rowVal[j];
        mag[t * outs + j] = Math.abs(base) + rowMag[j] + slack(t, j);
      }
    }
  }

  const { device } = gpu;
  const rowsPerPiece = Math.ceil(N / (c.pieces ?? 1) / 2) * 2; // whole (gate, up) pairs
  const pieces: GpuLinear['pieces'] = [];
  for (let r0 = 0; r0 < N; r0 += rowsPerPiece) {
    const r1 = Math.min(N, r0 + rowsPerPiece);
    const part = sliceRows(c.scheme, comps, N, r0, r1);
    const buffers: Record<string, GPUBuffer> = {};
    for (const [name, arr] of Object.entries(part)) buffers[name] = uploadBuffer(device, arr);
    pieces.push({ row0: r0, rows: r1 - r0, buffers });
  }
  const weight: GpuLinear = { scheme: c.scheme, N, K, groupSize, pieces };
  const inputs =
    int8 && !c.stage ? [uploadBuffer(device, xi), uploadBuffer(device, sx)] : [uploadBuffer(device, xf)];
  if (norm) inputs.push(uploadBuffer(device, norm));
  let x: Activations =
    int8 && !c.stage
      ? { kind: 'int8', q: inputs[0], scale: inputs[1], stride }
      : { kind: 'f32', x: inputs[0], stride };
  if (c.x16Blocks) {
    // The token rows as the quantizer would write them (padded tokens all zero).
    const rows = Array.from({ length: Tpad }, (_, t) =>
      t < T ? x16Levels(xf.subarray(t * stride, t * stride + K), K) : { v: new Int32Array(K), s: 0 },
    );
    const transposed = c.scheme === 'w2-4-16';
    const packed = packX16(
      rows.map((r) => r.v),
      stride,
      transposed,
    );
    const bufs = [packed.q, packed.sum, new Float32Array(rows.map((r) => r.s))].map((a) =>
      uploadBuffer(device, a),
    );
    inputs.push(...bufs);
    x = { kind: 'x16', q: bufs[0], sum: bufs[1], scale: bufs[2], stride, transposed };
  }
  const yPadded = new Float32Array(Tpad * outs);
  yPadded.set(y0);
  const y = c.accumulate ? uploadBuffer(device, yPadded) : storageBuffer(device, Tpad * outs * 4);
  if (!c.accumulate) poison(device, y);
  const k = await gemv(gpu, weight, x, y, { ...c, norm: norm ? { weight: inputs[1], eps } : undefined });
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  k.encode(pass, T);
  pass.end();
  device.queue.submit([enc.finish()]);
  const got = await readF32(device, y, T * outs);
  k.destroy();
  for (const p of pieces) for (const b of Object.values(p.buffers)) b.destroy();
  for (const b of [...inputs, y]) b.destroy();

  // W4A8 accumulates exactly in i32; the float schemes accumulate in f32 in a different order
  // than the f64 reference. Either way the error is a small multiple of f32 epsilon times the
  // output's magnitude (1e-5 ≈ 80 ulp of slack for K in the thousands).
  const what = `gemv ${JSON.stringify(c)} seed=${seed}`;
  for (let i = 0; i < T * outs; i++) {
    expectClose(`${what} out ${i}`, [got[i]], [ref[i]], { rtol: 0, atol: 1e-5 * mag[i] + 1e-6 });
  }
}

/** Round half to even, as WGSL round() does. */
function roundEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** What the norm kernel quantizes: RMSNorm (or the row itself) in f64, rows of K (unpadded). */
function normReference(
  x: Float32Array,
  w: Float32Array,
  tokens: number,
  K: number,
  S: number,
  normalize: boolean,
) {
  const refV = new Float64Array(tokens * K);
  for (let t = 0; t < tokens; t++) {
    let ss = 0;
    for (let k = 0; k < K; k++) ss += x[t * S + k] ** 2;
    const inv = normalize ? 1 / Math.sqrt(ss / K + 1e-5) : 1;
    for (let k = 0; k < K; k++) refV[t * K + k] = normalize ? x[t * S + k] * inv * w[k] : x[t * S + k];
  }
  return refV;
}

/**
 * The 16-bit split output (X16_OUT): the scale, every level within one of round(v / s) (the
 * GPU's rsqrt may move a value across a .5 boundary), each in its lane (decoded with the
 * layout's inverse, so a lane-order slip moves values to other columns and fails), the padding
 * zero, and each Σ exactly the sum of the kernel's own levels.
 */
async function checkRmsNormX16(
  gpu: GpuContext,
  tokens: number,
  K: number,
  normalize: boolean,
  transposed: boolean,
) {
  const seed = freshSeed();
  const next = rng(seed);
  const S = Math.ceil(K / ACT_ALIGN) * ACT_ALIGN;
  const x = randomF32(tokens * S, next, -3, 3);
  const w = randomF32(K, next, 0.5, 1.5);
  const refV = normReference(x, w, tokens, K, S, normalize);
  const { device } = gpu;
  const xb = uploadBuffer(device, x);
  const wb = uploadBuffer(device, w);
  const q16 = storageBuffer(device, tokens * S * 2);
  const sum = storageBuffer(device, (tokens * S) / 16);
  const scale = storageBuffer(device, tokens * 4);
  for (const b of [q16, sum, scale]) poison(device, b);
  const k = await rmsNormKernel(gpu, {
    tokens,
    k: K,
    stride: S,
    eps: 1e-5,
    x: xb,
    weight: normalize ? wb : null,
    out: { q16, sum, scale, transposed },
  });
  await run(gpu, k);
  const words = await readU32(device, q16, (tokens * S) / 2);
  const sums = new Int32Array((await readU32(device, sum, (tokens * S) / 64)).buffer);
  const gotS = await readF32(device, scale, tokens);
  const what = `rmsnorm x16 tokens=${tokens} K=${K} normalize=${normalize} transposed=${transposed} seed=${seed}`;
  for (let t = 0; t < tokens; t++) {
    let m = 0;
    for (let kk = 0; kk < K; kk++) m = Math.max(m, Math.abs(refV[t * K + kk]));
    expectClose(`${what} scale[${t}]`, [gotS[t]], [m / 32639], { rtol: 1e-5, atol: 0 });
    const got = new Float64Array(S);
    for (let ch = 0; ch < S / 16; ch++) {
      for (let word = 0; word < 4; word++) {
        const hi = words[(t * S) / 2 + 8 * ch + word];
        const lo = words[(t * S) / 2 + 8 * ch + 4 + word];
        for (let byte = 0; byte < 4; byte++) {
          const h = (hi << (24 - 8 * byte)) >> 24;
          const l = (lo << (24 - 8 * byte)) >> 24;
          got[16 * ch + x16Column(word, byte, transposed)] = 256 * h + l;
        }
      }
    }
    const want = new Float64Array(S);
    for (let kk = 0; kk < K; kk++) want[kk] = roundEven(refV[t * K + kk] / (m / 32639));
    expectClose(`${what} v[${t}]`, got, want, { rtol: 0, atol: 1 });
    for (let g = 0; g < S / 64; g++) {
      let total = 0;
      for (let kk = 64 * g; kk < 64 * g + 64; kk++) total += got[kk];
      expectEqual(`${what} sum[${t}][${g}]`, [sums[(t * S) / 64 + g]], [total]);
    }
  }
  k.destroy();
  for (const b of [xb, wb, q16, sum, scale]) b.destroy();
}

async function checkRmsNorm(gpu: GpuContext, tokens: number, K: number, int8: boolean, normalize: boolean) {
  const seed = freshSeed();
  const next = rng(seed);
  // Rows are padded to the activation stride, as in the model; the padding must be ignored.
  const S = Math.ceil(K / ACT_ALIGN) * ACT_ALIGN;
  const x = randomF32(tokens * S, next, -3, 3);
  const w = randomF32(K, next, 0.5, 1.5);
  const eps = 1e-5;
  const refV = normReference(x, w, tokens, K, S, normalize);
  const { device } = gpu;
  const xb = uploadBuffer(device, x);
  const wb = uploadBuffer(device, w);
  const weight = normalize ? wb : null;
  const what = `rmsnorm tokens=${tokens} K=${K} int8=${int8} normalize=${normalize} seed=${seed}`;
  if (!int8) {
    const out = storageBuffer(device, tokens * S * 4);
    poison(device, out);
    const k = await rmsNormKernel(gpu, { tokens, k: K, stride: S, eps, x: xb, weight, out: { f32: out } });
    await run(gpu, k);
    const got = await readF32(device, out, tokens * S);
    const rows = new Float32Array(tokens * K);
    for (let t = 0; t < tokens; t++) rows.set(got.subarray(t * S, t * S + K), t * K);
    expectClose(what, rows, refV, { rtol: 1e-5, atol: 1e-6 });
    k.destroy();
    out.destroy();
  } else {
    const q = storageBuffer(device, tokens * S);
    const scale = storageBuffer(device, tokens * 4);
    poison(device, q);
    poison(device, scale);
    const k = await rmsNormKernel(gpu, { tokens, k: K, stride: S, eps, x: xb, weight, out: { q, scale } });
    await run(gpu, k);
    const gotQ = new Int8Array((await readU32(device, q, (tokens * S) / 4)).buffer);
    const gotS = await readF32(device, scale, tokens);
    for (let t = 0; t < tokens; t++) {
      let m = 0;
      for (let kk = 0; kk < K; kk++) m = Math.max(m, Math.abs(refV[t * K + kk]));
      expectClose(`${what} scale[${t}]`, [gotS[t]], [m / 127], { rtol: 1e-5, atol: 0 });
      const want = new Float64Array(S); // zero padding up to the stride
      for (let kk = 0; kk < K; kk++) want[kk] = roundEven(refV[t * K + kk] / (m / 127));
      // The GPU's rsqrt and f32 rounding may move a value across a .5 boundary: one level off.
      expectClose(`${what} q[${t}]`, gotQ.subarray(t * S, (t + 1) * S), want, { rtol: 0, atol: 1 });
    }
    k.destroy();
    q.destroy();
    scale.destroy();
  }
  xb.destroy();
  wb.destroy();
}

const UNROLL_WHY = 'an unroll variant: the same WGSL as the unroll 3 case the browser runs, another constant';

const X16_WHY = 'a shape variant of the x16 token-block kernel the browser runs at 8 tokens (same WGSL)';

const gemvCases: GemvCase[] = [
  { scheme: 'w4a8', N: 1, K: 32 },
  { scheme: 'w4a8', N: 37, K: 100 },
  { scheme: 'w4a8', N: 300, K: 172, threadsPerRow: 8 },
  { scheme: 'w4a8', N: 129, K: 1000, groupSize: 64 },
  { scheme: 'w4a8', N: 96, K: 4096, groupSize: 128, scalesInShared: false },
  // The model's fused decode kernels with each row's scale read by its invocations (the default
  // for per-channel scales, KernelTuning.matmulScalesInShared): per channel with the norm, and gated.
  { scheme: 'w4a8', N: 100, K: 2048, stage: 'norm', threadsPerRow: 8, scalesInShared: false },
  { scheme: 'w4a8', N: 70, K: 1000, stage: 'quantize', gated: true, threadsPerRow: 4, scalesInShared: false },
  { scheme: 'w4a8', N: 200, K: 384, subgroups: false },
  { scheme: 'w4a8', N: 77, K: 256, accumulate: true },
  { scheme: 'w4a8', N: 1000, K: 128, pieces: 3, threadsPerRow: 64 },
  { scheme: 'w4a16', N: 1, K: 32 },
  { scheme: 'w4a16', N: 45, K: 300 },
  { scheme: 'w4a16', N: 130, K: 1000, scalesInShared: false, threadsPerRow: 16, int16Activations: false },
  { scheme: 'w4a16', N: 130, K: 1000, scalesInShared: false, threadsPerRow: 16 },
  { scheme: 'w4a16', N: 64, K: 384, accumulate: true, subgroups: false, pieces: 2 },
  { scheme: 'w2-4-16', N: 1, K: 64 },
  { scheme: 'w2-4-16', N: 33, K: 100 },
  { scheme: 'w2-4-16', N: 150, K: 2048, threadsPerRow: 16 },
  { scheme: 'w2-4-16', N: 150, K: 2048, threadsPerRow: 16, int16Activations: false },
  { scheme: 'w2-4-16', N: 70, K: 1000, scalesInShared: false },
  { scheme: 'w2-4-16', N: 90, K: 640, accumulate: true, subgroups: false, pieces: 3 },
  { scheme: 'f32', N: 31, K: 65 },
  { scheme: 'f32', N: 100, K: 256, pieces: 2, accumulate: true },
  { scheme: 'f16', N: 17, K: 99 },
  { scheme: 'f16', N: 128, K: 512, subgroups: false },
  // Prefill batching (tokens in grid z) and the fused SiLU×up epilogue, every scheme.
  { scheme: 'w4a8', N: 96, K: 200, tokens: 5 },
  { scheme: 'w4a8', N: 130, K: 256, gated: true, tokens: 3, pieces: 2 },
  // Token blocks (prefill): blocks of 4 and 8 over 9–21 tokens, with groups, gating, accumulation.
  { scheme: 'w4a8', N: 96, K: 200, tokens: 11, tokensPerWorkgroup: 4 },
  { scheme: 'w4a8', N: 130, K: 256, gated: true, tokens: 11, tokensPerWorkgroup: 8, pieces: 2 },
  { scheme: 'w4a8', N: 70, K: 1000, groupSize: 64, accumulate: true, tokens: 9, tokensPerWorkgroup: 8 },
  { scheme: 'w4a8', N: 40, K: 512, tokens: 21, tokensPerWorkgroup: 8, threadsPerRow: 4 },
  // Activations quantized (and normalized) in the kernel's prologue, as the model's layers use it.
  { scheme: 'w4a8', N: 100, K: 4096, stage: 'norm', threadsPerRow: 8 },
  { scheme: 'w4a8', N: 130, K: 300, stage: 'norm', gated: true, tokens: 3, threadsPerRow: 4 },
  { scheme: 'w4a8', N: 262, K: 4096, stage: 'norm', gated: true, threadsPerRow: 2 },
  { scheme: 'w4a8', N: 134, K: 256, stage: 'norm', gated: true, pieces: 3, threadsPerRow: 8 },
  { scheme: 'w4a8', N: 70, K: 1000, stage: 'quantize', accumulate: true, groupSize: 64, threadsPerRow: 16 },
  { scheme: 'w4a8', N: 64, K: 11008, stage: 'quantize', threadsPerRow: 32, subgroups: false },
  { scheme: 'w4a16', N: 64, K: 300, gated: true, tokens: 2, threadsPerRow: 16 },
  // The 16-bit staged W4A16 / 2/4/16 kernels with RMSNorm fused, as the model's qkv / gate_up use
  // them, and without (o, down); K off the group size, several pieces and tokens; the 2/4/16
  // weights carry 2% sparse f16 outliers (rtnQuantize's outlierFraction here). The fused-norm
  // cases fit 16 KiB of workgroup memory (SwiftShader's limit), the K = 8192 one needs more.
  { scheme: 'w4a16', N: 100, K: 2048, stage: 'norm', threadsPerRow: 8 },
  { scheme: 'w4a16', N: 130, K: 300, stage: 'norm', gated: true, tokens: 3, threadsPerRow: 4, pieces: 2 },
  { scheme: 'w4a16', N: 70, K: 1000, accumulate: true, pieces: 3, tokens: 2, subgroups: false },
  { scheme: 'w2-4-16', N: 100, K: 2048, stage: 'norm', threadsPerRow: 8 },
  W2_GATED_NORM,
  {
    scheme: 'w2-4-16',
    N: 40,
    K: 8192,
    accumulate: true,
    threadsPerRow: 32,
    subgroups: false,
    nodeOnly:
      "SwiftShader's 16 KiB of workgroup memory: the f32 kernel, as in the int16Activations: false cases",
  },
  { scheme: 'w2-4-16', N: 50, K: 128, tokens: 4, accumulate: true },
  { scheme: 'w2-4-16', N: 72, K: 200, gated: true, subgroups: false },
  // Loads in flight per invocation: all of a row's chunks in one step (16; w4a16: 8 against its 4
  // chunks per invocation), an unroll that does not divide the chunk count, and one at a time
  // (also the default on software adapters).
  { scheme: 'w4a8', N: 90, K: 4096, stage: 'norm', threadsPerRow: 8, unroll: 16, nodeOnly: UNROLL_WHY },
  { scheme: 'w4a8', N: 50, K: 1000, groupSize: 64, unroll: 3 },
  { scheme: 'w4a16', N: 64, K: 1024, stage: 'norm', threadsPerRow: 8, unroll: 8, nodeOnly: UNROLL_WHY },
  { scheme: 'w2-4-16', N: 64, K: 4096, stage: 'norm', threadsPerRow: 8, unroll: 8, nodeOnly: UNROLL_WHY },
  { scheme: 'w2-4-16', N: 40, K: 1000, gated: true, unroll: 1 },
  // 2/4/16's schedule and outliers: 64 rows a tile (the octet loop runs twice), a last octet of one
  // group, a row's 2-bit / 4-bit boundary inside a step (n2 = 25); a long row as down's (5 mask
  // words, n2 = 120 inside the first step, ~200 outliers a row: past the 4 per invocation
  // loaded early; the largest that fits lavapipe's 32 KiB, Llama's 11008 needs 33 KiB).
  { scheme: 'w2-4-16', N: 130, K: 2112, threadsPerRow: 4, tokens: 2 },
  {
    scheme: 'w2-4-16',
    N: 8,
    K: 10200,
    threadsPerRow: 32,
    nodeOnly:
      "SwiftShader's 16 KiB of workgroup memory: the f32 kernel, as in the int16Activations: false cases",
  },
  // 2/4/16 staging 8-bit activation levels (stagedActivationBits 8): the model's qkv / gate_up
  // (norm fused, 8 per row), o / down (16 per row, residual added; n2 inside the first step),
  // 64 rows a tile over two tokens.
  { scheme: 'w2-4-16', N: 100, K: 2048, stage: 'norm', threadsPerRow: 8, stagedActivationBits: 8 },
  { ...W2_GATED_NORM, stagedActivationBits: 8 },
  {
    scheme: 'w2-4-16',
    N: 90,
    K: 2112,
    accumulate: true,
    threadsPerRow: 16,
    subgroups: false,
    stagedActivationBits: 8,
  },
  { scheme: 'w2-4-16', N: 130, K: 700, threadsPerRow: 4, tokens: 2, stagedActivationBits: 8 },
  // More than one staged chunk per invocation (K > 16 · 256): the late-loaded norm weights
  // (NORM_W_LATE) of the second chunk.
  { scheme: 'w2-4-16', N: 40, K: 4160, stage: 'norm', threadsPerRow: 32, stagedActivationBits: 8 },
  // 16-bit schedule entries (schedule16: two slots a word, ORed in by the octets' invocations;
  // the default with the norm at 16 bits, and at int8 for schedules of ≥ 8 KB, w2TileDefaults):
  // the model's qkv with them off (and the norm weights early: the tile before session 23), rows
  // of 11 groups (a row's slots start mid-word), int8 with the norm (gated over pieces and
  // tokens) and without it (64 rows of 32 groups: on by default; 11 groups), the late norm
  // weights at 16 bits with two staged chunks per invocation (the default), the token blocks.
  {
    scheme: 'w2-4-16',
    N: 100,
    K: 2048,
    stage: 'norm',
    threadsPerRow: 8,
    schedule16: false,
    normWeightsLate: false,
  },
  { scheme: 'w2-4-16', N: 130, K: 700, threadsPerRow: 4, tokens: 2, schedule16: true },
  { ...W2_GATED_NORM, stagedActivationBits: 8, schedule16: true },
  { scheme: 'w2-4-16', N: 130, K: 2048, threadsPerRow: 4, stagedActivationBits: 8 },
  { scheme: 'w2-4-16', N: 130, K: 700, threadsPerRow: 4, stagedActivationBits: 8, schedule16: true },
  { scheme: 'w2-4-16', N: 40, K: 4160, stage: 'norm', threadsPerRow: 32 },
  // The GPU default with the norm (w2TileDefaults: 16-bit schedule, late norm weights, 2 chunks in
  // flight; software adapters run 1): 11 groups a row over two steps. Group indices past 127
  // (129 groups: K 8,256), at 16 bits with the norm and at int8, and in the token blocks.
  { scheme: 'w2-4-16', N: 130, K: 700, stage: 'norm', threadsPerRow: 4, unroll: 2, nodeOnly: UNROLL_WHY },
  {
    scheme: 'w2-4-16',
    N: 24,
    K: 8256,
    stage: 'norm',
    threadsPerRow: 32,
    unroll: 2,
    nodeOnly: "SwiftShader's 16 KiB of workgroup memory: a 16-bit row of 8,256",
  },
  {
    scheme: 'w2-4-16',
    N: 24,
    K: 8256,
    threadsPerRow: 32,
    stagedActivationBits: 8,
    schedule16: true,
    nodeOnly: "SwiftShader's 16 KiB of workgroup memory: the fit check counts the 16-bit row's bytes",
  },
  {
    scheme: 'w2-4-16',
    N: 24,
    K: 8256,
    tokens: 3,
    tokensPerWorkgroup: 2,
    threadsPerRow: 32,
    x16Blocks: true,
    schedule16: true,
  },
  { ...W2_GATED_BLOCKS, schedule16: true },
  { scheme: 'f32', N: 40, K: 64, gated: true, tokens: 3 },
  { scheme: 'f16', N: 33, K: 48, tokens: 7, accumulate: true },
  // The matrix-unit prefill GEMM (i8 subgroup matrices; skipped where the adapter lacks them):
  // partial token and row blocks, K off the 64 / 128 tile, several pieces, gating, residual add.
  // The grid `auto` picks per step from the step's token count (the GEMM is built for steps of up
  // to 512 tokens, the default): 1x1 at K tile 64 for these few rows or tokens; 4x2 for 3,100 rows at 512
  // tokens; a 512-token session's 3-token step takes 1x1 (the bucket of 32). And 1x1 named.
  { scheme: 'w4a8', N: 200, K: 4096, tokens: 70, matrixUnits: true },
  { scheme: 'w4a8', N: 3100, K: 96, tokens: 512, matrixUnits: true, gated: true },
  { scheme: 'w4a8', N: 3100, K: 96, tokens: 3, matrixUnits: true, gated: true },
  {
    scheme: 'w4a8',
    N: 130,
    K: 1000,
    tokens: 5,
    matrixUnits: true,
    gated: true,
    pieces: 2,
    matrixGrid: '1x1',
  },
  {
    scheme: 'w4a8',
    N: 300,
    K: 2080,
    tokens: 129,
    matrixUnits: true,
    accumulate: true,
    matrixKTile: 128,
    matrixGrid: '1x1',
  },
  {
    scheme: 'w4a8',
    N: 256,
    K: 96,
    tokens: 32,
    matrixUnits: true,
    pieces: 3,
    matrixKTile: 64,
    matrixGrid: '1x1',
  },
  // … with 2 × 2 and 4 × 2 subgroups per workgroup (64 × 128 and 128 × 128 tiles): partial token
  // and row blocks, both K tiles, gating, residual add, pieces.
  { scheme: 'w4a8', N: 200, K: 4096, tokens: 70, matrixUnits: true, matrixGrid: '2x2' },
  {
    scheme: 'w4a8',
    N: 300,
    K: 2080,
    tokens: 129,
    matrixUnits: true,
    accumulate: true,
    matrixGrid: '2x2',
    matrixKTile: 64,
  },
  {
    scheme: 'w4a8',
    N: 130,
    K: 1000,
    tokens: 5,
    matrixUnits: true,
    gated: true,
    pieces: 2,
    matrixGrid: '4x2',
  },
  { scheme: 'w4a8', N: 300, K: 2080, tokens: 200, matrixUnits: true, accumulate: true, matrixGrid: '4x2' },
  {
    scheme: 'w4a8',
    N: 260,
    K: 96,
    tokens: 129,
    matrixUnits: true,
    gated: true,
    matrixGrid: '4x2',
    matrixKTile: 64,
  },
  // 4 × 4 subgroups (128 × 256 tiles, K tile 64 only; `auto` picks it for 16,400 rows at 512
  // tokens; a 200-token step runs in the 128 bucket: 4x2, 129 row blocks × 2 token blocks).
  { scheme: 'w4a8', N: 16400, K: 64, tokens: 512, matrixUnits: true },
  { scheme: 'w4a8', N: 16400, K: 64, tokens: 200, matrixUnits: true },
  {
    scheme: 'w4a8',
    N: 300,
    K: 2080,
    tokens: 129,
    matrixUnits: true,
    accumulate: true,
    matrixGrid: '4x4',
    matrixKTile: 64,
  },
  {
    scheme: 'w4a8',
    N: 530,
    K: 96,
    tokens: 20,
    matrixUnits: true,
    gated: true,
    matrixGrid: '4x4',
    matrixKTile: 64,
  },
  // The lane-rotated staging stores (the default stores each lane's words in order).
  {
    scheme: 'w4a8',
    N: 300,
    K: 2080,
    tokens: 129,
    matrixUnits: true,
    accumulate: true,
    matrixGrid: '4x4',
    matrixKTile: 64,
    matrixStageRotate: true,
  },
  {
    scheme: 'w4a8',
    N: 200,
    K: 4096,
    tokens: 70,
    matrixUnits: true,
    gated: true,
    matrixGrid: '2x2',
    matrixKTile: 128,
    matrixStageRotate: true,
  },
  // One K tile, two, three, many; every grid; auto's pick
  // (4x2 for 3,100 rows at 512 tokens); pieces, gating, residual add.
  {
    scheme: 'w4a8',
    N: 300,
    K: 2080,
    tokens: 129,
    matrixUnits: true,
    accumulate: true,
    matrixGrid: '4x4',
    matrixKTile: 64,
  },
  {
    scheme: 'w4a8',
    N: 260,
    K: 96,
    tokens: 129,
    matrixUnits: true,
    gated: true,
    matrixGrid: '4x2',
    matrixKTile: 128,
  },
  {
    scheme: 'w4a8',
    N: 200,
    K: 96,
    tokens: 70,
    matrixUnits: true,
    matrixGrid: '2x2',
    matrixKTile: 64,
  },
  // Three K tiles (5 chunks of 32).
  {
    scheme: 'w4a8',
    N: 200,
    K: 160,
    tokens: 70,
    matrixUnits: true,
    matrixGrid: '2x2',
    matrixKTile: 64,
  },
  {
    scheme: 'w4a8',
    N: 130,
    K: 1000,
    tokens: 5,
    matrixUnits: true,
    gated: true,
    pieces: 2,
    matrixGrid: '1x1',
    matrixKTile: 64,
  },
  { scheme: 'w4a8', N: 3100, K: 1000, tokens: 512, matrixUnits: true, gated: true },
  // Pieces on a 4 × 2 grid (the subgroup-placed offsets clamped since session 18).
  {
    scheme: 'w4a8',
    N: 260,
    K: 1000,
    tokens: 129,
    matrixUnits: true,
    gated: true,
    pieces: 2,
    matrixGrid: '4x2',
    matrixKTile: 128,
  },
  // W4A16 / 2/4/16 prefill token blocks on x16 activations: partial blocks of 2, 4 and 8 (8 on
  // GPUs, 2 on software adapters), K off the group sizes, gating, residual add, pieces, a long
  // row with many outliers (2/4/16's outliers read per token from the packed halves), 2-bit /
  // 4-bit boundaries inside a step.
  {
    scheme: 'w4a16',
    N: 130,
    K: 256,
    gated: true,
    tokens: 11,
    tokensPerWorkgroup: 8,
    threadsPerRow: 4,
    pieces: 2,
    x16Blocks: true,
  },
  {
    scheme: 'w4a16',
    N: 70,
    K: 1000,
    accumulate: true,
    tokens: 9,
    tokensPerWorkgroup: 2,
    threadsPerRow: 8,
    subgroups: false,
    x16Blocks: true,
    nodeOnly: X16_WHY,
  },
  W2_GATED_BLOCKS,
  {
    scheme: 'w2-4-16',
    N: 40,
    K: 1000,
    accumulate: true,
    tokens: 5,
    tokensPerWorkgroup: 2,
    unroll: 1,
    subgroups: false,
    x16Blocks: true,
    nodeOnly: X16_WHY,
  },
  {
    scheme: 'w2-4-16',
    N: 8,
    K: 10200,
    tokens: 3,
    tokensPerWorkgroup: 4,
    threadsPerRow: 32,
    x16Blocks: true,
    nodeOnly: X16_WHY,
  },
];

/** The ablation baseline's dequantize pass: W4A8 → f16 rows of Kp, padding zero. */
async function checkDequantW4a8(gpu: GpuContext, N: number, K: number, groupSize?: number): Promise<void> {
  const seed = freshSeed();
  const W = randomF32(N * K, rng(seed));
  const grid = rtnQuantize(W, N, K, 'w4a8', { groupSize });
  const comps = packGrid(grid);
  const Wq = dequantizeGrid(grid);
  const { device } = gpu;
  const buffers = {
    qweight: uploadBuffer(device, comps.qweight),
    scales: uploadBuffer(device, comps.scales),
  };
  const Kp = (comps.qweight.length / N) * 8;
  const out = storageBuffer(device, N * Kp * 2);
  poison(device, out);
  const k = await dequantizeW4a8Kernel(gpu, { row0: 0, rows: N, buffers }, K, grid.groupSize, out);
  await run(gpu, k);
  const words = await readU32(device, out, (N * Kp) / 2);
  const got = new Float32Array(N * Kp);
  const want = new Float32Array(N * Kp);
  for (let i = 0; i < words.length; i++) {
    got[2 * i] = f16BitsToF32(words[i] & 0xffff);
    got[2 * i + 1] = f16BitsToF32(words[i] >>> 16);
  }
  for (let n = 0; n < N; n++)
    for (let c = 0; c < K; c++) want[n * Kp + c] = f16BitsToF32(f32ToF16Bits(Wq[n * K + c]));
  // q · s in f32 then one f16 rounding on both sides: equal up to that rounding's tie cases.
  expectClose(`dequant w4a8 N=${N} K=${K} g=${groupSize} seed=${seed}`, got, want, { rtol: 1e-3, atol: 0 });
  k.destroy();
  for (const b of [buffers.qweight, buffers.scales, out]) b.destroy();
}

export const gemvKernelCases: KernelCase[] = [
  ...(
    [
      [37, 100, undefined],
      [64, 4096, 128],
    ] as const
  ).map(([N, K, g]) => ({
    name: `dequant w4a8 N=${N} K=${K} group=${g ?? 'channel'}`,
    run: (gpu: GpuContext) => checkDequantW4a8(gpu, N, K, g),
  })),
  ...gemvCases.map(({ nodeOnly, ...c }) => ({
    name: `gemv ${JSON.stringify(c)}`,
    run: (gpu: GpuContext) => checkGemv(gpu, c),
    nodeOnly,
    unavailable: c.matrixUnits
      ? (gpu: GpuContext) =>
          matrixUnitsAvailable(gpu, c.matrixKTile, c.matrixGrid)
            ? null
            : `no i8 16×16×32 subgroup matrices${c.matrixGrid ? ` with a ${c.matrixGrid} subgroup grid` : ''} on this adapter`
      : undefined,
  })),
  ...(
    [
      [1, 128, false, true],
      [3, 1000, false, true],
      [1, 4096, true, true],
      [5, 172, true, true],
      [2, 300, true, false],
      // Rows of several words per invocation in registers (ROW_REGS; 3 at a 1,024-invocation
      // workgroup), and rows too long for them (the loop path, int8 and f32 out).
      [2, 11008, true, false],
      [2, 5000, false, true],
      [1, 20000, true, true],
      [1, 20000, false, true],
    ] as const
  ).map(([t, K, int8, norm]) => ({
    name: `rmsnorm tokens=${t} K=${K} ${int8 ? 'int8' : 'f32'}${norm ? '' : ' (quantize only)'}`,
    run: (gpu: GpuContext) => checkRmsNorm(gpu, t, K, int8, norm),
    // Each long row is its own pipeline (seconds of compile in SwiftShader): the browser runs the
    // short ones, all in registers; the loop path (rows of > 4 words per invocation) runs in Node.
    nodeOnly: K > 4096 ? 'long rows: Node covers them' : undefined,
  })),
  ...(
    [
      [2, 4096, true, true],
      [3, 300, false, false],
    ] as const
  ).map(([t, K, norm, transposed]) => ({
    name: `rmsnorm tokens=${t} K=${K} x16 ${transposed ? '2/4/16' : 'w4a16'} lanes${norm ? '' : ' (quantize only)'}`,
    run: (gpu: GpuContext) => checkRmsNormX16(gpu, t, K, norm, transposed),
  })),
];

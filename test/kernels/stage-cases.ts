/**
 * The matrix-unit GEMM's staging step (shaders/lib/stage_i8_tile.wgsl) on any adapter: the GEMM
 * itself needs i8 subgroup matrices (the lent GPU only), but where its tiles land in workgroup
 * memory — and that the bank-conflict rotation of the stores (STAGE_ROTATE) puts every word at
 * its k position — can be checked everywhere, through test/shaders/stage_i8_tile_check.wgsl.
 */

import { poison, readU32, storageBuffer, uploadBuffer } from '../../src/gpu/buffers';
import type { GpuContext } from '../../src/gpu/device';
import { bindGroup, dispatch } from '../../src/gpu/dispatch';
import { expectEqual, freshSeed, randomU32, rng } from '../helpers/check';
import stageCheckWgsl from '../shaders/stage_i8_tile_check.wgsl?raw';
import type { KernelCase } from './cases';

const stageCheck = { name: 'stage_i8_tile_check', code: stageCheckWgsl };
const POISON = 0x7eadbeef;

interface StageShape {
  /** Subgroups per workgroup, tokens × rows (the GEMM's grid). */
  sgm: number;
  sgn: number;
  bk: 64 | 128;
}

/** The staged words the GEMM's matrix loads expect: xs[token][k], ws[row][k], int8 packed 4 per word. */
function stagedReference(s: StageShape, regs: Uint32Array): Int32Array {
  const WG = 32 * s.sgm * s.sgn;
  const BM = 32 * s.sgm;
  const BN = 64 * s.sgn;
  const R = (s.bk + 16) / 4;
  const xv = (BM * s.bk) / 16 / WG;
  const out = new Int32Array((BM + BN) * R).fill(POISON);
  const xparts = s.bk / 16;
  for (let e = 0; e < xv * WG; e++) {
    for (let j = 0; j < 4; j++) out[Math.floor(e / xparts) * R + (e % xparts) * 4 + j] = regs[4 * e + j];
  }
  // The weights: each u32 of nibbles becomes two int8 words, 16·q (docs/FORMAT.md, scheme w4a8).
  const wchunks = s.bk / 32;
  const wv = (BN * s.bk) / 32 / WG;
  for (let e = 0; e < wv * WG; e++) {
    const base = BM * R + Math.floor(e / wchunks) * R + (e % wchunks) * 8;
    for (let j = 0; j < 4; j++) {
      const w = regs[4 * (xv * WG + e) + j];
      out[base + 2 * j] = (w << 4) & 0xf0f0f0f0;
      out[base + 2 * j + 1] = w & 0xf0f0f0f0;
    }
  }
  return out;
}

async function checkStage(gpu: GpuContext, s: StageShape, rotate: boolean): Promise<void> {
  const seed = freshSeed();
  const WG = 32 * s.sgm * s.sgn;
  const BM = 32 * s.sgm;
  const BN = 64 * s.sgn;
  const R = (s.bk + 16) / 4;
  const vec4s = (BM * s.bk) / 16 + (BN * s.bk) / 32;
  const regs = randomU32(vec4s * 4, rng(seed));
  const input = uploadBuffer(gpu.device, regs);
  const words = (BM + BN) * R;
  const out = storageBuffer(gpu.device, words * 4);
  poison(gpu.device, out);
  const pipeline = await gpu.pipelines.get({
    shader: stageCheck,
    entryPoint: 'main',
    flags: { STAGE_ROTATE: rotate },
    constants: { WG, BM, BN, BK: s.bk },
  });
  const enc = gpu.device.createCommandEncoder();
  const pass = enc.beginComputePass();
  dispatch(pass, pipeline, bindGroup(gpu.device, pipeline, [input, out]), 1);
  pass.end();
  gpu.device.queue.submit([enc.finish()]);
  const got = await readU32(gpu.device, out, words);
  input.destroy();
  out.destroy();
  const want = new Uint32Array(stagedReference(s, regs).buffer);
  expectEqual(
    `stage ${s.sgm}x${s.sgn} K tile ${s.bk} ${rotate ? 'rotated' : 'plain'} seed=${seed}`,
    got,
    want,
  );
}

const shapes: StageShape[] = [
  { sgm: 1, sgn: 1, bk: 64 },
  { sgm: 1, sgn: 1, bk: 128 },
  { sgm: 2, sgn: 2, bk: 64 },
  { sgm: 2, sgn: 2, bk: 128 },
  { sgm: 4, sgn: 2, bk: 128 },
  { sgm: 4, sgn: 4, bk: 64 },
];

export const stageKernelCases: KernelCase[] = shapes.flatMap((s) =>
  [true, false].map((rotate) => ({
    name: `matrix gemm staging ${s.sgm}x${s.sgn} K tile ${s.bk} ${rotate ? 'rotated' : 'plain'} stores`,
    run: (gpu: GpuContext) => checkStage(gpu, s, rotate),
    // The browser suite runs the rotated 1x1 tiles (both K tiles: the rotation depends on the K
    // tile and the lane only), which include the in-order stores' code with a rotation of 0; Node
    // runs every grid, both ways.
    ...(!rotate
      ? { nodeOnly: 'the in-order stores are the rotated code with rotation 0 (same WGSL)' }
      : s.sgm * s.sgn > 1
        ? { nodeOnly: 'the rotation depends on the K tile and the lane only: the 1x1 cases cover it' }
        : {}),
    unavailable: (gpu: GpuContext) => {
      const WG = 32 * s.sgm * s.sgn;
      const bytes = (32 * s.sgm + 64 * s.sgn) * (s.bk + 16);
      const { maxComputeInvocationsPerWorkgroup: inv, maxComputeWorkgroupStorageSize: shared } =
        gpu.caps.limits;
      return WG > inv || bytes > shared
        ? `${WG} invocations and ${bytes} B of workgroup memory exceed this adapter's ${inv} / ${shared} B`
        : null;
    },
  })),
);

import { poison, readBuffer, storageBuffer } from '../src/gpu/buffers';
import type { GpuContext } from '../src/gpu/device';
import { bindGroup, dispatch } from '../src/gpu/dispatch';
import { matrixUnitsAvailable } from '../src/kernels/gemm-matrix';
import { mulberry32 } from '../src/model/sampling-reference';
import matrixWgsl from './shaders/matrix_peak.wgsl?raw';
import { calibrateIterations, timeGpu } from './timer';

/**
 * The ceiling of WebGPU's subgroup matrices (chromium_experimental_subgroup_matrix, i8 × i8 → i32,
 * 16×16×32 tiles) on this adapter (bench/shaders/matrix_peak.wgsl), to set the prefill GEMM
 * (shaders/gemm_w4a8_matrix.wgsl, ~143 T int-ops/s on the H100) against: MMAs from registers
 * alone, with the GEMM's per-iteration loads from workgroup memory (2 × 4 and 4 × 4 result tiles
 * per subgroup), and with the left matrices loaded from an L2-resident storage buffer. Each case
 * runs ITERS iterations per subgroup; every result is checked exactly against the CPU after timing.
 */
export interface MatrixPeakResult {
  /** 'regs', 'shared 2x4', 'shared 4x4', 'global-A 2x4' or 'gemm-loop …'. */
  name: string;
  /** Invocations per workgroup: 32 (one subgroup) or more (subgroups doing the same work). */
  workgroupSize: number;
  workgroups: number;
  /** MMAs (16×16×32) per dispatch, all subgroups. */
  mmas: number;
  microseconds: number;
  /** 2·16·16·32 int-ops per MMA. */
  opsPerSecond: number;
  /** Of H100_INT8_PEAK. */
  peakFraction: number;
}

/** H100 SXM dense INT8 tensor-core peak, ops/s (NVIDIA's datasheet: 3,958 T with 2:4 sparsity). */
export const H100_INT8_PEAK = 1979e12;
const OPS_PER_MMA = 2 * 16 * 16 * 32;
/** The H100's SM count: workgroup counts are multiples of it. */
const SMS = 132;
/** Iterations of each case's loop per subgroup (the shader's ITERS override). */
const ITERS = 1024;
/** Words the offsets step by per iteration (src[0]; the shader masks (i · KSTEP) & 24). */
const KSTEP = 8;

// Layout constants, as in the shader: rows of 128 + 16 int8, 64-row tiles, a 4-word header.
const ROW_WORDS = 36;
const TILE_WORDS = 64 * ROW_WORDS;
const W_AT = 4;
const X_AT = W_AT + TILE_WORDS;
const X_TILES = 64;
const SRC_WORDS = X_AT + X_TILES * TILE_WORDS;
const SLOT_WORDS = 16 * 256;

const shader = { name: 'matrix_peak', code: matrixWgsl };

interface MatrixCase {
  name: string;
  entryPoint: string;
  /** Left (16-row) and right (16-column) tiles per subgroup: MMAs per iteration = rows · cols. */
  rows: number;
  cols: number;
  /** Whether the offsets step through K per iteration (all but regs, which uses K words 0..7). */
  stepsK: boolean;
  /** Bytes of workgroup memory the entry point declares: staged rows (32 or 64 X + 64 W) × 144. */
  sharedBytes: number;
  workgroupSizes: number[];
  /** gemm_loop: a barrier pair after every `sync` iterations (the shader's SYNC; 0 none). */
  sync?: number;
  /** gemm_loop: how each subgroup's rows are placed (the shader's flags and PLACE; none: rows 0..). */
  place?: Placement;
}

/**
 * gemm_loop's row placements (bench/shaders/matrix_peak.wgsl): by subgroup_id as the GEMM's grid
 * ('sgid'; 'sgid-x' / 'sgid-w' move only the X or only the W rows) or by workgroup_id (uniform
 * across the workgroup, not a constant); '-min': the offsets clamped by min() to their largest value.
 */
type Placement = 'sgid' | 'sgid-x' | 'sgid-w' | 'sgid-min' | 'wid' | 'wid-min';

const PLACEMENTS: Record<Placement, { flags: Record<string, boolean>; place: number }> = {
  sgid: { flags: { SGID: true }, place: 3 },
  'sgid-x': { flags: { SGID: true }, place: 1 },
  'sgid-w': { flags: { SGID: true }, place: 2 },
  'sgid-min': { flags: { SGID: true, PLACE_MIN: true }, place: 3 },
  wid: { flags: { PLACE_WG: true }, place: 3 },
  'wid-min': { flags: { PLACE_WG: true, PLACE_MIN: true }, place: 3 },
};
const NO_PLACEMENT = { SGID: false, PLACE_WG: false, PLACE_MIN: false };

const CASES: MatrixCase[] = [
  {
    name: 'regs',
    entryPoint: 'regs',
    rows: 2,
    cols: 4,
    stepsK: false,
    sharedBytes: 96 * 144,
    workgroupSizes: [32, 128],
  },
  {
    name: 'shared 2x4',
    entryPoint: 'shared_2x4',
    rows: 2,
    cols: 4,
    stepsK: true,
    sharedBytes: 96 * 144,
    workgroupSizes: [32, 128],
  },
  {
    name: 'shared 4x4',
    entryPoint: 'shared_4x4',
    rows: 4,
    cols: 4,
    stepsK: true,
    sharedBytes: 128 * 144,
    workgroupSizes: [32],
  },
  {
    name: 'global-A 2x4',
    entryPoint: 'global_a_2x4',
    rows: 2,
    cols: 4,
    stepsK: true,
    sharedBytes: 64 * 144,
    workgroupSizes: [32],
  },
  // The GEMM's multiply step in its setting (session 17): its workgroup sizes (4 × 2: 256, 4 × 4:
  // 512), its barrier rhythm (a pair per K tile: every 4 iterations at K tile 128, 2 at 64) and its
  // subgroup_id-placed rows, against shared 2x4 — except that every case stages the 4 × 2 GEMM's
  // 36 KiB (shared 2x4: 13.5 KiB), which may fit fewer workgroups per SM, and 16 subgroups are
  // placed as 4 × 2 pairs (two subgroups per place), not as the 4 × 4 grid. Session 17 ran the
  // barrier pairs (every 4: −21%, every 2: −33% at 512 invocations) with and without subgroup_id
  // placement (5–10× slower). Session 18: placed by subgroup_id or workgroup_id the loop is 4–9×
  // slower (Tint's bounds checks on the matrix loads); min()-clamped offsets do not recover it in
  // this loop (they do in the GEMM).
  ...(
    [
      [0, undefined],
      [4, undefined],
      [0, 'sgid'],
      [0, 'sgid-x'],
      [0, 'sgid-w'],
      [0, 'sgid-min'],
      [0, 'wid'],
      [0, 'wid-min'],
    ] as const
  ).map(([sync, place]: readonly [number, Placement | undefined]) => ({
    name: `gemm-loop${sync ? ` sync${sync}` : ''}${place ? ` ${place}` : ''}`,
    entryPoint: 'gemm_loop',
    rows: 2,
    cols: 4,
    stepsK: true,
    sharedBytes: 256 * 144,
    workgroupSizes: [128, 256, 512],
    sync,
    place,
  })),
];

/** Why the suite cannot run on this adapter, or null. Nothing is compiled before this passes. */
export function matrixPeakSkipReason(gpu: GpuContext): string | null {
  return matrixUnitsAvailable(gpu) ? null : 'adapter has no i8 16×16×32 subgroup matrices';
}

export async function benchMatrixPeak(gpu: GpuContext): Promise<MatrixPeakResult[]> {
  const why = matrixPeakSkipReason(gpu);
  if (why) throw new Error(`matrix: ${why}`);
  const { device } = gpu;
  const { limits } = gpu.caps;

  // Small int8 values (−3..3) from a fixed seed, including the pad bytes (never read); word 0 =
  // KSTEP. Sums stay far inside i32: ITERS · 32 · 9.
  const bytes = new Int8Array(SRC_WORDS * 4);
  const next = mulberry32(0x6d617472);
  for (let i = 16; i < bytes.length; i++) bytes[i] = Math.floor(next() * 7) - 3;
  const words = new Int32Array(bytes.buffer);
  words.set([KSTEP, 0, 0, 0]);
  const src = storageBuffer(device, bytes.byteLength, 'matrix-src');
  device.queue.writeBuffer(src, 0, words);
  const out = storageBuffer(device, X_TILES * SLOT_WORDS * 4, 'matrix-out');

  const results: MatrixPeakResult[] = [];
  for (const c of CASES) {
    const expected = expectedSlot0(bytes, c);
    for (const wg of c.workgroupSizes) {
      if (
        wg > limits.maxComputeInvocationsPerWorkgroup ||
        c.sharedBytes > limits.maxComputeWorkgroupStorageSize
      ) {
        console.log(`matrix: ${c.name} at ${wg} invocations skipped — over the device's workgroup limits`);
        continue;
      }
      // The 4 × 2 GEMM needs exactly what SGID needs: WGSL subgroup_id and subgroup_uniformity.
      const placement = c.place ? PLACEMENTS[c.place] : undefined;
      if (placement?.flags.SGID && !matrixUnitsAvailable(gpu, 128, '4x2')) {
        console.log(`matrix: ${c.name} skipped — no WGSL subgroup_id / subgroup_uniformity`);
        continue;
      }
      // A case whose pipeline the driver refuses is reported and skipped, not the whole suite
      // (session 17's first run lost every case to one shader error). Wrong results still throw.
      let pipeline: GPUComputePipeline;
      try {
        pipeline = await gpu.pipelines.get({
          shader,
          entryPoint: c.entryPoint,
          flags: { ...NO_PLACEMENT, ...placement?.flags },
          constants: {
            WG: wg,
            ITERS,
            ...(c.sync ? { SYNC: c.sync } : {}),
            ...(placement ? { PLACE: placement.place } : {}),
          },
        });
      } catch (e) {
        console.log(
          `matrix: ${c.name} at ${wg} invocations skipped — ${(e as Error).message.split('\n')[0]}`,
        );
        continue;
      }
      const group = bindGroup(device, pipeline, [src, out]);
      for (const workgroups of [SMS * 4, SMS * 16]) {
        poison(device, out);
        const encode = (pass: GPUComputePassEncoder) => dispatch(pass, pipeline, group, workgroups);
        const iterations = await calibrateIterations(gpu, encode, 0.03, 8192);
        const t = await timeGpu(gpu, encode, { iterations, samples: 5 });
        // Workgroup 0's slot (shared with every workgroup ≡ 0 mod X_TILES, which computes the same).
        const got = new Int32Array(await readBuffer(device, out, expected.length * 4, 0));
        const bad = got.findIndex((v, i) => v !== expected[i]);
        if (bad >= 0) {
          const tile = Math.floor(bad / 256);
          throw new Error(
            `matrix: ${c.name} (${wg} invocations, ${workgroups} workgroups) computed a wrong result: ` +
              `tile ${tile} (left ${Math.floor(tile / c.cols)}, right ${tile % c.cols}) element ` +
              `(${Math.floor((bad % 256) / 16)}, ${bad % 16}) = ${got[bad]}, expected ${expected[bad]}`,
          );
        }
        const mmas = workgroups * (wg / 32) * ITERS * c.rows * c.cols;
        const seconds = t.secondsPerIteration;
        results.push({
          name: c.name,
          workgroupSize: wg,
          workgroups,
          mmas,
          microseconds: seconds * 1e6,
          opsPerSecond: (mmas * OPS_PER_MMA) / seconds,
          peakFraction: (mmas * OPS_PER_MMA) / seconds / H100_INT8_PEAK,
        });
      }
    }
  }
  src.destroy();
  out.destroy();
  return results;
}

/**
 * Workgroup 0's result tiles (rows · cols of 16 × 16, row-major, tile r·cols + c at 256·(r·cols + c)):
 * tile (r, c)[m][n] = Σ over iterations i of Σ_{k<32} X[16r + m][kb + k] · W[16c + n][kb + k], with
 * kb = 4 · ((i · KSTEP) & 24) int8 (regs: kb = 0 every iteration). X is X tile 0 (staged, or read
 * from src by workgroup 0), W the W tile; element k of a row is byte k of the row (little-endian
 * packing, as the GEMM's staging).
 */
function expectedSlot0(bytes: Int8Array, c: MatrixCase): Int32Array {
  // How many iterations use each 32-int8 quarter of K.
  const uses = [0, 0, 0, 0];
  for (let i = 0; i < ITERS; i++) uses[c.stepsK ? (Math.imul(i, KSTEP) & 24) / 8 : 0]++;
  const rowByte = (tileWord: number, row: number) => tileWord * 4 + row * ROW_WORDS * 4;
  const out = new Int32Array(c.rows * c.cols * 256);
  for (let r = 0; r < c.rows; r++) {
    for (let col = 0; col < c.cols; col++) {
      for (let m = 0; m < 16; m++) {
        const x = rowByte(X_AT, 16 * r + m);
        for (let n = 0; n < 16; n++) {
          const w = rowByte(W_AT, 16 * col + n);
          let sum = 0;
          for (let q = 0; q < 4; q++) {
            if (!uses[q]) continue;
            let dot = 0;
            for (let k = 32 * q; k < 32 * q + 32; k++) dot += bytes[x + k] * bytes[w + k];
            sum += uses[q] * dot;
          }
          out[(r * c.cols + col) * 256 + m * 16 + n] = sum;
        }
      }
    }
  }
  return out;
}

import { storageBuffer } from '../src/gpu/buffers';
import type { GpuContext } from '../src/gpu/device';
import type { Encodable } from '../src/kernels/encodable';
import { gemv } from '../src/kernels/gemv';
import type { GpuLinear } from '../src/kernels/linear';
import type { Scheme } from '../src/quant/types';
import {
  destroyWeights,
  type GemvInputs,
  type GemvVariant,
  gemvInputs,
  gemvVariantsFor,
  rotatedWeights,
  secondsPerDispatch,
} from './gemv';

/**
 * Occupancy sweep: one matmul kernel at K = 4096 on m = 1 … 8 workgroups per SM (rows = rows per
 * workgroup × SMs × m), weights rotated past L2. It tells apart what the gemv suite's strips
 * cannot: if the time per dispatch stays flat as m grows, the SMs run those workgroups side by
 * side and the time is one workgroup's dependent chain (latency-bound); if it grows in steps,
 * m passed how many workgroups fit on an SM at once (registers or workgroup memory); if it grows
 * in proportion to m, the SMs are saturated (issue, workgroup memory or DRAM throughput).
 * The model's 7B qkv runs at m ≈ 2.9 (384 workgroups of 32 rows), gate_up at m ≈ 5.2.
 */
export const OCCUPANCY_K = 4096;
export const OCCUPANCY_STEPS = [1, 2, 3, 4, 5, 6, 8];

/** The invocations per row of every swept variant (workgroups of 256: 32 rows each). */
const SWEPT_THREADS_PER_ROW = 8;

/** The kernels swept, by gemv-suite variant name. */
const SWEPT: Partial<Record<Scheme, string[]>> = {
  w4a8: ['tpr8', 'tpr8 + norm', 'tpr8 + norm, scales per thread'],
  'w2-4-16': [
    'tpr8 + norm',
    'tpr8 + norm s22',
    'tpr8 + norm late',
    'tpr8 + norm unroll2',
    'tpr8 + norm s16',
    'tpr8 + norm s16 late',
    'tpr8 + norm late unroll2',
    'tpr8 + norm s16 unroll2',
    'tpr8 s16',
    'tpr8 + norm a8',
    'tpr8 + norm a8 s22',
    'tpr8 + norm a8 s16',
    'tpr8 + norm a8 s16 unroll2',
    'tpr8 + norm a8 unroll2',
    'tpr8 + norm a8 −schedule',
    'tpr8 a8',
    'tpr8 a8 −weight loads',
    'tpr8 a8 −staging −weight loads',
    'tpr8 a8 multiplies only',
  ],
};

export interface OccupancyResult {
  scheme: Scheme;
  variant: string;
  /** Workgroups per SM. */
  perSm: number;
  workgroups: number;
  rows: number;
  microseconds: number;
  gbPerSecond: number;
}

export async function benchOccupancy(
  gpu: GpuContext,
  scheme: Scheme,
  sms: number,
  /** Only these of SWEPT's variants (all when null). */
  only: string[] | null = null,
): Promise<OccupancyResult[]> {
  const { device } = gpu;
  const K = OCCUPANCY_K;
  const names = (SWEPT[scheme] ?? []).filter((n) => !only || only.includes(n));
  const variants = names.map((n) => {
    const v = gemvVariantsFor(scheme).find((c) => c.name === n);
    if (!v) throw new Error(`occupancy: no gemv variant '${n}' for ${scheme}`);
    if (v.opts.threadsPerRow !== SWEPT_THREADS_PER_ROW)
      throw new Error(
        `occupancy: '${n}' runs ${v.opts.threadsPerRow} invocations per row, not ${SWEPT_THREADS_PER_ROW}`,
      );
    return v;
  });
  if (!variants.length) return [];
  const inputs = gemvInputs(device, scheme, K);
  const results: OccupancyResult[] = [];
  const rowsPerWg = 256 / SWEPT_THREADS_PER_ROW;
  for (const m of OCCUPANCY_STEPS) {
    const rows = rowsPerWg * sms * m;
    const { bytes, weights } = rotatedWeights(device, scheme, rows, K, rows);
    const y = storageBuffer(device, rows * 4);
    for (const v of variants) {
      const r = await timeVariant(gpu, v, weights, inputs, y);
      results.push({
        scheme,
        variant: v.name,
        perSm: m,
        workgroups: sms * m,
        rows,
        microseconds: r * 1e6,
        gbPerSecond: bytes / r / 1e9,
      });
    }
    y.destroy();
    destroyWeights(weights);
  }
  inputs.destroy();
  return results;
}

/** Seconds per dispatch of one variant, iteration i on weight copy i mod copies. */
async function timeVariant(
  gpu: GpuContext,
  v: GemvVariant,
  weights: GpuLinear[],
  inputs: GemvInputs,
  y: GPUBuffer,
): Promise<number> {
  const input = inputs.inputFor(v);
  if (!input) throw new Error(`occupancy: ${v.name} has no input for ${weights[0].scheme}`);
  const kernels: Encodable[] = [];
  for (const w of weights) kernels.push(await gemv(gpu, w, input, y, inputs.optsFor(v)));
  const seconds = await secondsPerDispatch(gpu, (pass, i) => kernels[i % kernels.length].encode(pass));
  for (const k of kernels) k.destroy();
  return seconds;
}

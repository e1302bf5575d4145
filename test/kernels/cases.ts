/**
 * Kernel checks shared by the Node suite (Dawn on lavapipe) and the browser suite (Chromium on
 * SwiftShader, e2e/kernels.test.ts): each case draws fresh random inputs, poisons the output,
 * runs the kernel and compares with a plain TypeScript reference, throwing on mismatch.
 */
import { poison, readF32, readU32, storageBuffer, uploadBuffer } from '../../src/gpu/buffers';
import type { GpuContext } from '../../src/gpu/device';
import { bulkKernel } from '../../src/kernels/copy';
import { type ReduceOp, reduce } from '../../src/kernels/reduce';
import { expectClose, expectEqual, freshSeed, randomF32, randomU32, rng } from '../helpers/check';
import { gemvKernelCases } from './gemv-cases';
import { modelKernelCases } from './model-cases';
import { stageKernelCases } from './stage-cases';

export interface KernelCase {
  name: string;
  run(gpu: GpuContext): Promise<void>;
  /**
   * Why the browser suite (SwiftShader) skips this case, if it does: an ablation or tuning variant
   * whose WGSL the browser already runs in other cases, or a shape that takes the same fallback
   * there as another case. Node (lavapipe) runs every case.
   */
  nodeOnly?: string;
  /**
   * Why this adapter cannot run the case (a feature it lacks), or null: the case is then reported
   * as skipped, never as passed. The matrix-unit GEMM runs only where i8 subgroup matrices exist
   * (the lent GPU; `npm run bench -- --suites kernels` runs every case there).
   */
  unavailable?(gpu: GpuContext): string | null;
}

async function checkReduce(gpu: GpuContext, n: number, op: ReduceOp, useSubgroups: boolean): Promise<void> {
  const seed = freshSeed();
  const x = randomF32(n, rng(seed), -2, 2);
  let ref = 0;
  let absSum = 0;
  for (const v of x) {
    ref = op === 'sum' ? ref + v : Math.max(ref, Math.abs(v));
    absSum += Math.abs(v);
  }
  const input = uploadBuffer(gpu.device, x);
  const out = await reduce(gpu, input, n, op, { useSubgroups });
  const [got] = await readF32(gpu.device, out, 1);
  input.destroy();
  out.destroy();
  // Sum: f32 accumulation error grows with the magnitudes summed, not with the result.
  const tol = op === 'sum' ? { rtol: 0, atol: 4e-7 * absSum + 1e-6 } : { rtol: 0, atol: 0 };
  expectClose(`reduce ${op} n=${n} subgroups=${useSubgroups} seed=${seed}`, [got], [Math.fround(ref)], tol);
}

async function checkCopy(gpu: GpuContext, words: number): Promise<void> {
  const seed = freshSeed();
  const data = randomU32(words, rng(seed));
  const src = uploadBuffer(gpu.device, data);
  const dst = storageBuffer(gpu.device, words * 4);
  poison(gpu.device, dst);
  const k = await bulkKernel(gpu, 'copy', src, dst, words * 4, 7); // few groups: exercise the grid stride
  const enc = gpu.device.createCommandEncoder();
  const pass = enc.beginComputePass();
  k.encode(pass);
  pass.end();
  gpu.device.queue.submit([enc.finish()]);
  const got = await readU32(gpu.device, dst, words);
  k.destroy();
  src.destroy();
  dst.destroy();
  expectEqual(`copy ${words} words seed=${seed}`, got, data);
}

const reduceSizes = [1, 255, 257, 4099, 100_003];

const basicCases: KernelCase[] = [
  ...reduceSizes.flatMap((n) =>
    (['sum', 'maxabs'] as const).flatMap((op) =>
      [true, false].map((sg) => ({
        name: `reduce ${op} n=${n} ${sg ? 'subgroups' : 'shared-memory'}`,
        run: (gpu: GpuContext) => checkReduce(gpu, n, op, sg),
      })),
    ),
  ),
  ...[4, 1028, 65_540].map((words) => ({
    name: `copy ${words} words`,
    run: (gpu: GpuContext) => checkCopy(gpu, words),
  })),
];

export const kernelCases: KernelCase[] = [
  ...basicCases,
  ...gemvKernelCases,
  ...stageKernelCases,
  ...modelKernelCases,
];

import { storageBuffer } from '../src/gpu/buffers';
import type { GpuContext } from '../src/gpu/device';
import { bindGroup, dispatch } from '../src/gpu/dispatch';
import { fillNonZero } from './bandwidth';
import barrierWgsl from './shaders/barrier_overlap.wgsl?raw';
import { calibrateIterations, timeGpu } from './timer';

/**
 * Do workgroup barriers wait for global loads in flight (bench/shaders/barrier_overlap.wgsl)?
 * Every kernel of ours issues its loads and then runs barriers before using them; if a barrier
 * drains the loads, that prologue is serial with the load round trip instead of hidden by it.
 * Each case: µs per dispatch of `workgroups` workgroups of 256 invocations, each invocation
 * `loads` vec4 loads (from a window rotated past L2) and `exchanges` dependent exchanges through
 * workgroup memory (two barriers each), loads first or exchanges first. Overlap shows as
 * loads-first ≈ the larger of loads alone and exchanges alone; draining as loads-first ≈
 * exchanges-first ≈ their sum.
 */
export interface BarrierResult {
  workgroups: number;
  loads: number;
  exchanges: number;
  order: 'loads first' | 'exchanges first';
  microseconds: number;
}

const shader = { name: 'barrier_overlap', code: barrierWgsl };
const WG = 256;
/** vec4 loads per invocation in the cases that load. */
const LOADS = 8;
/** Bytes the rotating windows span together: well past the H100's 50 MB L2. */
const ROTATION_BYTES = 256 << 20;

export async function benchBarrier(gpu: GpuContext, workgroupCounts: number[]): Promise<BarrierResult[]> {
  const { device } = gpu;
  const results: BarrierResult[] = [];
  for (const workgroups of workgroupCounts) {
    // One window per dispatch, (loads + 1) rows of 4 KiB per workgroup (the +1: the dependent
    // address of the exchanges-first order), rotated over ROTATION_BYTES. (Session 9's run 3 used
    // 48 windows at both sizes: 233 MB and 1.9 GB.)
    const windowBytes = workgroups * (LOADS + 1) * WG * 16;
    const WINDOWS = Math.max(2, Math.ceil(ROTATION_BYTES / windowBytes));
    const src = storageBuffer(device, windowBytes * WINDOWS, 'barrier-src');
    fillNonZero(device, src, windowBytes * WINDOWS);
    const out = storageBuffer(device, workgroups * 4, 'barrier-out');
    const cases: { loads: number; exchanges: number; loadsFirst: boolean }[] = [
      // Neither: the floor of one dependent dispatch (each writes `out`, so Dawn puts a barrier
      // between consecutive ones, as between a decode step's kernels).
      { loads: 0, exchanges: 0, loadsFirst: true },
      { loads: LOADS, exchanges: 0, loadsFirst: true },
      { loads: 0, exchanges: 16, loadsFirst: true },
      { loads: LOADS, exchanges: 16, loadsFirst: true },
      { loads: LOADS, exchanges: 16, loadsFirst: false },
      { loads: 0, exchanges: 4, loadsFirst: true },
      { loads: LOADS, exchanges: 4, loadsFirst: true },
      { loads: LOADS, exchanges: 4, loadsFirst: false },
    ];
    for (const c of cases) {
      const pipeline = await gpu.pipelines.get({
        shader,
        entryPoint: 'main',
        constants: { WG, LOADS: c.loads, EXCHANGES: c.exchanges, LOADS_FIRST: c.loadsFirst ? 1 : 0 },
      });
      const groups = Array.from({ length: WINDOWS }, (_, i) =>
        bindGroup(device, pipeline, [{ buffer: src, offset: i * windowBytes, size: windowBytes }, out]),
      );
      const encode = (pass: GPUComputePassEncoder, i: number) =>
        dispatch(pass, pipeline, groups[i % WINDOWS], workgroups);
      const iterations = await calibrateIterations(gpu, encode, 0.03, 8192);
      const t = await timeGpu(gpu, encode, { iterations, samples: 5 });
      results.push({
        workgroups,
        loads: c.loads,
        exchanges: c.exchanges,
        order: c.loadsFirst ? 'loads first' : 'exchanges first',
        microseconds: t.secondsPerIteration * 1e6,
      });
    }
    src.destroy();
    out.destroy();
  }
  return results;
}

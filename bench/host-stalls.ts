import { storageBuffer } from '../src/gpu/buffers';
import type { GpuContext } from '../src/gpu/device';
import { bindGroup } from '../src/gpu/dispatch';
import { fastbinsState } from '../src/node/malloc-tunables';
import busyWgsl from './shaders/host_busy.wgsl?raw';
import { median } from './timer';

/**
 * Host stalls of a decode-like loop without a model (session 16): each step encodes `dispatches`
 * small dispatches into one pass, copies a word to a read-back buffer, submits and waits for the
 * read (mapAsync, as decode reads its id). In Node on glibc, with malloc fastbins on, now and then
 * a beginComputePass takes milliseconds: glibc merging the small blocks Dawn's binding freed
 * (src/node/malloc-tunables.ts). Run it with and without PAGELM_NO_REEXEC=1 to compare.
 */
export interface HostStallResult {
  fastbins: 'off' | 'on' | null;
  steps: number;
  /** beginComputePass, ms: median, largest, and the steps over 2 ms with their total. */
  beginMedianMs: number;
  beginMaxMs: number;
  beginOver2ms: number;
  beginOver2msTotalMs: number;
  /** The whole encode + submit of a step, ms: median and largest. */
  stepMedianMs: number;
  stepMaxMs: number;
}

const shader = { name: 'host_busy', code: busyWgsl };

export async function benchHostStalls(
  gpu: GpuContext,
  steps = 300,
  dispatches = 150,
): Promise<HostStallResult> {
  const { device } = gpu;
  const words = storageBuffer(device, 4 * 65536, 'host-busy');
  const pipeline = await gpu.pipelines.get({ shader, entryPoint: 'main', constants: { ITERATIONS: 2000 } });
  const group = bindGroup(device, pipeline, [words]);
  const reads = [0, 1].map(() =>
    device.createBuffer({ size: 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }),
  );
  const begin: number[] = [];
  const step: number[] = [];
  for (let s = 0; s < steps; s++) {
    const t0 = performance.now();
    const enc = device.createCommandEncoder();
    const t1 = performance.now();
    const pass = enc.beginComputePass();
    const t2 = performance.now();
    for (let i = 0; i < dispatches; i++) {
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, group);
      pass.dispatchWorkgroups(16);
    }
    pass.end();
    const out = reads[s % 2];
    enc.copyBufferToBuffer(words, 0, out, 0, 4);
    device.queue.submit([enc.finish()]);
    step.push(performance.now() - t0);
    begin.push(t2 - t1);
    await out.mapAsync(GPUMapMode.READ);
    out.unmap();
  }
  for (const b of [words, ...reads]) b.destroy();
  const over = begin.filter((x) => x > 2);
  return {
    fastbins: fastbinsState(),
    steps,
    beginMedianMs: median(begin),
    beginMaxMs: Math.max(...begin),
    beginOver2ms: over.length,
    beginOver2msTotalMs: over.reduce((a, b) => a + b, 0),
    stepMedianMs: median(step),
    stepMaxMs: Math.max(...step),
  };
}

import type { GpuContext } from '../src/gpu/device';
import { TimestampQueries } from '../src/gpu/timestamps';

/**
 * GPU timing for benchmarks. With timestamp-query the compute pass is bracketed by timestamps
 * (create the Dawn instance with 'disable-dawn-features=timestamp_quantization' or the values are
 * rounded); without it, the host times a whole submit, so batches must last tens of ms.
 * Returns seconds per iteration, the median of `samples` batches.
 */
export interface TimingOptions {
  iterations: number;
  samples?: number;
  warmup?: number;
}

export interface Timing {
  secondsPerIteration: number;
  method: 'timestamp' | 'host';
  /** Spread of the samples: (max - min) / median. */
  spread: number;
}

export async function timeGpu(
  gpu: GpuContext,
  encode: (pass: GPUComputePassEncoder, iteration: number) => void,
  opts: TimingOptions,
): Promise<Timing> {
  const { device } = gpu;
  const samples = opts.samples ?? 5;
  const timing = gpu.caps.features.timestampQuery ? new TimestampQueries(device, 1) : null;

  const runBatch = async (): Promise<number> => {
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass(timing ? { timestampWrites: timing.pass(0) } : {});
    for (let i = 0; i < opts.iterations; i++) encode(pass, i);
    pass.end();
    timing?.resolve(enc);
    const t0 = performance.now();
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    const hostSeconds = (performance.now() - t0) / 1e3;
    return timing ? (await timing.seconds())[0] : hostSeconds;
  };

  for (let i = 0; i < (opts.warmup ?? 1); i++) await runBatch();
  const times: number[] = [];
  for (let i = 0; i < samples; i++) times.push(await runBatch());
  times.sort((a, b) => a - b);
  const mid = median(times);
  timing?.destroy();
  return {
    secondsPerIteration: mid / opts.iterations,
    method: timing ? 'timestamp' : 'host',
    spread: (times[times.length - 1] - times[0]) / mid,
  };
}

/** Picks an iteration count so one batch lasts about `targetSeconds`. */
export async function calibrateIterations(
  gpu: GpuContext,
  encode: (pass: GPUComputePassEncoder, iteration: number) => void,
  targetSeconds = 0.05,
  max = 4096,
): Promise<number> {
  let iterations = 1;
  for (;;) {
    const t = await timeGpu(gpu, encode, { iterations, samples: 1, warmup: 0 });
    const batch = t.secondsPerIteration * iterations;
    if (batch >= targetSeconds / 4 || iterations >= max) {
      return Math.max(1, Math.min(max, Math.round((iterations * targetSeconds) / Math.max(batch, 1e-6))));
    }
    iterations *= 4;
  }
}

/** The middle value (upper middle for an even count) of `xs`; `xs` is not reordered. */
export function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
}

import type { GpuContext } from '../src/gpu/device';

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
  const useTimestamps = gpu.caps.features.timestampQuery;
  const querySet = useTimestamps ? device.createQuerySet({ type: 'timestamp', count: 2 }) : null;
  const resolve = useTimestamps
    ? device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC })
    : null;
  const readback = useTimestamps
    ? device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST })
    : null;

  const runBatch = async (): Promise<number> => {
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass(
      querySet ? { timestampWrites: { querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } } : {},
    );
    for (let i = 0; i < opts.iterations; i++) encode(pass, i);
    pass.end();
    if (querySet && resolve && readback) {
      enc.resolveQuerySet(querySet, 0, 2, resolve, 0);
      enc.copyBufferToBuffer(resolve, 0, readback, 0, 16);
    }
    const t0 = performance.now();
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    const hostSeconds = (performance.now() - t0) / 1e3;
    if (!readback) return hostSeconds;
    await readback.mapAsync(GPUMapMode.READ);
    const [begin, end] = new BigUint64Array(readback.getMappedRange().slice(0));
    readback.unmap();
    return Number(end - begin) / 1e9;
  };

  for (let i = 0; i < (opts.warmup ?? 1); i++) await runBatch();
  const times: number[] = [];
  for (let i = 0; i < samples; i++) times.push(await runBatch());
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  querySet?.destroy();
  resolve?.destroy();
  readback?.destroy();
  return {
    secondsPerIteration: median / opts.iterations,
    method: useTimestamps ? 'timestamp' : 'host',
    spread: (times[times.length - 1] - times[0]) / median,
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

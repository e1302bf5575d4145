import { storageBuffer } from '../src/gpu/buffers';
import type { GpuContext } from '../src/gpu/device';
import { type BulkKernel, bulkKernel } from '../src/kernels/copy';
import { calibrateIterations, timeGpu } from './timer';

/**
 * Memory bandwidth yardsticks: `read` (the decode roofline: weights are only read) and `copy`
 * (read + write). Each iteration touches a different buffer of a rotating set whose total is
 * well past the GPU's L2 (50 MB on the H100), so repeated runs do not measure the cache.
 */
export interface BandwidthResult {
  kernel: 'read' | 'copy';
  bufferMiB: number;
  buffers: number;
  gbPerSecond: number;
  method: string;
  spread: number;
}

/**
 * Fills the first `bytes` (a multiple of 4) of `buffer` with a non-zero pattern, 16 MiB per write:
 * zeros can be read faster than real data on some hardware.
 */
export function fillNonZero(device: GPUDevice, buffer: GPUBuffer, bytes: number): void {
  const chunk = new Uint32Array(Math.min(bytes, 16 << 20) / 4).map((_, i) => (i * 2654435761) >>> 0);
  for (let off = 0; off < bytes; off += chunk.byteLength) {
    device.queue.writeBuffer(buffer, off, chunk, 0, Math.min(chunk.length, (bytes - off) / 4));
  }
}

export async function measureBandwidth(
  gpu: GpuContext,
  bufferMiB: number,
  buffers: number,
): Promise<BandwidthResult[]> {
  const bytes = bufferMiB * 1024 * 1024;
  const srcs = Array.from({ length: buffers }, (_, i) => storageBuffer(gpu.device, bytes, `bw-src-${i}`));
  for (const b of srcs) fillNonZero(gpu.device, b, bytes);
  const dst = storageBuffer(gpu.device, bytes, 'bw-dst');
  const results: BandwidthResult[] = [];
  for (const kind of ['read', 'copy'] as const) {
    const kernels: BulkKernel[] = [];
    for (const src of srcs) kernels.push(await bulkKernel(gpu, kind, src, dst, bytes));
    const encode = (pass: GPUComputePassEncoder, i: number) => kernels[i % kernels.length].encode(pass);
    const iterations = await calibrateIterations(gpu, encode);
    const t = await timeGpu(gpu, encode, { iterations, samples: 5 });
    results.push({
      kernel: kind,
      bufferMiB,
      buffers,
      gbPerSecond: kernels[0].bytes / t.secondsPerIteration / 1e9,
      method: t.method,
      spread: t.spread,
    });
    for (const k of kernels) k.destroy();
  }
  for (const b of [...srcs, dst]) b.destroy();
  return results;
}

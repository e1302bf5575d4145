import copyWgsl from '../../shaders/copy.wgsl?raw';
import { uniformBuffer } from '../gpu/buffers';
import type { GpuContext } from '../gpu/device';
import { bindGroup, dispatch } from '../gpu/dispatch';

export const copyShader = { name: 'copy', code: copyWgsl };

const WG = 256;

export interface BulkKernel {
  /** Records the kernel into an open compute pass. */
  encode(pass: GPUComputePassEncoder): void;
  /** Bytes the kernel moves through memory per run (read + written). */
  bytes: number;
  destroy(): void;
}

/**
 * Prepares `copy` (src → dst) or `read` (src only; dst is a small sink) over `bytes` bytes,
 * which must be a multiple of 16. `workgroups` defaults to enough for ~4 vec4 per thread.
 */
export async function bulkKernel(
  gpu: GpuContext,
  kind: 'copy' | 'read',
  src: GPUBuffer,
  dst: GPUBuffer,
  bytes: number,
  workgroups?: number,
): Promise<BulkKernel> {
  if (bytes % 16 !== 0) throw new Error(`bulkKernel: ${bytes} bytes is not a multiple of 16`);
  const { device } = gpu;
  const pipeline = await gpu.pipelines.get({
    shader: copyShader,
    entryPoint: kind === 'copy' ? 'copy_vec4' : 'read_vec4',
    constants: { WG },
  });
  const n = bytes / 16;
  const groups =
    workgroups ??
    Math.max(1, Math.min(gpu.caps.limits.maxComputeWorkgroupsPerDimension, Math.ceil(n / (WG * 4))));
  const params = uniformBuffer(device, new Uint32Array([n, 0x9e3779b9]));
  const group = bindGroup(device, pipeline, [src, dst, params]);
  return {
    encode: (pass) => dispatch(pass, pipeline, group, groups),
    bytes: kind === 'copy' ? 2 * bytes : bytes,
    destroy: () => params.destroy(),
  };
}

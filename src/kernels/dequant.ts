import dequantW4a8Wgsl from '../../shaders/dequant_w4a8.wgsl?raw';
import { uniformBuffer } from '../gpu/buffers';
import type { GpuContext } from '../gpu/device';
import { bindGroup, dispatch } from '../gpu/dispatch';
import { w4a8Geometry } from '../quant/layouts';
import type { Encodable } from './encodable';
import { type GpuLinearPiece, grid2d } from './linear';

export const dequantW4a8Shader = { name: 'dequant_w4a8', code: dequantW4a8Wgsl };

const WG = 256;

/**
 * W4A8 piece → f16 weights [rows][Kp] in the f16 layout (u32 pairs), into `out`
 * (rows · Kp · 2 bytes). The baseline of the benchmark's FastGEMM ablation: a dequantize pass
 * followed by a float GEMV, which the fused W4A8 kernels avoid.
 */
export async function dequantizeW4a8Kernel(
  gpu: GpuContext,
  piece: GpuLinearPiece,
  K: number,
  groupSize: number,
  out: GPUBuffer,
): Promise<Encodable & { Kp: number }> {
  const { Kp, nGroups } = w4a8Geometry(K, groupSize >= K ? undefined : groupSize);
  const words = piece.rows * (Kp / 8);
  const pipeline = await gpu.pipelines.get({
    shader: dequantW4a8Shader,
    entryPoint: 'main',
    constants: { WG },
  });
  const [gx, gy] = grid2d(Math.ceil(words / WG), gpu.caps.limits.maxComputeWorkgroupsPerDimension);
  const params = uniformBuffer(gpu.device, new Uint32Array([piece.rows, Kp / 8, nGroups, gx]));
  const group = bindGroup(gpu.device, pipeline, [piece.buffers.qweight, piece.buffers.scales, out, params]);
  return {
    Kp,
    encode: (pass) => dispatch(pass, pipeline, group, gx, gy),
    destroy: () => params.destroy(),
  };
}

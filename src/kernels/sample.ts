import sampleWgsl from '../../shaders/sample.wgsl?raw';
import { uniformBuffer } from '../gpu/buffers';
import type { GpuContext } from '../gpu/device';
import { dispatch } from '../gpu/dispatch';
import type { Encodable } from './encodable';

export const sampleShader = { name: 'sample', code: sampleWgsl };

/** Greedy choice of the next token from one row of logits → ids[0] and history[pos]. */
export async function argmaxKernel(
  gpu: GpuContext,
  b: { logits: GPUBuffer; vocab: number; ids: GPUBuffer; history: GPUBuffer; step: GPUBuffer },
): Promise<Encodable> {
  const { device } = gpu;
  const pipeline = await gpu.pipelines.get({
    shader: sampleShader,
    entryPoint: 'argmax',
    constants: { WG: 256 },
  });
  const params = uniformBuffer(device, new Uint32Array([b.vocab, 0]));
  const group = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [b.logits, b.ids, params, b.step, b.history].map((buffer, binding) => ({
      binding,
      resource: { buffer },
    })),
  });
  return {
    encode: (pass) => dispatch(pass, pipeline, group, 1),
    destroy: () => params.destroy(),
  };
}

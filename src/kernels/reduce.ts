import reduceWgsl from '../../shaders/reduce.wgsl?raw';
import { STORAGE, uniformBuffer } from '../gpu/buffers';
import type { GpuContext } from '../gpu/device';
import { bindGroup, dispatch } from '../gpu/dispatch';

export const reduceShader = { name: 'reduce', code: reduceWgsl };

export type ReduceOp = 'sum' | 'maxabs';

const WG = 256;
/** Pass-1 workgroups: enough to fill a large GPU, few enough for one pass-2 workgroup to fold. */
const MAX_PARTIALS = 1024;

/**
 * Reduces `n` f32 values of `input` to one f32 (sum, or max |x|) in two dispatches.
 * Returns a 4-byte storage buffer with the result.
 */
export async function reduce(
  gpu: GpuContext,
  input: GPUBuffer,
  n: number,
  op: ReduceOp,
  opts: { useSubgroups?: boolean } = {},
): Promise<GPUBuffer> {
  const { device } = gpu;
  const subgroups = (opts.useSubgroups ?? true) && gpu.caps.features.subgroups;
  const pipeline = await gpu.pipelines.get({
    shader: reduceShader,
    entryPoint: 'main',
    flags: { SUBGROUPS: subgroups },
    constants: { WG, OP: op === 'sum' ? 0 : 1 },
  });
  const partials = Math.max(1, Math.min(MAX_PARTIALS, Math.ceil(n / WG)));
  const partialBuf = device.createBuffer({ size: partials * 4, usage: STORAGE });
  const out = device.createBuffer({ size: 4, usage: STORAGE });
  const p1 = uniformBuffer(device, new Uint32Array([n]));
  const p2 = uniformBuffer(device, new Uint32Array([partials]));
  const enc = device.createCommandEncoder({ label: 'reduce' });
  const pass = enc.beginComputePass();
  dispatch(pass, pipeline, bindGroup(device, pipeline, [input, partialBuf, p1]), partials);
  dispatch(pass, pipeline, bindGroup(device, pipeline, [partialBuf, out, p2]), 1);
  pass.end();
  device.queue.submit([enc.finish()]);
  await device.queue.onSubmittedWorkDone();
  partialBuf.destroy();
  p1.destroy();
  p2.destroy();
  return out;
}

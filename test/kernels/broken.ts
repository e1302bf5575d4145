/**
 * Deliberately broken kernels: the test rig itself is tested by checking that these fail.
 * One writes only every other element (poison must be caught), one computes the wrong value.
 */
import { poison, readU32, storageBuffer, uniformBuffer, uploadBuffer } from '../../src/gpu/buffers';
import type { GpuContext } from '../../src/gpu/device';
import { bindGroup, dispatch } from '../../src/gpu/dispatch';
import { expectEqual, freshSeed, randomU32, rng } from '../helpers/check';

const brokenCopy = {
  name: 'broken-copy',
  code: /* wgsl */ `
@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
@group(0) @binding(2) var<uniform> n: vec4<u32>;
@compute @workgroup_size(64)
fn skips_odd(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x < n.x && gid.x % 2u == 0u) { dst[gid.x] = src[gid.x]; }
}
@compute @workgroup_size(64)
fn off_by_one(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x < n.x) { dst[gid.x] = src[gid.x] + select(0u, 1u, gid.x == n.x - 1u); }
}`,
};

/** Runs a broken copy through the same checks as the real ones; resolves only if the check threw. */
export async function brokenKernelIsCaught(
  gpu: GpuContext,
  entryPoint: 'skips_odd' | 'off_by_one',
): Promise<string> {
  const words = 1000;
  const data = randomU32(words, rng(freshSeed()));
  const src = uploadBuffer(gpu.device, data);
  const dst = storageBuffer(gpu.device, words * 4);
  poison(gpu.device, dst);
  const pipeline = await gpu.pipelines.get({ shader: brokenCopy, entryPoint });
  const params = uniformBuffer(gpu.device, new Uint32Array([words, 0, 0, 0]));
  const enc = gpu.device.createCommandEncoder();
  const pass = enc.beginComputePass();
  dispatch(pass, pipeline, bindGroup(gpu.device, pipeline, [src, dst, params]), Math.ceil(words / 64));
  pass.end();
  gpu.device.queue.submit([enc.finish()]);
  const got = await readU32(gpu.device, dst, words);
  try {
    expectEqual(`broken ${entryPoint}`, got, data);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error(
    `the broken kernel '${entryPoint}' passed the check: the test rig cannot catch bad kernels`,
  );
}

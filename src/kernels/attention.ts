import attentionWgsl from '../../shaders/attention.wgsl?raw';
import ropeWgsl from '../../shaders/rope.wgsl?raw';
import { uniformBuffer } from '../gpu/buffers';
import type { GpuContext } from '../gpu/device';
import { dispatch } from '../gpu/dispatch';
import type { Encodable } from './encodable';

export const ropeShader = { name: 'rope', code: ropeWgsl };
export const attentionShader = { name: 'attention', code: attentionWgsl };

/** Keys per attention split (the partial kernel's workgroup size). */
export const ATTN_SPLIT = 64;

export interface AttentionShape {
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  /** Positions the KV cache holds. */
  maxPos: number;
  kvF16: boolean;
}

function entries(buffers: (GPUBuffer | null)[]): GPUBindGroupEntry[] {
  const out: GPUBindGroupEntry[] = [];
  buffers.forEach((buffer, binding) => {
    if (buffer) out.push({ binding, resource: { buffer } });
  });
  return out;
}

/** RoPE on q and k of a qkv chunk, q → qOut, k and v → the cache at positions pos0 + t. */
export async function ropeKernel(
  gpu: GpuContext,
  s: AttentionShape,
  b: {
    qkv: GPUBuffer;
    qkvStride: number;
    cosSin: GPUBuffer;
    qOut: GPUBuffer;
    qStride: number;
    k: GPUBuffer;
    v: GPUBuffer;
    step: GPUBuffer;
  },
): Promise<Encodable> {
  const { device } = gpu;
  const pipeline = await gpu.pipelines.get({
    shader: ropeShader,
    entryPoint: 'main',
    constants: { WG: 64, KV_F16: s.kvF16 ? 1 : 0 },
  });
  const params = uniformBuffer(
    device,
    new Uint32Array([s.numHeads, s.numKvHeads, s.headDim, b.qkvStride, b.qStride, s.maxPos]),
  );
  const group = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: entries([b.qkv, b.cosSin, b.qOut, b.k, b.v, params, b.step]),
  });
  return {
    encode: (pass, tokens = 1) => dispatch(pass, pipeline, group, s.numHeads + s.numKvHeads, tokens),
    destroy: () => params.destroy(),
  };
}

export interface AttentionKernel extends Encodable {
  /** Records partial + merge for `tokens` queries whose last position is `lastPos`. */
  encodeAt(pass: GPUComputePassEncoder, tokens: number, lastPos: number): void;
}

/**
 * Split-sequence attention: partial (per split × KV head × token) then merge (per head × token)
 * into `out`. `maxTokens` sizes the partial buffers.
 */
export async function attentionKernel(
  gpu: GpuContext,
  s: AttentionShape,
  b: {
    q: GPUBuffer;
    qStride: number;
    k: GPUBuffer;
    v: GPUBuffer;
    out: GPUBuffer;
    outStride: number;
    step: GPUBuffer;
  },
  maxTokens: number,
): Promise<AttentionKernel> {
  const { device } = gpu;
  if (s.numHeads % s.numKvHeads) throw new Error('attention: numHeads must be a multiple of numKvHeads');
  // K is read 8 values (one vec4<u32> of f16 pairs) at a time.
  if (s.headDim % 8) throw new Error(`attention: head_dim ${s.headDim} is not a multiple of 8`);
  const constants = {
    WG: ATTN_SPLIT,
    HEAD_DIM: s.headDim,
    GROUP: s.numHeads / s.numKvHeads,
    KV_F16: s.kvF16 ? 1 : 0,
  };
  const partial = await gpu.pipelines.get({ shader: attentionShader, entryPoint: 'partial', constants });
  const merge = await gpu.pipelines.get({ shader: attentionShader, entryPoint: 'merge', constants });
  const splitsMax = Math.ceil(s.maxPos / ATTN_SPLIT);
  const slots = maxTokens * s.numHeads * splitsMax;
  const partO = device.createBuffer({ size: slots * s.headDim * 4, usage: GPUBufferUsage.STORAGE });
  const partMl = device.createBuffer({ size: slots * 8, usage: GPUBufferUsage.STORAGE });
  const params = uniformBuffer(
    device,
    new Uint32Array([
      s.numHeads,
      s.numKvHeads,
      b.qStride,
      s.maxPos,
      splitsMax,
      b.outStride,
      new Uint32Array(new Float32Array([1 / Math.sqrt(s.headDim)]).buffer)[0],
    ]),
  );
  const partialGroup = device.createBindGroup({
    layout: partial.getBindGroupLayout(0),
    entries: entries([b.q, b.k, b.v, partO, partMl, params, b.step, null]),
  });
  const mergeGroup = device.createBindGroup({
    layout: merge.getBindGroupLayout(0),
    entries: entries([null, null, null, partO, partMl, params, b.step, b.out]),
  });
  const encodeAt = (pass: GPUComputePassEncoder, tokens: number, lastPos: number) => {
    dispatch(pass, partial, partialGroup, Math.floor(lastPos / ATTN_SPLIT) + 1, s.numKvHeads, tokens);
    dispatch(pass, merge, mergeGroup, s.numHeads, tokens);
  };
  return {
    encodeAt,
    encode: () => {
      throw new Error('attention: use encodeAt(pass, tokens, lastPos)');
    },
    destroy: () => {
      for (const buf of [partO, partMl, params]) buf.destroy();
    },
  };
}

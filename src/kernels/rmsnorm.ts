import rmsnormWgsl from '../../shaders/rmsnorm.wgsl?raw';
import { f32Bits, uniformBuffer } from '../gpu/buffers';
import type { GpuContext } from '../gpu/device';
import { bindGroup, dispatch } from '../gpu/dispatch';
import type { Encodable } from './encodable';
import { partialsAfterSubgroups, subgroupsFit } from './subgroups';

export const rmsnormShader = { name: 'rmsnorm', code: rmsnormWgsl };

/** One workgroup per token: as many invocations as the device allows, up to 1024. */
function workgroupSize(gpu: GpuContext): number {
  const limit = Math.min(1024, gpu.caps.limits.maxComputeInvocationsPerWorkgroup);
  return 2 ** Math.floor(Math.log2(limit));
}

/** Most words (4 features) of a row one invocation holds in registers (VPI_MAX in rmsnorm.wgsl). */
const ROW_REGS_MAX_WORDS = 4;

export interface RmsNormArgs {
  tokens: number;
  k: number;
  eps: number;
  x: GPUBuffer;
  /** Byte offset of the first token's row in x (a multiple of 256). */
  xOffset?: number;
  /** Norm weight [k]; null = no normalization (plain activation quantizer). */
  weight: GPUBuffer | null;
  /** Elements per token row of x and of the output (f32 or int8); default k. */
  stride?: number;
  /**
   * f32 output [tokens][stride]; int8 output: packed words [tokens][stride/4] + per-token scale;
   * or 16-bit split output (`x16` activations, see Activations in linear.ts; 2/4/16's lane order
   * when `transposed`).
   */
  out:
    | { f32: GPUBuffer }
    | { q: GPUBuffer; scale: GPUBuffer }
    | { q16: GPUBuffer; sum: GPUBuffer; scale: GPUBuffer; transposed: boolean };
}

/**
 * RMSNorm → f32, RMSNorm → int8 + scale (fused W4A8 activation quantization), RMSNorm → 16-bit
 * split (the W4A16 / 2/4/16 prefill token blocks' input), or either quantization alone. Buffers
 * are bound once; encode() only records the dispatch.
 */
export async function rmsNormKernel(gpu: GpuContext, a: RmsNormArgs): Promise<Encodable> {
  const { device } = gpu;
  const out = a.out;
  const x16 = 'q16' in out;
  const quantized = x16 || 'q' in out;
  const WG = workgroupSize(gpu);
  const sgReduce = subgroupsFit(gpu, WG);
  const stride = a.stride ?? a.k;
  // The row in registers where it fits (up to 4 words per invocation; not the 16-bit output).
  const vpi = Math.ceil(stride / 4 / WG);
  const rowRegs = !x16 && stride % 4 === 0 && vpi <= ROW_REGS_MAX_WORDS;
  const pipeline = await gpu.pipelines.get({
    shader: rmsnormShader,
    entryPoint: 'main',
    flags: { SG_REDUCE: sgReduce, X16_OUT: x16 },
    constants: {
      WG,
      NORMALIZE: a.weight ? 1 : 0,
      INT8_OUT: quantized ? 1 : 0,
      RED_PARTIALS: partialsAfterSubgroups(gpu, WG, sgReduce),
      ...(rowRegs ? { ROW_REGS: 1, VPI: vpi } : {}),
      ...(x16 ? { X16_TRANSPOSE: out.transposed ? 1 : 0 } : {}),
    },
  });
  if (quantized && stride % (x16 ? 64 : 4))
    throw new Error(
      `rmsnorm: ${x16 ? '16-bit' : 'int8'} rows need a stride that is a multiple of ${x16 ? 64 : 4}, got ${stride}`,
    );
  const params = uniformBuffer(device, new Uint32Array([a.k, stride, f32Bits(a.eps)]));
  // Unused bindings still need a buffer: the pipeline's auto layout lists every binding it names.
  // The outputs this specialization never writes get a tiny placeholder.
  // (two of them: writable bindings must not alias).
  const unused = [0, 1].map(() => device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE }));
  const xIn = { buffer: a.x, offset: a.xOffset ?? 0 };
  const bindings =
    'q16' in out
      ? [xIn, a.weight ?? a.x, unused[0], out.q16, out.scale, params, out.sum]
      : 'q' in out
        ? [xIn, a.weight ?? a.x, unused[0], out.q, out.scale, params]
        : [xIn, a.weight ?? a.x, out.f32, unused[0], unused[1], params];
  const group = bindGroup(device, pipeline, bindings);
  return {
    encode: (pass, tokens = a.tokens) => dispatch(pass, pipeline, group, tokens),
    destroy: () => {
      params.destroy();
      for (const b of unused) b.destroy();
    },
  };
}

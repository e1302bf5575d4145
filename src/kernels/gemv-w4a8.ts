import gemvW4a8Wgsl from '../../shaders/gemv_w4a8.wgsl?raw';
import { uniformBuffer } from '../gpu/buffers';
import type { GpuContext } from '../gpu/device';
import { bindGroup, dispatch } from '../gpu/dispatch';
import { w4a8Geometry } from '../quant/layouts';
import type { Encodable } from './encodable';
import { type Activations, type GpuLinear, grid2d } from './linear';

export const gemvW4a8Shader = { name: 'gemv_w4a8', code: gemvW4a8Wgsl };

export interface GemvOptions {
  /** y += W x instead of y = W x (fuses the residual add). */
  accumulate?: boolean;
  /** Stage the tile's scales in workgroup memory (default) or load them per thread. */
  scalesInShared?: boolean;
  /** Threads per output row (a power of two, ≤ 256). */
  threadsPerRow?: number;
  /** Use subgroup reductions when the adapter has them (default true). */
  subgroups?: boolean;
}

const WG = 256;

export function canUseSubgroups(gpu: GpuContext, threadsPerRow: number): boolean {
  const { subgroups } = gpu.caps.features;
  const max = gpu.caps.subgroupMaxSize;
  return subgroups && max > 0 && threadsPerRow % max === 0;
}

/** y[row0 + n] (+)= W4A8 GEMV of one token. */
export async function gemvW4A8(
  gpu: GpuContext,
  w: GpuLinear,
  x: Activations,
  y: GPUBuffer,
  opts: GemvOptions = {},
): Promise<Encodable> {
  if (w.scheme !== 'w4a8') throw new Error(`gemvW4A8: weight scheme is ${w.scheme}`);
  if (x.kind !== 'int8') throw new Error('gemvW4A8: needs int8 activations');
  const { device } = gpu;
  const tpr = opts.threadsPerRow ?? 32;
  const perChannel = w.groupSize >= w.K;
  const { Kp, nGroups } = w4a8Geometry(w.K, perChannel ? undefined : w.groupSize);
  const rowsPerWg = WG / tpr;
  const pipeline = await gpu.pipelines.get({
    shader: gemvW4a8Shader,
    entryPoint: 'main',
    flags: { SUBGROUPS: (opts.subgroups ?? true) && canUseSubgroups(gpu, tpr) },
    constants: {
      WG,
      TPR: tpr,
      GROUP_CHUNKS: perChannel ? 0 : w.groupSize / 32,
      SCALE_SLOTS: rowsPerWg * nGroups,
      SCALES_IN_SHARED: (opts.scalesInShared ?? true) ? 1 : 0,
      ACCUMULATE: opts.accumulate ? 1 : 0,
    },
  });
  const maxDim = gpu.caps.limits.maxComputeWorkgroupsPerDimension;
  const parts = w.pieces.map((p) => {
    const [gx, gy] = grid2d(Math.ceil(p.rows / rowsPerWg), maxDim);
    const params = uniformBuffer(device, new Uint32Array([p.rows, Kp / 32, nGroups, p.row0, gx]));
    const group = bindGroup(device, pipeline, [p.buffers.qweight, p.buffers.scales, x.q, x.scale, y, params]);
    return { group, gx, gy, params };
  });
  return {
    encode: (pass) => {
      for (const p of parts) dispatch(pass, pipeline, p.group, p.gx, p.gy);
    },
    destroy: () => {
      for (const p of parts) p.params.destroy();
    },
  };
}

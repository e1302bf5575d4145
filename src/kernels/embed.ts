import embedWgsl from '../../shaders/embed.wgsl?raw';
import { uniformBuffer } from '../gpu/buffers';
import type { GpuContext } from '../gpu/device';
import { dispatch } from '../gpu/dispatch';
import { roundUp, w2Geometry, w4a8Geometry } from '../quant/layouts';
import type { Encodable } from './encodable';
import type { GpuLinear, GpuLinearPiece } from './linear';

export const embedShader = { name: 'embed', code: embedWgsl };

const WG = 64;

/** Binding numbers of each scheme's components in embed.wgsl. */
const componentBindings: Record<GpuLinear['scheme'], Record<string, number>> = {
  f32: { data: 3 },
  f16: { data: 3 },
  w4a8: { qweight: 3, scales: 4 },
  w4a16: { qweight: 3, scales: 5 },
  'w2-4-16': { qweight: 3, rowScale: 4, mask: 6, scaleCodes: 7, outlierRowPtr: 8, outliers: 9 },
};

function rowWords(w: GpuLinear): {
  rowWords: number;
  groups: number;
  groupSize: number;
  mask: number;
  codes: number;
} {
  switch (w.scheme) {
    case 'f32':
      return { rowWords: w.K, groups: 0, groupSize: 0, mask: 0, codes: 0 };
    case 'f16':
      return { rowWords: roundUp(w.K, 2) / 2, groups: 0, groupSize: 0, mask: 0, codes: 0 };
    case 'w4a8': {
      const perChannel = w.groupSize >= w.K;
      const g = w4a8Geometry(w.K, perChannel ? undefined : w.groupSize);
      return { rowWords: g.Kp / 8, groups: g.nGroups, groupSize: g.g, mask: 0, codes: 0 };
    }
    case 'w4a16':
      return {
        rowWords: roundUp(w.K, 32) / 8,
        groups: Math.ceil(w.K / 128),
        groupSize: 128,
        mask: 0,
        codes: 0,
      };
    case 'w2-4-16': {
      const g = w2Geometry(w.K);
      return { rowWords: g.wordsPerRow, groups: g.nG, groupSize: 64, mask: g.maskWords, codes: g.codeWords };
    }
  }
}

/**
 * x[t] = table[ids[idsOffset + t]] (dequantized) for t < tokens. `xStride` is the per-token
 * length of x in f32. One dispatch per table piece.
 */
export async function embedKernel(
  gpu: GpuContext,
  table: GpuLinear,
  ids: GPUBuffer,
  x: GPUBuffer,
  xStride: number,
  idsOffset = 0,
): Promise<Encodable> {
  const { device } = gpu;
  const pipeline = await gpu.pipelines.get({
    shader: embedShader,
    entryPoint: `embed_${table.scheme.replaceAll('-', '_')}`,
    constants: { WG },
  });
  const geo = rowWords(table);
  const parts = table.pieces.map((p: GpuLinearPiece) => {
    const params = uniformBuffer(
      device,
      new Uint32Array([
        p.rows,
        table.K,
        p.row0,
        idsOffset,
        xStride,
        geo.rowWords,
        geo.groups,
        geo.groupSize,
        geo.mask,
        geo.codes,
      ]),
    );
    const entries: GPUBindGroupEntry[] = [
      { binding: 0, resource: { buffer: ids } },
      { binding: 1, resource: { buffer: x } },
      { binding: 2, resource: { buffer: params } },
    ];
    for (const [name, binding] of Object.entries(componentBindings[table.scheme])) {
      entries.push({ binding, resource: { buffer: p.buffers[name] } });
    }
    const group = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    return { group, params };
  });
  return {
    encode: (pass, tokens = 1) => {
      for (const part of parts) dispatch(pass, pipeline, part.group, tokens);
    },
    destroy: () => {
      for (const part of parts) part.params.destroy();
    },
  };
}

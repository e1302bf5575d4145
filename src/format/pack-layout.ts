import { W4A16_GROUP, w2Geometry, w4a8Geometry } from '../quant/layouts';
import type { Scheme } from '../quant/types';
import type { ComponentRef } from './pack';

/**
 * The components every scheme stores for `rows` rows of a [N, K] tensor, with their element type
 * and exact byte size (docs/FORMAT.md "Weight schemes"). The reader checks a manifest against
 * this before anything reaches a GPU buffer, so a corrupt or mismatched pack fails with a message
 * instead of a kernel reading out of bounds. `bytes: null` = variable (w2-4-16 outliers, checked
 * against outlierRowPtr when read).
 */
export type ComponentSpec = Record<string, { dtype: ComponentRef['dtype']; bytes: number | null }>;

export const SCHEMES: readonly Scheme[] = ['f32', 'f16', 'w4a8', 'w4a16', 'w2-4-16'];

export function isScheme(v: unknown): v is Scheme {
  return typeof v === 'string' && (SCHEMES as readonly string[]).includes(v);
}

/**
 * Group size recorded in the manifest for a scheme: w4a8 per channel is K (the kernels treat
 * groupSize ≥ K as per channel), w4a16 128, w2-4-16 64, none for f32/f16.
 */
export function manifestGroupSize(scheme: Scheme, K: number, w4a8Group?: number): number | undefined {
  switch (scheme) {
    case 'w4a8':
      return w4a8Group ? w4a8Group : K;
    case 'w4a16':
      return W4A16_GROUP;
    case 'w2-4-16':
      return 64;
    default:
      return undefined;
  }
}

/** Throws Error (the caller adds file and tensor) when the scheme/groupSize/K combination is invalid. */
export function componentSpec(scheme: Scheme, rows: number, K: number, groupSize?: number): ComponentSpec {
  const u32 = (words: number) => ({ dtype: 'u32' as const, bytes: 4 * words });
  const f32 = (n: number) => ({ dtype: 'f32' as const, bytes: 4 * n });
  switch (scheme) {
    case 'f32':
      return { data: f32(rows * K) };
    case 'f16':
      return { data: u32(rows * Math.ceil(K / 2)) };
    case 'w4a8': {
      if (groupSize === undefined) throw new Error('w4a8 tensor without groupSize');
      const { Kp, nGroups } = w4a8Geometry(K, groupSize >= K ? undefined : groupSize);
      return { qweight: u32((rows * Kp) / 8), scales: f32(rows * nGroups) };
    }
    case 'w4a16': {
      if (groupSize !== undefined && groupSize !== W4A16_GROUP)
        throw new Error(`w4a16 uses groups of ${W4A16_GROUP}, manifest says ${groupSize}`);
      return {
        qweight: u32((rows * Math.ceil(K / 32) * 32) / 8),
        scales: u32(rows * Math.ceil(K / W4A16_GROUP)),
      };
    }
    case 'w2-4-16': {
      if (groupSize !== undefined && groupSize !== 64)
        throw new Error(`w2-4-16 uses groups of 64, manifest says ${groupSize}`);
      const g = w2Geometry(K);
      return {
        mask: u32(rows * g.maskWords),
        qweight: u32(rows * g.wordsPerRow),
        rowScale: f32(rows),
        scaleCodes: u32(rows * g.codeWords),
        outlierRowPtr: u32(rows + 1),
        outliers: { dtype: 'u32', bytes: null },
      };
    }
  }
}

import type { GpuContext } from '../gpu/device';

/**
 * Host side of the subgroup reductions (shaders/lib/row_sum.wgsl, wg_reduce.wgsl): a group of
 * `n` invocations may start its reduction with subgroup operations only if it splits into whole
 * subgroups at every size the adapter may pick (n a multiple of the largest), so no subgroup
 * straddles two groups or is partly empty.
 */
export function subgroupsFit(gpu: GpuContext, n: number): boolean {
  const max = gpu.caps.subgroupMaxSize;
  return gpu.caps.features.subgroups && max > 0 && n % max === 0;
}

/**
 * The most partials a group of `n` invocations has left after the subgroup step (n / the
 * smallest subgroup size), or n without subgroups: the trip count of the tree that follows
 * (ROW_PARTIALS, RED_PARTIALS), which must be uniform for its barriers.
 */
export function partialsAfterSubgroups(gpu: GpuContext, n: number, withSubgroups: boolean): number {
  return withSubgroups ? Math.max(1, n / Math.max(1, gpu.caps.subgroupMinSize)) : n;
}

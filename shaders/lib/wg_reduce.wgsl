// Workgroup-wide sum or max of one f32 per invocation (needs override WG, a power of two),
// valid in every invocation; call it in uniform control flow. With the SG_REDUCE flag (the host
// guarantees WG is a multiple of the largest subgroup size, so every subgroup is full) the first
// step is a subgroup reduction and only WG / subgroup_size partials go through workgroup memory.

var<workgroup> wg_red: array<f32, WG>;

// The most partials left after the subgroup step: WG / (smallest subgroup size), or WG without
// subgroups. Set by the host; it fixes the tree's trip count (the barriers need it uniform).
override RED_PARTIALS: u32 = WG;

fn wg_reduce(v: f32, lid: u32, lane: u32, sg_size: u32, is_max: bool) -> f32 {
#if SG_REDUCE
  let folded = select(subgroupAdd(v), subgroupMax(v), is_max);
  if (lane == 0u) {
    wg_red[lid / sg_size] = folded;
  }
  let count = WG / sg_size;
#else
  wg_red[lid] = v;
  let count = WG;
#endif
  workgroupBarrier();
  for (var s = RED_PARTIALS / 2u; s > 0u; s >>= 1u) {
    if (lid < s && lid + s < count) {
      wg_red[lid] = select(wg_red[lid] + wg_red[lid + s], max(wg_red[lid], wg_red[lid + s]), is_max);
    }
    workgroupBarrier();
  }
  let r = wg_red[0];
  workgroupBarrier();
  return r;
}

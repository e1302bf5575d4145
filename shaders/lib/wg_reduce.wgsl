// Workgroup-wide sum or max of one f32 per invocation (needs override WG, a power of two),
// valid in every invocation; call it in uniform control flow. With the SG_REDUCE flag (the host
// guarantees WG is a multiple of the largest subgroup size, so every subgroup is full) the first
// step is a subgroup reduction and only WG / subgroup_size partials go through workgroup memory.

// The most partials left after the subgroup step: WG / (smallest subgroup size), or WG without
// subgroups. Set by the host; it fixes the tree's trip count (the barriers need it uniform), and
// sizes the partials (workgroup memory bounds how many workgroups an SM holds at once).
override RED_PARTIALS: u32 = WG;

var<workgroup> wg_red: array<f32, RED_PARTIALS>;
// Up to this many partials are folded by every invocation after one barrier; more go through a
// tree (no subgroups: WG partials).
const FLAT_PARTIALS: u32 = 32u;

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
  var r: f32;
  if (RED_PARTIALS <= FLAT_PARTIALS) {
    r = wg_red[0];
    // Few partials (after the subgroup step: 8 on a 256-wide workgroup of 32-wide subgroups):
    // every invocation folds them itself, in the same order (so all agree bit for bit), from
    // broadcast reads; one barrier instead of a tree's log2(partials) more — the staged GEMV
    // prologues run two of these back to back on their critical path.
    for (var i = 1u; i < FLAT_PARTIALS; i++) {
      if (i < RED_PARTIALS && i < count) {
        r = select(r + wg_red[i], max(r, wg_red[i]), is_max);
      }
    }
  } else {
    for (var s = RED_PARTIALS / 2u; s > 0u; s >>= 1u) {
      if (lid < s && lid + s < count) {
        wg_red[lid] = select(wg_red[lid] + wg_red[lid + s], max(wg_red[lid], wg_red[lid + s]), is_max);
      }
      workgroupBarrier();
    }
    r = wg_red[0];
  }
  workgroupBarrier();
  return r;
}

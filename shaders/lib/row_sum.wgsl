// Row reduction shared by the GEMV kernels (after gemv_common): row_sum() returns the sum of `acc` over the row's
// invocations, valid in every invocation of the row. Call it in uniform control flow.
// With SUBGROUPS, the host guarantees TPR is a multiple of the subgroup size, so no subgroup
// straddles two rows.

var<workgroup> row_partial: array<f32, WG>;

// The most partials a row can have after the subgroup step: TPR / (smallest subgroup size), or
// TPR without subgroups. Set by the host; it bounds the tree below (1 on the H100: no steps).
override ROW_PARTIALS: u32 = TPR;

fn row_sum(acc: f32, me: GemvTile) -> f32 {
  let lid = me.lid;
  let lane = me.lane;
  let sg_size = me.sg_size;
  let t = me.t;
  let local_row = me.local_row;
#if SUBGROUPS
  let folded = subgroupAdd(acc);
  if (lane == 0u) {
    row_partial[lid / sg_size] = folded;
  }
  let width = TPR / sg_size;
  let seg = local_row * width;
#else
  row_partial[lid] = acc;
  let width = TPR;
  let seg = local_row * TPR;
#endif
  workgroupBarrier();
  // TPR and the subgroup size are powers of two, so `width` is too. The loop's trip count comes
  // from an override (uniform, as the barrier requires); steps with s >= width do nothing.
  for (var s = ROW_PARTIALS / 2u; s > 0u; s >>= 1u) {
    if (t < s && t + s < width) {
      row_partial[seg + t] += row_partial[seg + t + s];
    }
    workgroupBarrier();
  }
  let r = row_partial[seg];
  workgroupBarrier();
  return r;
}

// Row reduction shared by the GEMV kernels: a workgroup of WG invocations computes WG / TPR
// rows, TPR consecutive invocations per row. row_sum() returns the sum of `acc` over the row's
// invocations, valid in every invocation of the row. Call it in uniform control flow.
// With SUBGROUPS, the host guarantees TPR is a multiple of the subgroup size, so no subgroup
// straddles two rows.

var<workgroup> row_partial: array<f32, WG>;

fn row_sum(acc: f32, lid: u32, lane: u32, sg_size: u32) -> f32 {
  let t = lid % TPR;
  let local_row = lid / TPR;
#if SUBGROUPS
  let folded = subgroupAdd(acc);
  if (lane == 0u) {
    row_partial[lid / sg_size] = folded;
  }
  var width = TPR / sg_size;
  let seg = local_row * width;
#else
  row_partial[lid] = acc;
  var width = TPR;
  let seg = local_row * TPR;
#endif
  workgroupBarrier();
  while (width > 1u) {
    let half = (width + 1u) / 2u;
    if (t + half < width) {
      row_partial[seg + t] += row_partial[seg + t + half];
    }
    workgroupBarrier();
    width = half;
  }
  let r = row_partial[seg];
  workgroupBarrier();
  return r;
}

// Output stage shared by the GEMV kernels. Needs overrides WG, TPR, ACCUMULATE, GATED and the
// kernel's `y` binding and `params.n_rows`. One call per invocation, in uniform control flow, after row_sum().
//  - plain:      y[out_base + row0 + row] = (ACCUMULATE ? y[...] : 0) + total
//  - GATED:      rows come in pairs (gate j, up j) — the pack interleaves gate_up_proj — and
//                y[out_base + (row0 + row) / 2] = silu(gate) · up  (SiLU×mul fused, no extra pass).
var<workgroup> row_out: array<f32, WG>;

fn silu(v: f32) -> f32 {
  return v / (1.0 + exp(-v));
}

fn store_row(total: f32, lid: u32, row: u32, live: bool, row0: u32, out_base: u32) {
  let t = lid % TPR;
  let local_row = lid / TPR;
  if (!GATED) {
    if (t == 0u && live) {
      let out = out_base + row0 + row;
      y[out] = select(0.0, y[out], ACCUMULATE) + total;
    }
    return;
  }
  if (t == 0u) {
    row_out[local_row] = total;
  }
  workgroupBarrier();
  // Invocation p finishes pair p of the tile: rows 2p and 2p+1 (row0 and the tile start are even).
  let pair_row = (row - local_row) + 2u * lid;
  if (lid < (WG / TPR) / 2u && pair_row + 1u < params.n_rows) {
    let out = out_base + (row0 + pair_row) / 2u;
    y[out] = select(0.0, y[out], ACCUMULATE) + silu(row_out[2u * lid]) * row_out[2u * lid + 1u];
  }
}

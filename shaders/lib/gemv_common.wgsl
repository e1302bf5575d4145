// Shared by the GEMV kernels (needs overrides WG, TPR, ACCUMULATE, GATED, the flag SUBGROUP_BUILTINS
// (the subgroup builtins are declared; set whenever a reduction uses subgroups),
// the kernel's `y` binding and `params.n_rows`, `params.wg_per_row_x`).
//
// Tiling: a workgroup of WG invocations computes ROWS = WG / TPR consecutive rows, TPR
// invocations per row; the grid may be 2D (x · y) for many rows, and z is the token.

#include "invocation"
alias GemvInvocation = Invocation;

// Where one invocation works.
struct GemvTile {
  lid: u32,
  lane: u32,
  sg_size: u32,
  token: u32,
  tile_row0: u32, // first row of the workgroup's tile
  local_row: u32, // row within the tile
  t: u32,         // invocation within the row
  row: u32,       // row of the weight piece
  live: bool,     // row < n_rows
}

fn gemv_tile(inv: GemvInvocation) -> GemvTile {
#if SUBGROUP_BUILTINS
  let lane = inv.lane;
  let sg_size = inv.sg_size;
#else
  let lane = 0u;
  let sg_size = 1u;
#endif
  let tile_row0 = (inv.wid.y * params.wg_per_row_x + inv.wid.x) * (WG / TPR);
  let local_row = inv.lid / TPR;
  let row = tile_row0 + local_row;
  return GemvTile(inv.lid, lane, sg_size, inv.wid.z, tile_row0, local_row, inv.lid % TPR, row, row < params.n_rows);
}

// Output stage: one call per invocation, in uniform control flow, after row_sum().
//  - plain:      y[out_base + row0 + row] = (ACCUMULATE ? y[...] : 0) + total
//  - GATED:      rows come in pairs (gate j, up j) — the pack interleaves gate_up_proj — and
//                y[out_base + (row0 + row) / 2] = silu(gate) · up  (SiLU×mul fused, no extra pass).
// One slot per row of the tile (sized to it: workgroup memory bounds how many workgroups an SM
// holds at once).
var<workgroup> row_out: array<f32, WG / TPR>;

fn silu(v: f32) -> f32 {
  return v / (1.0 + exp(-v));
}

fn store_row(total: f32, me: GemvTile, row0: u32, out_base: u32) {
  let lid = me.lid;
  let t = me.t;
  let local_row = me.local_row;
  let row = me.row;
  let live = me.live;
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

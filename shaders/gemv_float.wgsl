// f32 / f16 GEMV for the reference packs (docs/FORMAT.md, schemes f32 and f16). F16 weights
// are pairs packed in u32 (no shader-f16 needed); activations are f32, zero-padded to Kp.
// Not tuned: these packs exist to check the quantized ones.
#if SUBGROUP_BUILTINS
enable subgroups;
#endif

override WG: u32 = 256u;
override TPR: u32 = 32u;
override F16: bool = false;
override ACCUMULATE: bool = false;
// Rows are (gate, up) pairs: write silu(gate)·up, one output per pair.
override GATED: bool = false;

struct Params {
  n_rows: u32,
  row_len: u32,  // f32: K values per row; f16: Kp / 2 words per row
  unused: u32,
  row0: u32,
  wg_per_row_x: u32,
  x_stride: u32,    // per token, in units of the x binding's element type
  y_stride: u32,    // per token, in f32
}

@group(0) @binding(0) var<storage, read> weight: array<u32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

#include "gemv_common"
#include "row_sum"

@compute @workgroup_size(WG)
fn main(inv: GemvInvocation) {
  let me = gemv_tile(inv);
  let xo = me.token * params.x_stride;
  var acc = 0.0;
  if (me.live) {
    let base = me.row * params.row_len;
    for (var j = me.t; j < params.row_len; j += TPR) {
      let w = weight[base + j];
      if (F16) {
        let v = unpack2x16float(w);
        acc += v.x * x[xo + 2u * j] + v.y * x[xo + 2u * j + 1u];
      } else {
        acc += bitcast<f32>(w) * x[xo + j];
      }
    }
  }
  store_row(row_sum(acc, me), me, params.row0, me.token * params.y_stride);
}

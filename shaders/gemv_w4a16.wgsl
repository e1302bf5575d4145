// W4A16 GEMV (decode; batched over tokens in grid z for prefill), the weight-only baseline (docs/FORMAT.md, scheme w4a16):
// asymmetric uint4, groups of 128 along K, per group pack2x16float(scale, bias):
//   y[n] = (ACCUMULATE ? y[n] : 0) + Σ_groups scale · Σ q·x + bias · Σ x
// Activations are f32 (no shader-f16 needed). TPR invocations per row stride along K in 32-weight
// chunks (one vec4<u32> of weights, eight vec4<f32> of activations). The tile's group parameters
// are unpacked into workgroup memory after the first weight loads are issued (SCALES_IN_SHARED),
// or unpacked per chunk from global memory by every invocation.
#if SUBGROUP_BUILTINS
enable subgroups;
#endif

override WG: u32 = 256u;
override TPR: u32 = 32u;
override SCALE_SLOTS: u32 = 8u;
override SCALES_IN_SHARED: bool = true;
override ACCUMULATE: bool = false;
// Rows are (gate, up) pairs: write silu(gate)·up, one output per pair.
override GATED: bool = false;

const CHUNKS_PER_GROUP: u32 = 4u; // 128 / 32

struct Params {
  n_rows: u32,
  chunks: u32,   // Kp / 32
  groups: u32,   // ceil(K / 128)
  row0: u32,
  wg_per_row_x: u32,
  x_stride: u32,    // per token, in units of the x binding's element type
  y_stride: u32,    // per token, in f32
}

@group(0) @binding(0) var<storage, read> qweight: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> scales: array<u32>;
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

var<workgroup> sparams: array<vec2<f32>, SCALE_SLOTS>;

#include "gemv_common"
#include "row_sum"
#include "nibbles"

fn group_params(local_row: u32, row: u32, g: u32) -> vec2<f32> {
  if (SCALES_IN_SHARED) {
    return sparams[local_row * params.groups + g];
  }
  return unpack2x16float(scales[row * params.groups + g]);
}

@compute @workgroup_size(WG)
fn main(inv: GemvInvocation) {
  let me = gemv_tile(inv);
  let base = me.row * params.chunks;

  var w = vec4<u32>(0u);
  if (me.live && me.t < params.chunks) {
    w = qweight[base + me.t];
  }
  if (SCALES_IN_SHARED) {
    for (var i = me.lid; i < (WG / TPR) * params.groups; i += WG) {
      let r = min(me.tile_row0 + i / params.groups, params.n_rows - 1u);
      sparams[i] = unpack2x16float(scales[r * params.groups + i % params.groups]);
    }
    workgroupBarrier();
  }

  var acc = 0.0;
  if (me.live) {
    for (var c = me.t; c < params.chunks; c += TPR) {
      if (c != me.t) {
        w = qweight[base + c];
      }
      let xb = me.token * params.x_stride + 8u * c;
      let s = dot_u4x8(w.x, x[xb], x[xb + 1u]) + dot_u4x8(w.y, x[xb + 2u], x[xb + 3u])
            + dot_u4x8(w.z, x[xb + 4u], x[xb + 5u]) + dot_u4x8(w.w, x[xb + 6u], x[xb + 7u]);
      let p = group_params(me.local_row, me.row, c / CHUNKS_PER_GROUP);
      acc += p.x * s.x + p.y * s.y;
    }
  }
  store_row(row_sum(acc, me), me, params.row0, me.token * params.y_stride);
}

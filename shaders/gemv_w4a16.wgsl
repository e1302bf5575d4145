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
// Chunks per invocation per step, their loads issued together (memory-level parallelism).
const UNROLL: u32 = 4u;

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

  // Rows past the piece's end read row 0 (in bounds) and are never stored.
  let wbase = select(0u, base, me.live);
  // The first UNROLL weight loads are issued before the group parameters are staged.
  var w: array<vec4<u32>, UNROLL>;
  for (var u = 0u; u < UNROLL; u++) {
    w[u] = qweight[wbase + min(me.t + u * TPR, params.chunks - 1u)];
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
    for (var c0 = me.t; c0 < params.chunks; c0 += UNROLL * TPR) {
      if (c0 != me.t) {
        for (var u = 0u; u < UNROLL; u++) {
          w[u] = qweight[wbase + min(c0 + u * TPR, params.chunks - 1u)];
        }
      }
      for (var u = 0u; u < UNROLL; u++) {
        let c = c0 + u * TPR;
        if (c < params.chunks) {
          let xb = me.token * params.x_stride + 8u * c;
          let s = dot_u4x8(w[u].x, x[xb], x[xb + 1u]) + dot_u4x8(w[u].y, x[xb + 2u], x[xb + 3u])
                + dot_u4x8(w[u].z, x[xb + 4u], x[xb + 5u]) + dot_u4x8(w[u].w, x[xb + 6u], x[xb + 7u]);
          let p = group_params(me.local_row, me.row, c / CHUNKS_PER_GROUP);
          acc += p.x * s.x + p.y * s.y;
        }
      }
    }
  }
  store_row(row_sum(acc, me), me, params.row0, me.token * params.y_stride);
}

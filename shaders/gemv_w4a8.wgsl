// W4A8 GEMV (decode; batched over tokens in grid z for prefill), FastGEMM style (docs/FORMAT.md, scheme w4a8):
//   y[t][n] = (ACCUMULATE ? y[t][n] : 0) + s_x[t] · (1/16) · Σ_groups scale[n][g] · Σ dot4I8Packed(w8, x8)
// int4 → int8 costs one shift and one mask per word: the pack stores nibbles pre-interleaved so
// that (w << 4) & 0xF0F0F0F0 and w & 0xF0F0F0F0 are four int8 each (16·q), lined up with the
// packed int8 activations. No integer subtraction, no separate dequantize kernel; the 1/16
// folds into the final float multiply.
//
// TPR threads share a row and stride along K in 32-weight chunks (one vec4<u32> of weights
// against two vec4<u32> of activations); ROWS = WG / TPR rows per workgroup.
// The tile's scales are loaded into workgroup memory after the first weight loads are issued
// and before the one barrier (SCALES_IN_SHARED = 1), or read per chunk from global memory by
// every thread (0), the switch the benchmark uses to measure the "asynchronous dequantization" idea.
#if SUBGROUPS
enable subgroups;
#endif

override WG: u32 = 256u;
override TPR: u32 = 32u;
// 32-weight chunks per scale group; 0 = one scale per output channel.
override GROUP_CHUNKS: u32 = 0u;
// Scales of the whole tile (ROWS · groups per row) held in workgroup memory.
override SCALE_SLOTS: u32 = 8u;
override SCALES_IN_SHARED: bool = true;
override ACCUMULATE: bool = false;
// Rows are (gate, up) pairs: write silu(gate)·up, one output per pair.
override GATED: bool = false;


struct Params {
  n_rows: u32,      // rows of this weight piece
  chunks: u32,      // 32-weight chunks per row (Kp / 32)
  groups: u32,      // scale groups per row
  row0: u32,        // first output index of this piece
  wg_per_row_x: u32,
  x_stride: u32,    // per token, in units of the x binding's element type
  y_stride: u32,    // per token, in f32// workgroups along x (the grid may be 2D for many rows)
}

@group(0) @binding(0) var<storage, read> qweight: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> scales: array<f32>;
@group(0) @binding(2) var<storage, read> xq: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> xscale: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;

var<workgroup> sscale: array<f32, SCALE_SLOTS>;

const NIB: u32 = 0xF0F0F0F0u;

#include "gemv_common"
#include "row_sum"

fn dot_chunk(w: vec4<u32>, a0: vec4<u32>, a1: vec4<u32>) -> i32 {
  return dot4I8Packed((w.x << 4u) & NIB, a0.x) + dot4I8Packed(w.x & NIB, a0.y)
       + dot4I8Packed((w.y << 4u) & NIB, a0.z) + dot4I8Packed(w.y & NIB, a0.w)
       + dot4I8Packed((w.z << 4u) & NIB, a1.x) + dot4I8Packed(w.z & NIB, a1.y)
       + dot4I8Packed((w.w << 4u) & NIB, a1.z) + dot4I8Packed(w.w & NIB, a1.w);
}

fn scale_of(local_row: u32, row: u32, group: u32) -> f32 {
  if (SCALES_IN_SHARED) {
    return sscale[local_row * params.groups + group];
  }
  return scales[row * params.groups + group];
}

@compute @workgroup_size(WG)
fn main(inv: GemvInvocation) {
  let me = gemv_tile(inv);
  let xo = me.token * params.x_stride;
  let base = me.row * params.chunks;

  // Issue the first weight load before touching the scales, so the scale traffic overlaps it.
  var w = vec4<u32>(0u);
  if (me.live && me.t < params.chunks) {
    w = qweight[base + me.t];
  }
  if (SCALES_IN_SHARED) {
    let slots = (WG / TPR) * params.groups;
    for (var i = me.lid; i < slots; i += WG) {
      let r = me.tile_row0 + i / params.groups;
      sscale[i] = select(0.0, scales[min(r, params.n_rows - 1u) * params.groups + i % params.groups], r < params.n_rows);
    }
    workgroupBarrier();
  }

  var iacc: i32 = 0;
  var facc: f32 = 0.0;
  if (me.live) {
    for (var c = me.t; c < params.chunks; c += TPR) {
      if (c != me.t) {
        w = qweight[base + c];
      }
      let d = dot_chunk(w, xq[xo + 2u * c], xq[xo + 2u * c + 1u]);
      if (GROUP_CHUNKS == 0u) {
        iacc += d;
      } else {
        // max(): the division is folded at pipeline creation even where the branch is dead.
        facc += f32(d) * scale_of(me.local_row, me.row, c / max(GROUP_CHUNKS, 1u));
      }
    }
  }
  let acc = select(facc, f32(iacc), GROUP_CHUNKS == 0u);

  let total = row_sum(acc, me);
  var value = total * xscale[me.token] * 0.0625;
  if (GROUP_CHUNKS == 0u && me.live) {
    value *= scale_of(me.local_row, me.row, 0u);
  }
  store_row(value, me, params.row0, me.token * params.y_stride);
}

// W4A16 GEMV (decode; batched over tokens in grid z for prefill), the weight-only scheme (docs/FORMAT.md, scheme w4a16):
// asymmetric uint4, groups of 128 along K, per group pack2x16float(scale, bias):
//   y[n] = (ACCUMULATE ? y[n] : 0) + Σ_groups scale · Σ q·x + bias · Σ x
// TPR invocations per row stride along K in 32-weight chunks (one vec4<u32> of weights). The
// tile's group parameters are unpacked into workgroup memory after the first weight loads are
// issued (SCALES_IN_SHARED), or unpacked per chunk from global memory by every invocation.
//
// Two kernels, one interface (f32 activations):
//  - X16 (default): the workgroup stages its token's row as 16-bit fixed point split into two
//    int8 halves (stage_x16.wgsl; RMSNorm fused with NORM) while its first weight loads fly, and
//    the math is dot4I8Packed in i32, like W4A8: per chunk Σ q·v exactly, then per row
//    y = s_x · (Σ_chunks scale · Σ q·v + Σ_groups bias · Σ v). A word's nibbles widen to bytes as
//    w & 0x0F0F0F0F (weights 0, 2, 4, 6) and (w >> 4) & 0x0F0F0F0F (1, 3, 5, 7); the row is staged
//    in that order, so the inner loop is two masks, a shift and eight dot4I8Packed per 8 weights,
//    against activation words read from workgroup memory as vec4<u32>. UNROLL chunks per step,
//    all their loads issued first.
//    With the flag X16_BLOCKS (prefill): the same math on activations the standalone quantizer
//    (rmsnorm.wgsl, X16_OUT) wrote for the whole chunk of tokens, read from global memory, and
//    TOKENS consecutive tokens per workgroup (grid z = token block): each weight chunk is loaded
//    and widened once and applied to every token of the block, so a prompt reads the weights
//    1/TOKENS as often as one token per workgroup (which also re-stages the row in every workgroup).
//  - otherwise, the f32 baseline: nibbles unpacked to f32 against f32 activations read from
//    global memory (4 bytes per weight; ALU/L1-bound), kept for the benchmark's comparison and
//    for rows too long for workgroup memory.
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

// X16: normalize the row (RMSNorm fused) before quantizing it.
override NORM: bool = false;

const CHUNKS_PER_GROUP: u32 = 4u; // 128 / 32

struct Params {
  n_rows: u32,
  chunks: u32,   // Kp / 32
  groups: u32,   // ceil(K / 128)
  row0: u32,
  wg_per_row_x: u32,
  x_stride: u32,    // per token, in units of the x binding's element type
  y_stride: u32,    // per token, in f32
  k: u32,           // X16: features per token (the norm's mean is over these)
  eps: f32,         // X16 with NORM: RMSNorm epsilon
}

@group(0) @binding(0) var<storage, read> qweight: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> scales: array<u32>;
#if X16
#if X16_BLOCKS
// Per token: x_stride vec4 (hi, lo per chunk of 16), x_stride / 8 sums (one per 64 features), a scale.
@group(0) @binding(2) var<storage, read> xq: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> xsum: array<i32>;
@group(0) @binding(4) var<storage, read> xscale: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;
#else
@group(0) @binding(2) var<storage, read> xf: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> norm_w: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;
#endif
#else
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;
#endif

var<workgroup> sparams: array<vec2<f32>, SCALE_SLOTS>;

#include "gemv_common"
#include "row_sum"

fn group_params(local_row: u32, row: u32, g: u32) -> vec2<f32> {
  if (SCALES_IN_SHARED) {
    return sparams[local_row * params.groups + g];
  }
  return unpack2x16float(scales[row * params.groups + g]);
}

fn load_group_params(me: GemvTile) {
  if (SCALES_IN_SHARED) {
    for (var i = me.lid; i < (WG / TPR) * params.groups; i += WG) {
      let r = min(me.tile_row0 + i / params.groups, params.n_rows - 1u);
      sparams[i] = unpack2x16float(scales[r * params.groups + i % params.groups]);
    }
  }
}

#if X16
// Chunks (groups) per step, all their loads issued first: UNROLL ≤ UNROLL_MAX, set by the host
// (more loads in flight per invocation on GPUs; few on CPU adapters, where unrolled dot4I8Packed
// costs compile time and buys nothing).
const UNROLL_MAX: u32 = 16u;
override UNROLL: u32 = 4u;
const NIB: u32 = 0x0F0F0F0Fu;
// Outside the #if: a snippet is spliced where it is first included, before #if is resolved.
#include "x16_pack"

// One step's weight chunks (UNROLL of them, TPR apart from chunk c0), all loads issued at once.
// Rows past the piece's end read row 0 (wbase 0, in bounds) and are never stored.
var<private> w: array<vec4<u32>, UNROLL_MAX>;

fn load_chunks(wbase: u32, c0: u32) {
  for (var u = 0u; u < UNROLL; u++) {
    w[u] = qweight[wbase + min(c0 + u * TPR, params.chunks - 1u)];
  }
}

// Chunk u's 32 weights widened to bytes in x16_pack's w4a16 lane order: the words against the
// chunk's first (0) and second (1) 16 columns.
fn chunk_lanes(u: u32) -> array<vec4<u32>, 2> {
  let e = w[u] & vec4<u32>(NIB);
  let o = (w[u] >> vec4<u32>(4u)) & vec4<u32>(NIB);
  return array<vec4<u32>, 2>(vec4<u32>(e.x, o.x, e.y, o.y), vec4<u32>(e.z, o.z, e.w, o.w));
}

#if X16_BLOCKS

// Tokens per workgroup (≤ TT_MAX).
const TT_MAX: u32 = 8u;
override TOKENS: u32 = 8u;

@compute @workgroup_size(WG)
fn main(inv: GemvInvocation) {
  let me = gemv_tile(inv);
  let wbase = select(0u, me.row * params.chunks, me.live);
  load_chunks(wbase, me.t);
  load_group_params(me);
  if (SCALES_IN_SHARED) {
    workgroupBarrier();
  }

  let tok0 = me.token * TOKENS;
  let sum_stride = params.x_stride / 8u;
  var acc: array<f32, TT_MAX>;
  if (me.live) {
    for (var c0 = me.t; c0 < params.chunks; c0 += UNROLL * TPR) {
      if (c0 != me.t) {
        load_chunks(wbase, c0);
      }
      for (var u = 0u; u < UNROLL; u++) {
        let c = c0 + u * TPR;
        if (c < params.chunks) {
          let q = chunk_lanes(u);
          let scale = group_params(me.local_row, me.row, c / CHUNKS_PER_GROUP).x;
          for (var tt = 0u; tt < TT_MAX; tt++) {
            if (tt < TOKENS) {
              // Chunk c is the token's chunks of 16 2c and 2c + 1: vec4 4c … 4c + 3.
              let xo = (tok0 + tt) * params.x_stride + 4u * c;
              let d = dot_x16_words(q[0], xq[xo], xq[xo + 1u]) + dot_x16_words(q[1], xq[xo + 2u], xq[xo + 3u]);
              acc[tt] += scale * f32(d);
            }
          }
        }
      }
    }
    // Bias terms, bias · Σ v per group of 128 (two sums of 64; the quantizer's padding is zero).
    for (var g = me.t; g < params.groups; g += TPR) {
      let bias = group_params(me.local_row, me.row, g).y;
      for (var tt = 0u; tt < TT_MAX; tt++) {
        if (tt < TOKENS) {
          let so = (tok0 + tt) * sum_stride + 2u * g;
          acc[tt] += bias * f32(xsum[so] + xsum[so + 1u]);
        }
      }
    }
  }
  for (var tt = 0u; tt < TOKENS; tt++) {
    let total = row_sum(acc[min(tt, TT_MAX - 1u)], me);
    store_row(total * xscale[tok0 + tt], me, params.row0, (tok0 + tt) * params.y_stride);
  }
}
#else
#include "wg_reduce"
#include "stage_row"
#include "stage_x16"

@compute @workgroup_size(WG)
fn main(inv: GemvInvocation) {
  let me = gemv_tile(inv);
  let wbase = select(0u, me.row * params.chunks, me.live);
  load_chunks(wbase, me.t);
  // Group parameters and the staged row overlap those loads; stage_x16's last barrier covers both.
  load_group_params(me);
  let x_scale = stage_x16(me);

  var acc = 0.0;
  if (me.live) {
    for (var c0 = me.t; c0 < params.chunks; c0 += UNROLL * TPR) {
      if (c0 != me.t) {
        load_chunks(wbase, c0);
      }
      for (var u = 0u; u < UNROLL; u++) {
        let c = c0 + u * TPR;
        if (c < params.chunks) {
          let q = chunk_lanes(u);
          // Σ q·v over the chunk's 32 columns: |d| ≤ 15 · 32639 · 32 < 2^24, exact in f32.
          let d = dot_x16(q[0], 2u * c) + dot_x16(q[1], 2u * c + 1u);
          acc += group_params(me.local_row, me.row, c / CHUNKS_PER_GROUP).x * f32(d);
        }
      }
    }
    // Bias terms, bias · Σ v per group (8 chunks of 16; the staged row is zero past K).
    for (var g = me.t; g < params.groups; g += TPR) {
      var sv = 0;
      for (var i = 0u; i < 8u; i++) {
        if (8u * g + i < X16_CHUNKS) {
          sv += ssum[8u * g + i];
        }
      }
      acc += group_params(me.local_row, me.row, g).y * f32(sv);
    }
  }
  store_row(row_sum(acc, me) * x_scale, me, params.row0, me.token * params.y_stride);
}
#endif
#else
#include "nibbles"

@compute @workgroup_size(WG)
fn main(inv: GemvInvocation) {
  let me = gemv_tile(inv);
  let base = me.row * params.chunks;

  var w = vec4<u32>(0u);
  if (me.live && me.t < params.chunks) {
    w = qweight[base + me.t];
  }
  load_group_params(me);
  if (SCALES_IN_SHARED) {
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
#endif

// W4A8 GEMV (decode; batched over tokens in grid z for prefill), FastGEMM style (docs/FORMAT.md, scheme w4a8):
//   y[t][n] = (ACCUMULATE ? y[t][n] : 0) + s_x[t] · (1/16) · Σ_groups scale[n][g] · Σ dot4I8Packed(w8, x8)
// int4 → int8 costs one shift and one mask per word: the pack stores nibbles pre-interleaved so
// that (w << 4) & 0xF0F0F0F0 and w & 0xF0F0F0F0 are four int8 each (16·q), lined up with the
// packed int8 activations. No integer subtraction, no separate dequantize kernel; the 1/16
// folds into the final float multiply.
//
// TPR threads share a row and stride along K in 32-weight chunks (one vec4<u32> of weights
// against two vec4<u32> of activations), UNROLL chunks per step with all their loads issued
// first; ROWS = WG / TPR rows per workgroup.
// The tile's scales are loaded into workgroup memory after the first weight loads are issued
// and before the one barrier (SCALES_IN_SHARED = 1), or read per chunk from global memory by
// every thread (0), the switch the benchmark uses to measure the "asynchronous dequantization" idea.
//
// Activations: int8 rows + per-token scale made by the rmsnorm kernel, or (flag X_F32) the f32
// rows themselves: every workgroup then normalizes (NORM) and quantizes its token's row into
// workgroup memory first, with the rmsnorm kernel's math, while its first weight loads are in
// flight. That removes a dispatch and a barrier per matmul at the cost of each workgroup
// re-reading the f32 row (from L2), so the host uses it with few, tall workgroups.
#if SUBGROUP_BUILTINS
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
// X_F32: normalize with the norm weight before quantizing (RMSNorm fused), and the staged row's
// length in vec4<u32> (Kp / 16).
override NORM: bool = false;
override SX_VEC4: u32 = 1u;


struct Params {
  n_rows: u32,      // rows of this weight piece
  chunks: u32,      // 32-weight chunks per row (Kp / 32)
  groups: u32,      // scale groups per row
  row0: u32,        // first output index of this piece
  wg_per_row_x: u32,
  x_stride: u32,    // per token, in units of the x binding's element type
  y_stride: u32,    // per token, in f32
  k: u32,           // X_F32: features per token (the norm's mean is over these)
  eps: f32,         // X_F32 with NORM: RMSNorm epsilon
}

@group(0) @binding(0) var<storage, read> qweight: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> scales: array<f32>;
#if X_F32
@group(0) @binding(2) var<storage, read> xf: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> norm_w: array<vec4<f32>>;
#else
@group(0) @binding(2) var<storage, read> xq: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> xscale: array<f32>;
#endif
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;

var<workgroup> sscale: array<f32, SCALE_SLOTS>;

#include "sint4"
#include "gemv_common"
#include "row_sum"

#if X_F32
#include "wg_reduce"

var<workgroup> sx: array<vec4<u32>, SX_VEC4>;

#include "stage_row"

// The token's activations → int8 in `sx` (as rmsnorm.wgsl computes them); returns their scale.
fn stage_x(me: GemvTile) -> f32 {
  let s = stage_row(me) / 127.0;
  // An all-zero token quantizes to zeros with scale 0 (no division by zero).
  let r = select(0.0, 1.0 / s, s > 0.0);
  for (var j = 0u; j < XCH_MAX; j++) {
    let ch = me.lid + j * WG;
    if (j < X_CHUNKS && ch < SX_VEC4) {
      var words = vec4<u32>(0u);
      for (var e = 0u; e < 4u; e++) {
        let q = vec4<i32>(clamp(round(xrow[4u * j + e] * r), vec4<f32>(-127.0), vec4<f32>(127.0)));
        words[e] = pack4xI8(q);
      }
      sx[ch] = words;
    }
  }
  workgroupBarrier();
  return s;
}

fn x_chunk(xo: u32, i: u32) -> vec4<u32> {
  return sx[i];
}
#else
fn x_chunk(xo: u32, i: u32) -> vec4<u32> {
  return xq[xo + i];
}
#endif

// Chunks (groups) per step, all their loads issued first: UNROLL ≤ UNROLL_MAX, set by the host
// (more loads in flight per invocation on GPUs; few on CPU adapters, where unrolled dot4I8Packed
// costs compile time and buys nothing).
const UNROLL_MAX: u32 = 16u;
override UNROLL: u32 = 4u;
// Tokens per workgroup: TOKENS (override, ≤ TT_MAX; 1 with X_F32) — see main(). Single-token
// pipelines (flag TOKEN_BLOCKS off) get TT_MAX = 1: no token loop to unroll, which keeps their
// compile time (and lavapipe / SwiftShader test time) low.
#if TOKEN_BLOCKS
const TT_MAX: u32 = 8u;
#else
const TT_MAX: u32 = 1u;
#endif
override TOKENS: u32 = 1u;

fn dot_chunk(w: vec4<u32>, a0: vec4<u32>, a1: vec4<u32>) -> i32 {
  return dot4I8Packed(sint4_lo(w.x), a0.x) + dot4I8Packed(sint4_hi(w.x), a0.y)
       + dot4I8Packed(sint4_lo(w.y), a0.z) + dot4I8Packed(sint4_hi(w.y), a0.w)
       + dot4I8Packed(sint4_lo(w.z), a1.x) + dot4I8Packed(sint4_hi(w.z), a1.y)
       + dot4I8Packed(sint4_lo(w.w), a1.z) + dot4I8Packed(sint4_hi(w.w), a1.w);
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
  // Rows past the piece's end read row 0 (in bounds) and are never stored.
  let wbase = select(0u, base, me.live);

  // Issue the first weight loads before the scales and the activation staging, so those
  // overlap the loads in flight.
  var w: array<vec4<u32>, UNROLL_MAX>;
  for (var u = 0u; u < UNROLL; u++) {
    w[u] = qweight[wbase + min(me.t + u * TPR, params.chunks - 1u)];
  }
  if (SCALES_IN_SHARED) {
    let slots = (WG / TPR) * params.groups;
    for (var i = me.lid; i < slots; i += WG) {
      let r = me.tile_row0 + i / params.groups;
      sscale[i] = select(0.0, scales[min(r, params.n_rows - 1u) * params.groups + i % params.groups], r < params.n_rows);
    }
    workgroupBarrier();
  }
#if X_F32
  let x_scale = stage_x(me);
#endif

  // TOKENS > 1 (prefill, int8 input): each weight chunk is loaded once and applied to TOKENS
  // consecutive tokens (z = token block), so a chunk of prompt reads the weights 1/TOKENS as often.
  let tok0 = me.token * TOKENS;
  var iacc: array<i32, TT_MAX>;
  var facc: array<f32, TT_MAX>;
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
          var gscale = 1.0;
          if (GROUP_CHUNKS != 0u) {
            // max(): the division is folded at pipeline creation even where the branch is dead.
            gscale = scale_of(me.local_row, me.row, c / max(GROUP_CHUNKS, 1u));
          }
          for (var tt = 0u; tt < TT_MAX; tt++) {
            if (tt < TOKENS) {
              let xo = (tok0 + tt) * params.x_stride;
              // The shift/mask widening is recomputed per token: hoisting it (8 more live words
              // per chunk) measured slower on the H100 (prefill 2359 → 1661 tok/s, 7B).
              let d = dot_chunk(w[u], x_chunk(xo, 2u * c), x_chunk(xo, 2u * c + 1u));
              if (GROUP_CHUNKS == 0u) {
                iacc[tt] += d;
              } else {
                facc[tt] += f32(d) * gscale;
              }
            }
          }
        }
      }
    }
  }
  for (var tt = 0u; tt < TOKENS; tt++) {
    let acc = select(facc[min(tt, TT_MAX - 1u)], f32(iacc[min(tt, TT_MAX - 1u)]), GROUP_CHUNKS == 0u);
    let total = row_sum(acc, me);
#if X_F32
    var value = total * x_scale * 0.0625;
#else
    var value = total * xscale[tok0 + tt] * 0.0625;
#endif
    if (GROUP_CHUNKS == 0u && me.live) {
      value *= scale_of(me.local_row, me.row, 0u);
    }
    store_row(value, me, params.row0, (tok0 + tt) * params.y_stride);
  }
}

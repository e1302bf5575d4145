// 2/4/16-bit GEMV (decode; batched over tokens in grid z for prefill), docs/FORMAT.md scheme w2-4-16: groups of 64 weights along K,
// each 2-bit (value s·(q − 1.5)) or 4-bit (s·(q − 7.5)); the same number of 4-bit groups in
// every row, so group g starts at word 4·(g + rank4(g)); two-level scales s = rowScale · code;
// sparse f16 residuals (CSR) added at the end.
//
// Asynchronous dequantization: each invocation issues the load of its first group's weights,
// then the workgroup decodes every group scale and word offset of its tile into workgroup
// memory (independent of the weights), one barrier, then the math. With SCALES_IN_SHARED = 0
// every invocation decodes its own groups' scale and offset inline instead.
#if SUBGROUP_BUILTINS
enable subgroups;
#endif

override WG: u32 = 256u;
override TPR: u32 = 32u;
// Tile slots: rows per workgroup × groups per row.
override SCALE_SLOTS: u32 = 8u;
override SCALES_IN_SHARED: bool = true;
override ACCUMULATE: bool = false;
// Rows are (gate, up) pairs: write silu(gate)·up, one output per pair.
override GATED: bool = false;

struct Params {
  n_rows: u32,
  groups: u32,       // nG = Kp / 64
  row_words: u32,    // u32 words of weights per row
  row0: u32,
  wg_per_row_x: u32,
  x_stride: u32,    // per token, in units of the x binding's element type
  y_stride: u32,    // per token, in f32
  mask_words: u32,   // ceil(nG / 32)
  code_words: u32,   // ceil(nG / 4)
}

@group(0) @binding(0) var<storage, read> mask: array<u32>;
@group(0) @binding(1) var<storage, read> qweight: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> row_scale: array<f32>;
@group(0) @binding(3) var<storage, read> scale_codes: array<u32>;
@group(0) @binding(4) var<storage, read> outlier_row_ptr: array<u32>;
@group(0) @binding(5) var<storage, read> outliers: array<u32>;
@group(0) @binding(6) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> y: array<f32>;
@group(0) @binding(8) var<uniform> params: Params;

// Per tile slot: group scale, and word offset | (is 4-bit) << 31.
var<workgroup> sscale: array<f32, SCALE_SLOTS>;
var<workgroup> sinfo: array<u32, SCALE_SLOTS>;

#include "gemv_common"
#include "row_sum"
#include "nibbles"

const IS4: u32 = 0x80000000u;

// Word offset of group g in its row, with the 4-bit flag in the top bit.
fn group_info(row: u32, g: u32) -> u32 {
  let mbase = row * params.mask_words;
  var rank = 0u;
  for (var m = 0u; m < g / 32u; m++) {
    rank += countOneBits(mask[mbase + m]);
  }
  let word = mask[mbase + g / 32u];
  let bit = g % 32u;
  rank += countOneBits(word & ((1u << bit) - 1u));
  return (4u * (g + rank)) | select(0u, IS4, ((word >> bit) & 1u) == 1u);
}

fn group_scale(row: u32, g: u32) -> f32 {
  let code = (scale_codes[row * params.code_words + g / 4u] >> (8u * (g % 4u))) & 0xFFu;
  return row_scale[row] * f32(code);
}

// Σ q·x and Σ x over one word of sixteen 2-bit weights against x[0..15] = X0..X3.
fn dot_u2x16(w: u32, X0: vec4<f32>, X1: vec4<f32>, X2: vec4<f32>, X3: vec4<f32>) -> vec2<f32> {
  // Byte j of (w >> 2s) & 0x03030303 is weight 4j + s.
  let cols = transpose(mat4x4<f32>(X0, X1, X2, X3)); // cols[s] = (x[s], x[4+s], x[8+s], x[12+s])
  let qx = dot(vec4<f32>(unpack4xU8(w & 0x03030303u)), cols[0])
         + dot(vec4<f32>(unpack4xU8((w >> 2u) & 0x03030303u)), cols[1])
         + dot(vec4<f32>(unpack4xU8((w >> 4u) & 0x03030303u)), cols[2])
         + dot(vec4<f32>(unpack4xU8((w >> 6u) & 0x03030303u)), cols[3]);
  return vec2<f32>(qx, dot(X0 + X1 + X2 + X3, vec4<f32>(1.0)));
}

fn group_dot(row: u32, g: u32, info: u32, first: vec4<u32>, xo: u32) -> vec2<f32> {
  let wbase = (row * params.row_words + (info & ~IS4)) / 4u; // vec4 index
  let xb = xo + 16u * g;
  var s = vec2<f32>(0.0);
  if ((info & IS4) != 0u) {
    let w1 = qweight[wbase + 1u];
    s = dot_u4x8(first.x, x[xb], x[xb + 1u]) + dot_u4x8(first.y, x[xb + 2u], x[xb + 3u])
      + dot_u4x8(first.z, x[xb + 4u], x[xb + 5u]) + dot_u4x8(first.w, x[xb + 6u], x[xb + 7u])
      + dot_u4x8(w1.x, x[xb + 8u], x[xb + 9u]) + dot_u4x8(w1.y, x[xb + 10u], x[xb + 11u])
      + dot_u4x8(w1.z, x[xb + 12u], x[xb + 13u]) + dot_u4x8(w1.w, x[xb + 14u], x[xb + 15u]);
    return vec2<f32>(s.x - 7.5 * s.y, 0.0);
  }
  s = dot_u2x16(first.x, x[xb], x[xb + 1u], x[xb + 2u], x[xb + 3u])
    + dot_u2x16(first.y, x[xb + 4u], x[xb + 5u], x[xb + 6u], x[xb + 7u])
    + dot_u2x16(first.z, x[xb + 8u], x[xb + 9u], x[xb + 10u], x[xb + 11u])
    + dot_u2x16(first.w, x[xb + 12u], x[xb + 13u], x[xb + 14u], x[xb + 15u]);
  return vec2<f32>(s.x - 1.5 * s.y, 0.0);
}

@compute @workgroup_size(WG)
fn main(inv: GemvInvocation) {
  let me = gemv_tile(inv);
  let xo = me.token * params.x_stride;
  let safe_row = min(me.row, params.n_rows - 1u);

  // First weight load in flight before the scale work.
  var first_info = 0u;
  var w = vec4<u32>(0u);
  if (me.live && me.t < params.groups) {
    first_info = group_info(me.row, me.t);
    w = qweight[(me.row * params.row_words + (first_info & ~IS4)) / 4u];
  }
  if (SCALES_IN_SHARED) {
    for (var i = me.lid; i < (WG / TPR) * params.groups; i += WG) {
      let r = min(me.tile_row0 + i / params.groups, params.n_rows - 1u);
      let g = i % params.groups;
      sscale[i] = group_scale(r, g);
      sinfo[i] = group_info(r, g);
    }
    workgroupBarrier();
  }

  var acc = 0.0;
  if (me.live) {
    for (var g = me.t; g < params.groups; g += TPR) {
      var info = first_info;
      var scale = 0.0;
      if (SCALES_IN_SHARED) {
        info = sinfo[me.local_row * params.groups + g];
        scale = sscale[me.local_row * params.groups + g];
      } else {
        if (g != me.t) {
          info = group_info(me.row, g);
        }
        scale = group_scale(me.row, g);
      }
      if (g != me.t) {
        w = qweight[(me.row * params.row_words + (info & ~IS4)) / 4u];
      }
      acc += scale * group_dot(me.row, g, info, w, xo).x;
    }
    // Sparse f16 residuals of this row.
    for (var i = outlier_row_ptr[safe_row] + me.t; i < outlier_row_ptr[safe_row + 1u]; i += TPR) {
      let e = outliers[i];
      let col = e & 0xFFFFu;
      acc += unpack2x16float(e).y * x[xo + col / 4u][col % 4u];
    }
  }
  store_row(row_sum(acc, me), me, params.row0, me.token * params.y_stride);
}

// RMSNorm, optionally fused with per-token int8 activation quantization (the input of a W4A8
// matmul). One workgroup per token:
//   v = NORMALIZE ? x · rsqrt(mean(x²) + eps) · weight : x
//   INT8_OUT: s = max|v| / 127, q = clamp(round(v / s), -127, 127) packed 4 per u32 (zero-padded
//             to the row stride), scale[token] = s;  otherwise out[token][k] = v.
// Rows of x and of the output are `stride` elements apart (activations are padded, see ACT_ALIGN).
//   X16_OUT (flag, with INT8_OUT): the W4A16 / 2/4/16 prefill token blocks' input instead of int8:
//             s = max|v| / 32639, v16 = round(v / s) split into int8 halves in x16_pack's lane
//             order (X16_TRANSPOSE for 2/4/16), per chunk of 16 features 4 hi then 4 lo words
//             (8 words, stride / 2 words per token), out_sum[token][g] = Σ v16 over features
//             64g … 64g + 63 (stride / 64 per token), scale[token] = s. Exactly what those kernels
//             stage themselves when they run one token per workgroup (stage_x16.wgsl).
// With NORMALIZE = false and INT8_OUT = true this is the standalone activation quantizer.

#if SG_REDUCE
enable subgroups;
#endif

// A power of two; as large as the device allows (up to 1024): one token's row is short.
override WG: u32 = 256u;
override NORMALIZE: bool = true;
override INT8_OUT: bool = false;
// Words (4 features) of the row per invocation when the row is held in registers (ROW_REGS: the
// host sets it where the row fits, f32 and int8 outputs): the row is read from memory once, not
// once per pass (sum of squares, max, output), and each invocation writes whole packed words.
override ROW_REGS: bool = false;
override VPI: u32 = 1u;
const VPI_MAX: u32 = 4u;

struct Params {
  k: u32,       // features per token
  stride: u32,  // elements per token row of x, of the f32 output, and of the int8 output (multiple of 4)
  eps: f32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> weight: array<f32>;
@group(0) @binding(2) var<storage, read_write> out_f32: array<f32>;
@group(0) @binding(3) var<storage, read_write> out_q: array<u32>;
@group(0) @binding(4) var<storage, read_write> out_scale: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;
#if X16_OUT
@group(0) @binding(6) var<storage, read_write> out_sum: array<i32>;

#include "x16_pack"
#endif

#include "wg_reduce"

fn value(base: u32, i: u32, inv: f32) -> f32 {
  if (NORMALIZE) {
    return x[base + i] * inv * weight[i];
  }
  return x[base + i];
}

@compute @workgroup_size(WG)
fn main(
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
#if SG_REDUCE
  @builtin(subgroup_invocation_id) lane: u32,
  @builtin(subgroup_size) sg_size: u32,
#endif
) {
#if !SG_REDUCE
  let lane = 0u;
  let sg_size = 1u;
#endif
  let token = wid.x;
  let base = token * params.stride;
#if !X16_OUT
  if (ROW_REGS) {
    row_in_registers(lid, lane, sg_size, token);
    return;
  }
#endif
  var inv = 1.0;
  if (NORMALIZE) {
    var ss = 0.0;
    for (var i = lid; i < params.k; i += WG) {
      let v = x[base + i];
      ss += v * v;
    }
    inv = inverseSqrt(wg_reduce(ss, lid, lane, sg_size, false) / f32(params.k) + params.eps);
  }
  if (!INT8_OUT) {
    for (var i = lid; i < params.k; i += WG) {
      out_f32[base + i] = value(base, i, inv);
    }
    return;
  }
  var m = 0.0;
  for (var i = lid; i < params.k; i += WG) {
    m = max(m, abs(value(base, i, inv)));
  }
  let m_all = wg_reduce(m, lid, lane, sg_size, true);
#if X16_OUT
  // One invocation per 64 features (4 chunks of 16, one out_sum entry); the padding is zero.
  let s16 = m_all / 32639.0;
  let r16 = select(0.0, 1.0 / s16, s16 > 0.0);
  let groups = params.stride / 64u;
  for (var g = lid; g < groups; g += WG) {
    var gsum = 0;
    for (var b = 0u; b < 4u; b++) {
      var v: array<vec4<i32>, 4>;
      for (var e = 0u; e < 4u; e++) {
        var f = vec4<f32>(0.0);
        for (var c = 0u; c < 4u; c++) {
          let i = 64u * g + 16u * b + 4u * e + c;
          if (i < params.k) {
            f[c] = value(base, i, inv);
          }
        }
        v[e] = x16_levels(f, r16);
      }
      let p = x16_pack(v);
      let o = token * (params.stride / 2u) + 8u * (4u * g + b);
      for (var c = 0u; c < 4u; c++) {
        out_q[o + c] = p.hi[c];
        out_q[o + 4u + c] = p.lo[c];
      }
      gsum += p.sum;
    }
    out_sum[token * groups + g] = gsum;
  }
  if (lid == 0u) {
    out_scale[token] = s16;
  }
#else
  let s = m_all / 127.0;
  // An all-zero token quantizes to zeros with scale 0 (no division by zero).
  let r = select(0.0, 1.0 / s, s > 0.0);
  let words = params.stride / 4u;
  for (var wi = lid; wi < words; wi += WG) {
    var packed = 0u;
    for (var b = 0u; b < 4u; b++) {
      let i = 4u * wi + b;
      var q = 0;
      if (i < params.k) {
        q = i32(clamp(round(value(base, i, inv) * r), -127.0, 127.0));
      }
      packed |= (u32(q) & 0xFFu) << (8u * b);
    }
    out_q[token * words + wi] = packed;
  }
  if (lid == 0u) {
    out_scale[token] = s;
  }
#endif
}

#if !X16_OUT
// The same outputs as main's loops, with the row in registers: invocation lid holds words
// lid + WG·e (features 4w … 4w+3; features past k are 0).
fn row_in_registers(lid: u32, lane: u32, sg_size: u32, token: u32) {
  let base = token * params.stride;
  let words = params.stride / 4u;
  var v: array<vec4<f32>, VPI_MAX>;
  var ss = 0.0;
  for (var e = 0u; e < VPI_MAX; e++) {
    var f = vec4<f32>(0.0);
    let w = lid + WG * e;
    if (e < VPI && w < words) {
      for (var c = 0u; c < 4u; c++) {
        if (4u * w + c < params.k) {
          f[c] = x[base + 4u * w + c];
        }
      }
    }
    v[e] = f;
    ss += dot(f, f);
  }
  if (NORMALIZE) {
    let inv = inverseSqrt(wg_reduce(ss, lid, lane, sg_size, false) / f32(params.k) + params.eps);
    for (var e = 0u; e < VPI_MAX; e++) {
      let w = lid + WG * e;
      if (e < VPI && w < words) {
        var g = vec4<f32>(0.0);
        for (var c = 0u; c < 4u; c++) {
          if (4u * w + c < params.k) {
            g[c] = weight[4u * w + c];
          }
        }
        v[e] = (v[e] * inv) * g;   // (x · inv) · w, as the loop path and decode's stage_row
      }
    }
  }
  if (!INT8_OUT) {
    for (var e = 0u; e < VPI_MAX; e++) {
      let w = lid + WG * e;
      if (e < VPI && w < words) {
        for (var c = 0u; c < 4u; c++) {
          if (4u * w + c < params.k) {
            out_f32[base + 4u * w + c] = v[e][c];
          }
        }
      }
    }
    return;
  }
  var m = 0.0;
  for (var e = 0u; e < VPI_MAX; e++) {
    let a = abs(v[e]);
    m = max(m, max(max(a.x, a.y), max(a.z, a.w)));
  }
  let s = wg_reduce(m, lid, lane, sg_size, true) / 127.0;
  // An all-zero token quantizes to zeros with scale 0 (no division by zero).
  let r = select(0.0, 1.0 / s, s > 0.0);
  for (var e = 0u; e < VPI_MAX; e++) {
    let w = lid + WG * e;
    if (e < VPI && w < words) {
      out_q[token * words + w] = pack4xI8(vec4<i32>(clamp(round(v[e] * r), vec4<f32>(-127.0), vec4<f32>(127.0))));
    }
  }
  if (lid == 0u) {
    out_scale[token] = s;
  }
}
#endif

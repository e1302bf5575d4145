// The workgroup's own 16-bit staging of its token's row (after stage_row), shared by the W4A16 and
// 2/4/16 kernels: the packing and the lane orders are x16_pack's. Per chunk of 16 columns ch the
// halves go to workgroup memory (sx16, see x16_slot) and ssum[ch] = Σ v over the chunk (the
// kernels' offset terms: w4a16's bias, 2/4/16's −7.5 / −1.5).
// Needs overrides X16_CHUNKS (chunks of 16 staged, Kp / 16; ≤ XCH_MAX · WG) and X16_VEC4 (2 · X16_CHUNKS; X16_CHUNKS with X8).
//
// Where the halves lie (x16_slot): w4a16 at sx16[2·ch] (hi), sx16[2·ch + 1] (lo). 2/4/16
// (X16_TRANSPOSE) swizzles them within each 64-column group g (8 vec4 = 128 bytes = one row of
// the 32 banks): chunk b = ch % 4, half h at 8·g + ((2·b + h) ^ (g % 8)). Its invocations read
// different groups at the same instruction (each row's own schedule), so in the plain layout
// every lane of a quarter-warp (the 8 lanes one 128-bit access phase serves) hit the same four
// banks, an 8-way conflict on every activation read; with the swizzle lanes whose groups differ
// mod 8 hit different banks (at most ~2-way for the schedule's near-consecutive groups). The
// staging writes stay conflict-free (consecutive groups alternate the slots' parity).
#include "x16_pack"

override X16_CHUNKS: u32 = 1u;
override X16_VEC4: u32 = 2u;
// 8-bit levels instead (2/4/16 decode option, GemvOptions.stagedActivationBits): v = round(x / s)
// with s = max|x| / 127, as W4A8 quantizes its rows, so every hi half is 0: only the lo halves
// are staged and multiplied — one dot4I8Packed per 4 weights instead of two, half the
// workgroup-memory reads. They are staged compactly (X8 needs X16_TRANSPOSE; the host sizes
// X16_VEC4 = X16_CHUNKS): group g's four chunks at 4·g + (b ^ ((g >> 1) & 3)), so the eight
// lanes of an access phase reading eight consecutive groups hit eight different 16-byte bank
// quads, as the 16-bit swizzle does, in half the workgroup memory (more workgroups per SM).
override X8: bool = false;

var<workgroup> sx16: array<vec4<u32>, X16_VEC4>;
var<workgroup> ssum: array<i32, X16_CHUNKS>;

// sx16 slot of half h (0: hi, 1: lo) of chunk b of 64-column group g, 2/4/16's swizzle (above),
// written (8·g + g % 8) ^ (2·b + h): with b, h constants, one XOR per slot after the group's
// (8·g + g % 8), which the compiler computes once.
fn x16_slot_t(g: u32, b: u32, h: u32) -> u32 {
  if (X8) {
    return (4u * g + ((g >> 1u) & 3u)) ^ b; // lo halves only (h = 1)
  }
  return (8u * g + (g & 7u)) ^ (2u * b + h);
}

// sx16 slot of half h of chunk ch.
fn x16_slot(ch: u32, h: u32) -> u32 {
  if (X16_TRANSPOSE) {
    return x16_slot_t(ch / 4u, ch % 4u, h);
  }
  return 2u * ch + h;
}

// Stages the token's row; returns s (0 for an all-zero row, whose v are all 0).
fn stage_x16(me: GemvTile) -> f32 {
  stage_row_load(me);
  return stage_x16_loaded(me);
}

// stage_x16 after the kernel's own stage_row_load (issued early, see stage_row).
fn stage_x16_loaded(me: GemvTile) -> f32 {
  let s = stage_row_finish(me) / select(32639.0, 127.0, X8);
  let r = select(0.0, 1.0 / s, s > 0.0);
  for (var j = 0u; j < XCH_MAX; j++) {
    let ch = me.lid + j * WG;
    if (j < X_CHUNKS && ch < X16_CHUNKS) {
      var v: array<vec4<i32>, 4>;
      for (var e = 0u; e < 4u; e++) {
        v[e] = x16_levels(xrow[4u * j + e], r);
        if (X8) {
          v[e] = clamp(v[e], vec4<i32>(-127), vec4<i32>(127));
        }
      }
      let p = x16_pack(v);
      if (!X8) {
        sx16[x16_slot(ch, 0u)] = p.hi;
      }
      sx16[x16_slot(ch, 1u)] = p.lo;
      ssum[ch] = p.sum;
    }
  }
  workgroupBarrier();
  return s;
}

// Σ q·v over chunk ch's 16 columns (x16_pack's dot_x16_words against the staged halves).
fn dot_x16(q: vec4<u32>, ch: u32) -> i32 {
  return dot_x16_at(q, x16_slot(ch, 0u), x16_slot(ch, 1u));
}

// dot_x16 given the chunk's two slots (x16_slot; 2/4/16 computes them per group).
fn dot_x16_at(q: vec4<u32>, ih: u32, il: u32) -> i32 {
  if (X8) {
    return dot_i8_words(q, sx16[il]);
  }
  return dot_x16_words(q, sx16[ih], sx16[il]);
}

// v of column k, from the staged halves (the sparse outliers' activations).
fn x16_value(k: u32) -> i32 {
  let ch = k / 16u;
  var hi = vec4<u32>(0u);
  if (!X8) {
    hi = sx16[x16_slot(ch, 0u)];
  }
  return x16_column(hi, sx16[x16_slot(ch, 1u)], k % 16u);
}

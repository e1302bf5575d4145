// 16-bit fixed-point activations for dot4I8Packed, shared by the W4A16 and 2/4/16 kernels (after
// stage_row). The token's row (normalized by stage_row with NORM) becomes
//   v = round(x / s), s = max|x| / 32639, so v ∈ [-32639, 32639], |x − s·v| ≤ s / 2 ≈ max|x| · 2^-16,
// split into two int8 halves v = 256·hi + lo: hi = (v + 128) >> 8 ∈ [-127, 127] (arithmetic
// shift; 32639 is the largest v with hi ≤ 127), lo = v − 256·hi ∈ [-128, 127]. A weight word's
// unsigned 2- or 4-bit values, widened to bytes by shift + mask, are valid non-negative int8
// lanes, so Σ q·v = 256 · Σ dot4I8Packed(q, hi) + Σ dot4I8Packed(q, lo), exactly, in i32.
//
// The lanes of a widened weight word are not consecutive columns, so the activations are staged
// once per workgroup in the lane order the kernel's widening produces (never permuted per
// weight). Per chunk of 16 columns ch: sx16[2·ch] = hi words, sx16[2·ch + 1] = lo words (one
// vec4<u32> each, four int8 per word), and ssum[ch] = Σ v over the chunk (the kernels' offset
// terms: w4a16's bias, 2/4/16's −7.5 / −1.5). Word s of a chunk holds the columns
//   X16_TRANSPOSE (2/4/16):  (s, 4+s, 8+s, 12+s) — byte j of (w >> 2s) & 0x03030303 is weight 4j+s
//                            of a 2-bit word (4-bit words are rearranged to match, see that kernel);
//   otherwise (w4a16):       (0,2,4,6), (1,3,5,7), (8,10,12,14), (9,11,13,15) — the bytes of
//                            w & 0x0F0F0F0F and (w >> 4) & 0x0F0F0F0F of the chunk's two 4-bit words.
// Needs overrides X16_CHUNKS (chunks of 16 staged, Kp / 16; ≤ XCH_MAX · WG) and X16_VEC4 (2 · X16_CHUNKS).
//
// Where the halves lie (x16_slot): w4a16 at sx16[2·ch] (hi), sx16[2·ch + 1] (lo). 2/4/16
// (X16_TRANSPOSE) swizzles them within each 64-column group g (8 vec4 = 128 bytes = one row of
// the 32 banks): chunk b = ch % 4, half h at 8·g + ((2·b + h) ^ (g % 8)). Its invocations read
// different groups at the same instruction (each row's own schedule), so in the plain layout
// every lane of a quarter-warp (the 8 lanes one 128-bit access phase serves) hit the same four
// banks, an 8-way conflict on every activation read; with the swizzle lanes whose groups differ
// mod 8 hit different banks (at most ~2-way for the schedule's near-consecutive groups). The
// staging writes stay conflict-free (consecutive groups alternate the slots' parity).
override X16_TRANSPOSE: bool = false;
override X16_CHUNKS: u32 = 1u;
override X16_VEC4: u32 = 2u;

var<workgroup> sx16: array<vec4<u32>, X16_VEC4>;
var<workgroup> ssum: array<i32, X16_CHUNKS>;

// sx16 slot of half h (0: hi, 1: lo) of chunk b of 64-column group g, 2/4/16's swizzle (above),
// written (8·g + g % 8) ^ (2·b + h): with b, h constants, one XOR per slot after the group's
// (8·g + g % 8), which the compiler computes once.
fn x16_slot_t(g: u32, b: u32, h: u32) -> u32 {
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
  let s = stage_row_finish(me) / 32639.0;
  let r = select(0.0, 1.0 / s, s > 0.0);
  for (var j = 0u; j < XCH_MAX; j++) {
    let ch = me.lid + j * WG;
    if (j < X_CHUNKS && ch < X16_CHUNKS) {
      var v: array<vec4<i32>, 4>;
      for (var e = 0u; e < 4u; e++) {
        v[e] = vec4<i32>(clamp(round(xrow[4u * j + e] * r), vec4<f32>(-32639.0), vec4<f32>(32639.0)));
      }
      // lanes[s] = the chunk's word s, in column order (see above).
      var lanes: array<vec4<i32>, 4>;
      if (X16_TRANSPOSE) {
        for (var c = 0u; c < 4u; c++) {
          lanes[c] = vec4<i32>(v[0][c], v[1][c], v[2][c], v[3][c]);
        }
      } else {
        lanes[0] = vec4<i32>(v[0].x, v[0].z, v[1].x, v[1].z);
        lanes[1] = vec4<i32>(v[0].y, v[0].w, v[1].y, v[1].w);
        lanes[2] = vec4<i32>(v[2].x, v[2].z, v[3].x, v[3].z);
        lanes[3] = vec4<i32>(v[2].y, v[2].w, v[3].y, v[3].w);
      }
      var hi = vec4<u32>(0u);
      var lo = vec4<u32>(0u);
      for (var c = 0u; c < 4u; c++) {
        let h = (lanes[c] + vec4<i32>(128)) >> vec4<u32>(8u);
        hi[c] = pack4xI8(h);
        lo[c] = pack4xI8(lanes[c] - 256 * h);
      }
      sx16[x16_slot(ch, 0u)] = hi;
      sx16[x16_slot(ch, 1u)] = lo;
      let t = v[0] + v[1] + v[2] + v[3];
      ssum[ch] = t.x + t.y + t.z + t.w;
    }
  }
  workgroupBarrier();
  return s;
}

// 256 · Σ dot4I8Packed(q[s], hi[s]) + Σ dot4I8Packed(q[s], lo[s]) over one chunk's four words:
// Σ q·v over its 16 columns. |result| ≤ 15 · 32639 · 16 < 2^23.
fn dot_x16(q: vec4<u32>, ch: u32) -> i32 {
  return dot_x16_at(q, x16_slot(ch, 0u), x16_slot(ch, 1u));
}

// dot_x16 given the chunk's two slots (x16_slot; 2/4/16 computes them per group).
fn dot_x16_at(q: vec4<u32>, ih: u32, il: u32) -> i32 {
  let hi = sx16[ih];
  let lo = sx16[il];
  let h = dot4I8Packed(q.x, hi.x) + dot4I8Packed(q.y, hi.y) + dot4I8Packed(q.z, hi.z) + dot4I8Packed(q.w, hi.w);
  let l = dot4I8Packed(q.x, lo.x) + dot4I8Packed(q.y, lo.y) + dot4I8Packed(q.z, lo.z) + dot4I8Packed(q.w, lo.w);
  return 256 * h + l;
}

// v of column k, from the staged halves (the sparse outliers' activations).
fn x16_value(k: u32) -> i32 {
  let ch = k / 16u;
  let i = k % 16u;
  // Word and byte of column i within the chunk (the inverse of the lane orders above).
  var word = i % 4u;
  var byte = i / 4u;
  if (!X16_TRANSPOSE) {
    word = (i % 2u) + 2u * (i / 8u);
    byte = (i % 8u) / 2u;
  }
  let h = extractBits(bitcast<i32>(sx16[x16_slot(ch, 0u)][word]), 8u * byte, 8u);
  let l = extractBits(bitcast<i32>(sx16[x16_slot(ch, 1u)][word]), 8u * byte, 8u);
  return 256 * h + l;
}

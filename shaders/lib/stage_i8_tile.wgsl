// The matrix GEMM's staging step (gemm_w4a8_matrix.wgsl; also test/shaders/stage_i8_tile_check.wgsl,
// which runs it on adapters without matrix units): one K tile's loads, held in TileRegs, into the
// workgroup arrays `xs` (int8 activations, [token][k]) and `ws` (int4 weights widened to int8,
// [row][k]), rows ROW_WORDS words apart. The including shader declares BK, ROW_WORDS, WG, XV, WV,
// STRIP, TileRegs (arrays of at least XV / WV vec4), xs and ws, and passes the flag STAGE_ROTATE.
#include "sint4"

// The registers of load_tile into workgroup memory, the weights widened to int8 rows in k order
// (lib/sint4.wgsl).
//
// Without STAGE_ROTATE (the default) each lane writes its 4 activation words / 8 weight words in
// order. With it each lane starts at a lane-dependent word (rotated by 0–3): the padded rows make
// all 32 lanes' first words fall on only 8 of the 32 banks, so scalar in-order stores conflict
// 4-way, and with these rotations no two lanes of a warp hit one bank in the same store (checked
// for K tile 64 and 128 and every warp of every grid: lanes e = 32·w … 32·w + 31 of the tile).
// The data is rotated to match, so every word still lands at its k position. Rotation was faster
// while each store carried a bounds clamp; since the stores are proven in bounds (below) the
// in-order ones were faster on the H100 (session 18), most likely stored as whole vectors.
fn rot4(v: vec4<i32>, r: u32) -> vec4<i32> {
  let a = select(v, v.yzwx, (r & 1u) != 0u);
  return select(a, a.zwxy, (r & 2u) != 0u);
}

fn stage_tile(r: TileRegs, lid_arg: u32) {
  if ((STRIP & 2u) != 0u) {
    return;
  }
  // Tint's robustness transform adds a min() clamp to every workgroup-array store it cannot prove
  // in bounds. Its range analysis knows local_invocation_index's range only in the entry point, not
  // as a parameter: `% WG` restores it here. With index arithmetic in / and % by constants (not &)
  // and loops bounded by XV / WV (not a guard), every store below is proven in bounds (session 18,
  // lavapipe's SPIR-V: 12 clamps at 2 × 2 before, none after; docs/results/*-s18-stage-clamps.txt).
  let lid = lid_arg % WG;
  let xparts = BK / 16u;
  let wchunks = BK / 32u;
#if STAGE_ROTATE
  let lane = lid % 32u;
  let xrot = lane % 4u;
  // K tile 64: bits 0 and 4 of the lane; 128: bits 0 and 1 (lane % 4).
  let wrot = lane % 2u + ((lane / select(16u, 2u, BK == 128u)) % 2u) * 2u;
#else
  let xrot = 0u;
  let wrot = 0u;
#endif
  for (var i = 0u; i < XV; i++) {
    let e = lid + i * WG;
    let o = (e / xparts) * ROW_WORDS + (e % xparts) * 4u;
    // Word j of the rotated vector is word (j + xrot) % 4 of the row's part.
    let v = rot4(bitcast<vec4<i32>>(r.x[i]), xrot);
    xs[o + xrot % 4u] = v.x;
    xs[o + (xrot + 1u) % 4u] = v.y;
    xs[o + (xrot + 2u) % 4u] = v.z;
    xs[o + (xrot + 3u) % 4u] = v.w;
  }
  for (var i = 0u; i < WV; i++) {
    let e = lid + i * WG;
    let o = (e / wchunks) * ROW_WORDS + (e % wchunks) * 8u;
    let w = r.w[i];
    var a = vec4<i32>(bitcast<i32>(sint4_lo(w.x)), bitcast<i32>(sint4_hi(w.x)),
                      bitcast<i32>(sint4_lo(w.y)), bitcast<i32>(sint4_hi(w.y)));
    var b = vec4<i32>(bitcast<i32>(sint4_lo(w.z)), bitcast<i32>(sint4_hi(w.z)),
                      bitcast<i32>(sint4_lo(w.w)), bitcast<i32>(sint4_hi(w.w)));
    // The 8 words (a, b) rotated by wrot: word j of (a, b) is word (j + wrot) % 8.
    if ((wrot & 1u) != 0u) {
      let a1 = vec4<i32>(a.yzw, b.x);
      b = vec4<i32>(b.yzw, a.x);
      a = a1;
    }
    if ((wrot & 2u) != 0u) {
      let a2 = vec4<i32>(a.zw, b.xy);
      b = vec4<i32>(b.zw, a.xy);
      a = a2;
    }
    ws[o + wrot % 8u] = a.x;
    ws[o + (wrot + 1u) % 8u] = a.y;
    ws[o + (wrot + 2u) % 8u] = a.z;
    ws[o + (wrot + 3u) % 8u] = a.w;
    ws[o + (wrot + 4u) % 8u] = b.x;
    ws[o + (wrot + 5u) % 8u] = b.y;
    ws[o + (wrot + 6u) % 8u] = b.z;
    ws[o + (wrot + 7u) % 8u] = b.w;
  }
}

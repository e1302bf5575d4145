// The f32 prologue shared by the GEMV kernels that quantize their own activations (W4A8's int8,
// the 16-bit split of W4A16 and 2/4/16, see stage_x16): load the token's f32 row, RMSNorm it with
// NORM, and return max|v| over the row. Needs (after gemv_common and wg_reduce) overrides WG,
// NORM, the bindings `xf: array<vec4<f32>>` and `norm_w: array<vec4<f32>>`, and `params.x_stride`
// (f32 per token), `params.k` (features), `params.eps`.
//
// Each invocation holds up to XCH_MAX chunks of 16 activations (4 vec4<f32>) in `xrow`, chunk
// lid + j·WG for j < X_CHUNKS (the host checks the row has at most XCH_MAX · WG chunks). The
// loops run to the constant XCH_MAX, so every load of the row is issued at once: the prologue
// costs about one memory round trip per pass, not one per element. Features past k read 0.
const XCH_MAX: u32 = 4u;
override X_CHUNKS: u32 = 1u;

var<private> xrow: array<vec4<f32>, 4u * XCH_MAX>;

fn stage_row(me: GemvTile) -> f32 {
  stage_row_load(me);
  return stage_row_finish(me);
}

// The loads of stage_row only (into xrow): a kernel may issue them early and run
// stage_row_finish later, so the row's round trip overlaps its other prologue work. The norm
// weights are loaded in stage_row_finish, after the sum of squares: loaded here they are up to
// 16 more live registers per invocation while the row and the first weights are in flight, and
// the kernels with the norm fused fit fewer workgroups per SM than those without
// (docs/benchmarks.md, session 22). They are one row shared by every workgroup, read from L2.
fn stage_row_load(me: GemvTile) {
  let base4 = me.token * params.x_stride / 4u;
  let k4 = params.k / 4u;
  for (var j = 0u; j < XCH_MAX; j++) {
    for (var e = 0u; e < 4u; e++) {
      let v4 = 4u * (me.lid + j * WG) + e;
      var v = vec4<f32>(0.0);
      if (j < X_CHUNKS && v4 < k4) {
        v = xf[base4 + v4];
      }
      xrow[4u * j + e] = v;
    }
  }
}

// The rest of stage_row, after stage_row_load (workgroup-uniform control flow: it reduces).
fn stage_row_finish(me: GemvTile) -> f32 {
  var ss = 0.0;
  for (var i = 0u; i < 4u * XCH_MAX; i++) {
    ss += dot(xrow[i], xrow[i]);
  }
  var inv = 1.0;
  if (NORM) {
    inv = inverseSqrt(wg_reduce(ss, me.lid, me.lane, me.sg_size, false) / f32(params.k) + params.eps);
  }
  var m = 0.0;
  let k4 = params.k / 4u;
  for (var i = 0u; i < 4u * XCH_MAX; i++) {
    if (NORM) {
      // xrow[i] is vec4 4·(lid + j·WG) + e of the row (stage_row_load), j = i / 4, e = i % 4.
      let v4 = 4u * (me.lid + (i / 4u) * WG) + i % 4u;
      var w = vec4<f32>(1.0);
      if (i / 4u < X_CHUNKS && v4 < k4) {
        w = norm_w[v4];
      }
      xrow[i] = xrow[i] * inv * w;
    }
    let a = abs(xrow[i]);
    m = max(m, max(max(a.x, a.y), max(a.z, a.w)));
  }
  return wg_reduce(m, me.lid, me.lane, me.sg_size, true);
}

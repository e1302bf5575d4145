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
// The norm weights matching xrow when loaded with it (NORM without NORM_W_LATE; 1 otherwise).
var<private> xroww: array<vec4<f32>, 4u * XCH_MAX>;

// Load the norm weights after the sum of squares instead of with the row (below). Set by the host
// where it pays: the 2/4/16 kernels (w2TileDefaults in src/kernels/gemv.ts).
override NORM_W_LATE: bool = false;

fn stage_row(me: GemvTile) -> f32 {
  stage_row_load(me);
  return stage_row_finish(me);
}

// The loads of stage_row only (into xrow, and xroww unless NORM_W_LATE): a kernel may issue them
// early and run stage_row_finish later, so the row's round trip overlaps its other prologue work.
// With NORM_W_LATE the norm weights are loaded in stage_row_finish, after the sum of squares:
// loaded here they are 16 more live registers per staged chunk (X_CHUNKS of them) while the row
// and the first weights are in flight. On the H100 (docs/benchmarks.md) that let the 2/4/16
// kernel with the norm fused fit 3 workgroups per SM instead of 2: at int8 activations (session
// 22; 7B qkv 21.3 → 16.7 µs, gate_up 33.4 → 28.9). At 16 bits 16-bit schedule entries and 2
// chunks in flight give the 3 per SM; the late norm weights take 0.2–1.1 µs more off (session
// 23). Where the register count does not cross such a step (W4A8) the extra round trip costs
// 0.1–0.9 µs, so it stays off there.
fn stage_row_load(me: GemvTile) {
  let base4 = me.token * params.x_stride / 4u;
  let k4 = params.k / 4u;
  for (var j = 0u; j < XCH_MAX; j++) {
    for (var e = 0u; e < 4u; e++) {
      let v4 = 4u * (me.lid + j * WG) + e;
      var v = vec4<f32>(0.0);
      var w = vec4<f32>(1.0);
      if (j < X_CHUNKS && v4 < k4) {
        v = xf[base4 + v4];
        if (NORM && !NORM_W_LATE) {
          w = norm_w[v4];
        }
      }
      xrow[4u * j + e] = v;
      if (!NORM_W_LATE) {
        xroww[4u * j + e] = w;
      }
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
      var w = vec4<f32>(1.0);
      if (NORM_W_LATE) {
        // xrow[i] is vec4 4·(lid + j·WG) + e of the row (stage_row_load), j = i / 4, e = i % 4.
        let v4 = 4u * (me.lid + (i / 4u) * WG) + i % 4u;
        if (i / 4u < X_CHUNKS && v4 < k4) {
          w = norm_w[v4];
        }
      } else {
        w = xroww[i];
      }
      xrow[i] = xrow[i] * inv * w;
    }
    let a = abs(xrow[i]);
    m = max(m, max(max(a.x, a.y), max(a.z, a.w)));
  }
  return wg_reduce(m, me.lid, me.lane, me.sg_size, true);
}

// RoPE (Hugging Face rotate_half convention) on q and k, and the KV-cache write, for a chunk of
// tokens at positions pos0 … pos0 + tokens − 1. cos/sin come from a
// table the host computes in f64 (llama3 frequency scaling included): GPU cos/sin lose accuracy
// for the large angles of late positions.
//   q_out[t][h·D + d]        = rope(qkv[t][h·D + d])                 (numHeads heads)
//   kcache[kvh][pos][d]      = rope(qkv[t][(numHeads + kvh)·D + d])  (numKvHeads heads)
//   vcache[kvh][pos][d]      = qkv[t][(numHeads + numKvHeads + kvh)·D + d]
// KV_F16 stores the cache as f16 pairs in u32 (dims 2i, 2i+1), halving its traffic; KV_I8 as
// int8 rows with a scale per row (lib/kv_int8.wgsl), halving it again.

override WG: u32 = 64u;
override KV_F16: bool = false;
override KV_I8: bool = false;

struct Params {
  n_heads: u32,
  n_kv_heads: u32,
  head_dim: u32,
  qkv_stride: u32,  // per token, f32
  q_stride: u32,    // per token, f32
  max_pos: u32,     // positions the cache holds
}

struct Step {
  pos0: u32,
  tokens: u32,
}

@group(0) @binding(0) var<storage, read> qkv: array<f32>;
@group(0) @binding(1) var<storage, read> cos_sin: array<vec2<f32>>; // [max_pos][head_dim / 2]
@group(0) @binding(2) var<storage, read_write> q_out: array<f32>;
@group(0) @binding(3) var<storage, read_write> kcache: array<u32>;
@group(0) @binding(4) var<storage, read_write> vcache: array<u32>;
@group(0) @binding(5) var<uniform> params: Params;
@group(0) @binding(6) var<uniform> step: Step;

#include "rope_rotate"
#include "kv_int8"

var<workgroup> row_max: array<vec2<f32>, WG>;   // KV_I8: per invocation max |k|, max |v|

// Element d of the head at qkv[base], rotated to position pos.
fn rotated(base: u32, d: u32, pos: u32) -> f32 {
  return rope_rotated(base, d, pos, params.head_dim / 2u);
}

fn store_cache_pair(which: u32, index: u32, lo: f32, hi: f32) {
  // index: element index of `lo` (even) in the cache viewed as f32 elements.
  if (KV_F16) {
    let word = pack2x16float(vec2<f32>(lo, hi));
    if (which == 0u) { kcache[index / 2u] = word; } else { vcache[index / 2u] = word; }
  } else {
    if (which == 0u) {
      kcache[index] = bitcast<u32>(lo);
      kcache[index + 1u] = bitcast<u32>(hi);
    } else {
      vcache[index] = bitcast<u32>(lo);
      vcache[index + 1u] = bitcast<u32>(hi);
    }
  }
}

// One workgroup per (head, token): q heads first, then KV heads (which also write V), so even
// a single decode token spreads over numHeads + numKvHeads workgroups.
@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let h = wid.x;
  let t = wid.y;
  let pos = step.pos0 + t;
  let D = params.head_dim;
  let row = t * params.qkv_stride;
  if (h < params.n_heads) {
    for (var d = lid; d < D; d += WG) {
      q_out[t * params.q_stride + h * D + d] = rotated(row + h * D, d, pos);
    }
    return;
  }
  let kvh = h - params.n_heads;
  let kbase = row + (params.n_heads + kvh) * D;
  let vbase = row + (params.n_heads + params.n_kv_heads + kvh) * D;
  if (KV_I8) {
    store_i8_rows(kbase, vbase, kvh * params.max_pos + pos, pos, lid);
    return;
  }
  for (var d = 2u * lid; d < D; d += 2u * WG) {
    let dst = (kvh * params.max_pos + pos) * D + d;
    store_cache_pair(0u, dst, rotated(kbase, d, pos), rotated(kbase, d + 1u, pos));
    store_cache_pair(1u, dst, qkv[vbase + d], qkv[vbase + d + 1u]);
  }
}

// KV_I8: the K (rotated) and V rows of cache row `crow` as int8 words plus their scales. The
// row's max |x| is needed before any word, so each invocation keeps its words' values (at most
// 4 words each: D ≤ 16 · WG) and the workgroup folds the maxima first.
const I8_WORDS_MAX: u32 = 4u;

fn store_i8_rows(kbase: u32, vbase: u32, crow: u32, pos: u32, lid: u32) {
  let D = params.head_dim;
  var kv: array<vec4<f32>, I8_WORDS_MAX>;
  var vv: array<vec4<f32>, I8_WORDS_MAX>;
  var m = vec2<f32>(0.0);
  for (var j = 0u; j < I8_WORDS_MAX; j++) {
    let d = 4u * (lid + j * WG);
    if (d < D) {
      kv[j] = rope_rotated4(kbase, d, pos, D / 2u);
      vv[j] = qkv4(vbase + d);
      m = max(m, vec2<f32>(max4(abs(kv[j])), max4(abs(vv[j]))));
    }
  }
  row_max[lid] = m;
  workgroupBarrier();
  var rm = vec2<f32>(0.0);
  for (var i = 0u; i < WG; i++) {
    rm = max(rm, row_max[i]);
  }
  let ks = kv_i8_scale(rm.x);
  let vs = kv_i8_scale(rm.y);
  for (var j = 0u; j < I8_WORDS_MAX; j++) {
    let d = 4u * (lid + j * WG);
    if (d < D) {
      kcache[crow * (D / 4u) + d / 4u] = kv_i8_word(kv[j], ks);
      vcache[crow * (D / 4u) + d / 4u] = kv_i8_word(vv[j], vs);
    }
  }
  if (lid == 0u) {
    let sw = kv_scale_word(crow, params.n_kv_heads, params.max_pos, D);
    kcache[sw] = bitcast<u32>(ks);
    vcache[sw] = bitcast<u32>(vs);
  }
}

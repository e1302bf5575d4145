// Causal attention over the KV cache for a chunk of query tokens (decode: one token; prefill:
// many), split along the sequence and merged (flash-decoding):
//   partial: one workgroup per (split of WG keys, KV head, query token). It serves all GROUP query
//            heads that share the KV head (GQA), so each K/V element is read once per split,
//            and writes an unnormalized output with its running max and sum.
//   merge:   one workgroup per (query head, token) rescales and sums the splits.
// Query token t sits at position pos0 + t and sees keys 0 … pos0 + t.

override WG: u32 = 64u;        // keys per split
override HEAD_DIM: u32 = 64u;
override GROUP: u32 = 1u;      // query heads per KV head
override KV_F16: bool = false;

struct Params {
  n_heads: u32,
  n_kv_heads: u32,
  q_stride: u32,     // per token, f32
  max_pos: u32,
  splits_max: u32,   // split slots per (token, head) in the partial buffers
  out_stride: u32,   // per token, f32 (merge output)
  scale: f32,        // 1 / sqrt(head_dim)
}

struct Step {
  pos0: u32,
  tokens: u32,
}

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> kcache: array<u32>;
@group(0) @binding(2) var<storage, read> vcache: array<u32>;
@group(0) @binding(3) var<storage, read_write> part_o: array<f32>;
@group(0) @binding(4) var<storage, read_write> part_ml: array<vec2<f32>>;
@group(0) @binding(5) var<uniform> params: Params;
@group(0) @binding(6) var<uniform> step: Step;
@group(0) @binding(7) var<storage, read_write> out: array<f32>;

var<workgroup> sq: array<f32, GROUP * HEAD_DIM>;
var<workgroup> sp: array<f32, GROUP * WG>;
var<workgroup> red: array<f32, WG>;

fn cache_at(kv: u32, index: u32) -> f32 {
  if (KV_F16) {
    let word = select(vcache[index / 2u], kcache[index / 2u], kv == 0u);
    let v = unpack2x16float(word);
    return select(v.x, v.y, (index & 1u) == 1u);
  }
  return bitcast<f32>(select(vcache[index], kcache[index], kv == 0u));
}

fn wg_reduce(v: f32, lid: u32, is_max: bool) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      red[lid] = select(red[lid] + red[lid + s], max(red[lid], red[lid + s]), is_max);
    }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(WG)
fn partial(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let split = wid.x;
  let kvh = wid.y;
  let t = wid.z;
  let last = step.pos0 + t;            // last visible key
  let k0 = split * WG;
  let slot_base = t * params.n_heads;
  if (k0 > last) {
    // Nothing visible in this split for this token: an empty partial.
    if (lid < GROUP) {
      part_ml[(slot_base + kvh * GROUP + lid) * params.splits_max + split] = vec2<f32>(-3.0e38, 0.0);
    }
    return;
  }
  let n_keys = min(WG, last + 1u - k0);
  for (var i = lid; i < GROUP * HEAD_DIM; i += WG) {
    let h = kvh * GROUP + i / HEAD_DIM;
    sq[i] = q[t * params.q_stride + h * HEAD_DIM + i % HEAD_DIM] * params.scale;
  }
  workgroupBarrier();

  let key_base = (kvh * params.max_pos + k0 + lid) * HEAD_DIM;
  for (var g = 0u; g < GROUP; g++) {
    var s = -3.0e38;
    if (lid < n_keys) {
      s = 0.0;
      for (var d = 0u; d < HEAD_DIM; d++) {
        s += sq[g * HEAD_DIM + d] * cache_at(0u, key_base + d);
      }
    }
    sp[g * WG + lid] = s;
  }
  workgroupBarrier();
  for (var g = 0u; g < GROUP; g++) {
    let m = wg_reduce(sp[g * WG + lid], lid, true);
    let p = select(0.0, exp(sp[g * WG + lid] - m), lid < n_keys);
    sp[g * WG + lid] = p;
    let l = wg_reduce(p, lid, false);
    if (lid == 0u) {
      part_ml[(slot_base + kvh * GROUP + g) * params.splits_max + split] = vec2<f32>(m, l);
    }
  }
  workgroupBarrier();
  for (var i = lid; i < GROUP * HEAD_DIM; i += WG) {
    let g = i / HEAD_DIM;
    let d = i % HEAD_DIM;
    var acc = 0.0;
    for (var j = 0u; j < n_keys; j++) {
      acc += sp[g * WG + j] * cache_at(1u, (kvh * params.max_pos + k0 + j) * HEAD_DIM + d);
    }
    part_o[((slot_base + kvh * GROUP + g) * params.splits_max + split) * HEAD_DIM + d] = acc;
  }
}

@compute @workgroup_size(WG)
fn merge(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let h = wid.x;
  let t = wid.y;
  let splits = (step.pos0 + t) / WG + 1u;
  let slot = (t * params.n_heads + h) * params.splits_max;
  var m = -3.0e38;
  for (var s = 0u; s < splits; s++) {
    m = max(m, part_ml[slot + s].x);
  }
  var l = 0.0;
  for (var s = 0u; s < splits; s++) {
    l += exp(part_ml[slot + s].x - m) * part_ml[slot + s].y;
  }
  for (var d = lid; d < HEAD_DIM; d += WG) {
    var acc = 0.0;
    for (var s = 0u; s < splits; s++) {
      acc += exp(part_ml[slot + s].x - m) * part_o[(slot + s) * HEAD_DIM + d];
    }
    out[t * params.out_stride + h * HEAD_DIM + d] = acc / l;
  }
}

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
// K is read a vec4<u32> at a time (8 f16 or 4 f32 values); V a u32 word at a time.
@group(0) @binding(1) var<storage, read> kcache: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> vcache: array<u32>;
@group(0) @binding(3) var<storage, read_write> part_o: array<f32>;
@group(0) @binding(4) var<storage, read_write> part_ml: array<vec2<f32>>;
@group(0) @binding(5) var<uniform> params: Params;
@group(0) @binding(6) var<uniform> step: Step;
@group(0) @binding(7) var<storage, read_write> out: array<f32>;

// Cache elements per vec4<u32> of K.
override KVEC: u32 = select(4u, 8u, KV_F16);

var<workgroup> sq: array<vec4<f32>, GROUP * HEAD_DIM / 4u>;
var<workgroup> sp: array<f32, GROUP * WG>;
var<workgroup> red: array<f32, WG>;

// q_g · k_j for one key: K in vec4 loads against q (pre-scaled) in workgroup memory.
fn key_dot(g: u32, key_vec_base: u32) -> f32 {
  var s = 0.0;
  let qb = g * HEAD_DIM / 4u;
  for (var c = 0u; c < HEAD_DIM / KVEC; c++) {
    let w = kcache[key_vec_base + c];
    if (KV_F16) {
      s += dot(vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y)), sq[qb + 2u * c])
         + dot(vec4<f32>(unpack2x16float(w.z), unpack2x16float(w.w)), sq[qb + 2u * c + 1u]);
    } else {
      s += dot(bitcast<vec4<f32>>(w), sq[qb + c]);
    }
  }
  return s;
}

// Dims (2p, 2p+1) of V at cache element index `elem` (even).
fn v_pair(elem: u32) -> vec2<f32> {
  if (KV_F16) {
    return unpack2x16float(vcache[elem / 2u]);
  }
  return vec2<f32>(bitcast<f32>(vcache[elem]), bitcast<f32>(vcache[elem + 1u]));
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
  for (var i = lid; i < GROUP * HEAD_DIM / 4u; i += WG) {
    let h = kvh * GROUP + (4u * i) / HEAD_DIM;
    let base = t * params.q_stride + h * HEAD_DIM + (4u * i) % HEAD_DIM;
    sq[i] = vec4<f32>(q[base], q[base + 1u], q[base + 2u], q[base + 3u]) * params.scale;
  }
  workgroupBarrier();

  // One key per invocation: scores for every query head of the group.
  let key_vec_base = (kvh * params.max_pos + k0 + lid) * HEAD_DIM / KVEC;
  for (var g = 0u; g < GROUP; g++) {
    var s = -3.0e38;
    if (lid < n_keys) {
      s = key_dot(g, key_vec_base);
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
  // Σ_j p_j · v_j, two dims per invocation and step (one f16 word), coalesced across invocations.
  let half_dim = HEAD_DIM / 2u;
  for (var i = lid; i < GROUP * half_dim; i += WG) {
    let g = i / half_dim;
    let d = 2u * (i % half_dim);
    var acc = vec2<f32>(0.0);
    let vbase = (kvh * params.max_pos + k0) * HEAD_DIM + d;
    for (var j = 0u; j < n_keys; j++) {
      acc += sp[g * WG + j] * v_pair(vbase + j * HEAD_DIM);
    }
    let o = ((slot_base + kvh * GROUP + g) * params.splits_max + split) * HEAD_DIM + d;
    part_o[o] = acc.x;
    part_o[o + 1u] = acc.y;
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

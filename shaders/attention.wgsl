// Causal attention over the KV cache for a chunk of query tokens (decode: one token; prefill:
// many), split along the sequence and merged (flash-decoding):
//   partial: one workgroup per (split of SPLIT keys, KV head, query token). It serves all GROUP
//            query heads that share the KV head (GQA), so each K/V element is read from memory
//            once per split, and writes an unnormalized output with its running max and sum.
//   merge:   one workgroup per (query head, token) rescales and sums the splits.
//   decode:  one query token (batch-1 decode), RoPE and the K/V write fused; see its comment.
// Query token t sits at position pos0 + t and sees keys 0 … pos0 + t.
//
// Batch-1 decode is latency-bound here (a few MB per layer), so every loop over keys or
// dimensions has a trip count fixed at pipeline creation: the compiler unrolls it and issues
// all of a thread's loads before the first one returns. Keys past the last visible one are
// read (clamped into the cache) and masked with select(), never by a data-dependent bound.

#if SUBGROUP_BUILTINS
enable subgroups;
#endif

override WG: u32 = 128u;        // invocations per workgroup
override SPLIT: u32 = 32u;      // keys per workgroup; divides WG
override HEAD_DIM: u32 = 64u;
override GROUP: u32 = 1u;       // query heads per KV head
override KV_F16: bool = false;
// int8 rows with a scale per row (lib/kv_int8.wgsl): K chunks of 16 values, scores and V scaled
// per key.
override KV_I8: bool = false;
override PV_SLICES: u32 = 2u;   // key slices of the P·V phase: max(1, WG / (HEAD_DIM / 2))
// Decode: RoPE fused in (rope.wgsl's math). Each workgroup rotates its query heads straight from
// the qkv row, and the workgroup whose split holds the new position writes its rotated K and its
// V into the cache before reading the split: one dispatch per layer fewer than rope + attention.
override FUSED_ROPE: bool = false;

struct Params {
  n_heads: u32,
  n_kv_heads: u32,
  q_stride: u32,     // per token, f32
  max_pos: u32,
  splits_max: u32,   // split slots per (token, head) in the partial buffers
  out_stride: u32,   // per token, f32 (merge output)
  scale: f32,        // 1 / sqrt(head_dim)
  qkv_stride: u32,   // FUSED_ROPE: per token, f32
}

struct Step {
  pos0: u32,
  tokens: u32,
}

@group(0) @binding(0) var<storage, read> q: array<f32>;
// K rows are read a vec4<u32> at a time (8 f16 or 4 f32 values). V: `decode` reads vec4<u32>
// chunks (binding 2), `partial` one u32 word per pair (binding 10, the same buffer): each entry
// point binds the view it reads, so `partial` keeps its word loads.
@group(0) @binding(1) var<storage, read_write> kcache: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> vcache: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read_write> part_o: array<f32>;
@group(0) @binding(4) var<storage, read_write> part_ml: array<vec2<f32>>;
@group(0) @binding(5) var<uniform> params: Params;
@group(0) @binding(6) var<uniform> step: Step;
@group(0) @binding(7) var<storage, read_write> out: array<f32>;
@group(0) @binding(8) var<storage, read> qkv: array<f32>;            // FUSED_ROPE
@group(0) @binding(9) var<storage, read> cos_sin: array<vec2<f32>>;  // FUSED_ROPE: [max_pos][HEAD_DIM / 2]
@group(0) @binding(10) var<storage, read_write> vwords: array<u32>;  // partial: the V cache by word

#include "rope_rotate"
#include "kv_int8"

// Element d of the head at qkv[base], rotated to position pos (rope.wgsl's rotation).
fn rotated(base: u32, d: u32, pos: u32) -> f32 {
  return rope_rotated(base, d, pos, HEAD_DIM / 2u);
}

fn rotated4(base: u32, d: u32, pos: u32) -> vec4<f32> {
  return rope_rotated4(base, d, pos, HEAD_DIM / 2u);
}

// Dims (d, d+1) of the cache at f32-element index e (even), as rope.wgsl stores them; with
// K_FIRST also into `knew` (the row's words, for the early loads that predate this write).
fn store_k_pair(e: u32, lo: f32, hi: f32) {
  let d = e % HEAD_DIM;
  if (KV_F16) {
    let word = e / 2u;
    let w = pack2x16float(vec2<f32>(lo, hi));
    kcache[word / 4u][word % 4u] = w;
    if (K_FIRST) {
      knew[d / 2u] = w;
    }
  } else {
    kcache[e / 4u][e % 4u] = bitcast<u32>(lo);
    kcache[(e + 1u) / 4u][(e + 1u) % 4u] = bitcast<u32>(hi);
    if (K_FIRST) {
      knew[d] = bitcast<u32>(lo);
      knew[d + 1u] = bitcast<u32>(hi);
    }
  }
}

fn store_v_pair(e: u32, lo: f32, hi: f32) {
  if (KV_F16) {
    vwords[e / 2u] = pack2x16float(vec2<f32>(lo, hi));
  } else {
    vwords[e] = bitcast<u32>(lo);
    vwords[e + 1u] = bitcast<u32>(hi);
  }
}

// Cache elements per vec4<u32> of K, and vec4<u32> chunks per key.
override KVEC: u32 = select(select(4u, 8u, KV_F16), 16u, KV_I8);
override CHUNKS: u32 = HEAD_DIM / KVEC;
// Invocations sharing one key's dot product in the Q·K phase.
override PER_KEY: u32 = WG / SPLIT;
// Keys each P·V slice walks.
override SLICE_KEYS: u32 = (SPLIT + PV_SLICES - 1u) / PV_SLICES;
// Chunks of one key each Q·K invocation loads (KCH), in batches of KCH_MAX.
const KCH_MAX: u32 = 4u;
override KCH: u32 = (CHUNKS + PER_KEY - 1u) / PER_KEY;
// Split slots per (token, head): bounds the serial merge's workgroup arrays.
override SPLITS_MAX: u32 = 64u;

var<workgroup> sq: array<vec4<f32>, GROUP * HEAD_DIM / 4u>;
var<workgroup> sdot: array<f32, GROUP * WG>;        // Q·K partials [g][key][part]
var<workgroup> sp: array<f32, GROUP * SPLIT>;       // scores, then probabilities
var<workgroup> smax: array<f32, GROUP>;
var<workgroup> sacc: array<vec2<f32>, WG>;          // P·V partials of one head [slice][pair]
// FUSED_ROPE with K_FIRST: the new position's K row as cache words (chunk c = words 4c … 4c+3
// in every format), for the invocations whose early loads read that row before it was written.
var<workgroup> knew: array<u32, CHUNKS * 4u>;

// partial: the first KCH_MAX chunks of each key are loaded before q is staged (and, in the
// split that holds the new position, before the cache write), so the K round trip overlaps q's
// loads and RoPE instead of following them (default). false: after (the kernel before session
// 15, a benchmark ablation).
override K_FIRST: bool = true;
// partial: each P·V invocation's V loads issued right after the Q·K dots, so their round trip
// overlaps the softmax's barriers (K's registers are free by then). Only where every invocation
// has one (slice, pair) of at most V_KEYS_MAX keys; otherwise (and when off) V is loaded in P·V.
override V_AFTER_DOTS: bool = false;
const V_KEYS_MAX: u32 = 32u;
override V_REGS: bool = V_AFTER_DOTS && SLICE_KEYS <= V_KEYS_MAX && PV_SLICES * (HEAD_DIM / 2u) <= WG;

// q_g · (chunk c of a key), chunk = 16 int8 (before the key's scale), 8 f16 or 4 f32 values.
fn chunk_dot(g: u32, w: vec4<u32>, c: u32) -> f32 {
  let qb = g * HEAD_DIM / 4u;
  if (KV_I8) {
    return dot(kv_i8_values(w.x), sq[qb + 4u * c]) + dot(kv_i8_values(w.y), sq[qb + 4u * c + 1u])
         + dot(kv_i8_values(w.z), sq[qb + 4u * c + 2u]) + dot(kv_i8_values(w.w), sq[qb + 4u * c + 3u]);
  }
  if (KV_F16) {
    return dot(vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y)), sq[qb + 2u * c])
         + dot(vec4<f32>(unpack2x16float(w.z), unpack2x16float(w.w)), sq[qb + 2u * c + 1u]);
  }
  return dot(bitcast<vec4<f32>>(w), sq[qb + c]);
}

// KV_I8: the scale of cache row `row` (kv head · max_pos + position), through each binding.
fn kscale_of(row: u32) -> f32 {
  let i = kv_scale_word(row, params.n_kv_heads, params.max_pos, HEAD_DIM);
  return bitcast<f32>(kcache[i / 4u][i % 4u]);
}

fn vscale_of(row: u32) -> f32 {
  let i = kv_scale_word(row, params.n_kv_heads, params.max_pos, HEAD_DIM);
  return bitcast<f32>(vcache[i / 4u][i % 4u]);
}

// The cache words behind V dims (2p, 2p+1) at element index `elem` (even): f16 one word, f32
// two, int8 the word and its row's scale. Loaded apart from their use (v_value), so V_AFTER_DOTS
// can issue them before the softmax's barriers without waiting for them there.
fn v_raw(elem: u32) -> vec2<u32> {
  if (KV_I8) {
    let i = kv_scale_word(elem / HEAD_DIM, params.n_kv_heads, params.max_pos, HEAD_DIM);
    return vec2<u32>(vwords[elem / 4u], vwords[i]);
  }
  if (KV_F16) {
    return vec2<u32>(vwords[elem / 2u], 0u);
  }
  return vec2<u32>(vwords[elem], vwords[elem + 1u]);
}

fn v_value(raw: vec2<u32>, elem: u32) -> vec2<f32> {
  if (KV_I8) {
    let v = kv_i8_values(raw.x);
    return select(v.xy, v.zw, elem % 4u != 0u) * bitcast<f32>(raw.y);
  }
  if (KV_F16) {
    return unpack2x16float(raw.x);
  }
  return bitcast<vec2<f32>>(raw);
}

// Cache row of key position `pos` of KV head `kvh`, clamped into the cache (keys past the last
// visible one are read there and masked).
fn key_row(kvh: u32, pos: u32) -> u32 {
  return kvh * params.max_pos + min(pos, params.max_pos - 1u);
}

// partial: chunks c0 + cc (cc < KCH_MAX, c0 + cc < KCH) of a key's K row at `kbase` for the
// invocation that holds part `part` of it (PER_KEY invocations share a key, chunks interleaved).
fn load_k_batch(kbase: u32, part: u32, c0: u32) -> array<vec4<u32>, KCH_MAX> {
  var kv: array<vec4<u32>, KCH_MAX>;
  for (var cc = 0u; cc < KCH_MAX; cc++) {
    if (c0 + cc < KCH) {
      kv[cc] = kcache[kbase + min(part + (c0 + cc) * PER_KEY, CHUNKS - 1u)];
    }
  }
  return kv;
}

// partial's P·V: the split's key of step jj of slice `slice` (clamped to the split).
fn pv_key(slice: u32, jj: u32) -> u32 {
  return min(slice * SLICE_KEYS + jj, SPLIT - 1u);
}

@compute @workgroup_size(WG)
fn partial(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let split = wid.x;
  let kvh = wid.y;
  let t = wid.z;
  let last = step.pos0 + t;            // last visible key
  let k0 = split * SPLIT;
  let slot_base = t * params.n_heads;
  if (k0 > last) {
    // Nothing visible in this split for this token: an empty partial.
    if (lid < GROUP) {
      part_ml[(slot_base + kvh * GROUP + lid) * params.splits_max + split] = vec2<f32>(-3.0e38, 0.0);
    }
    return;
  }
  let n_keys = min(SPLIT, last + 1u - k0);
  // Q·K: PER_KEY neighbouring invocations share a key (consecutive 16-byte chunks: coalesced).
  let key = lid / PER_KEY;
  let part = lid % PER_KEY;
  let kbase = key_row(kvh, k0 + key) * CHUNKS;
  // K_FIRST: the first batch of this invocation's chunks, issued before anything else.
  var kfirst: array<vec4<u32>, KCH_MAX>;
  if (K_FIRST) {
    kfirst = load_k_batch(kbase, part, 0u);
  }
  // KV_I8 with K_FIRST: the key's scale, loaded with its K and applied to the partial dots.
  var kscale = 1.0;
  if (KV_I8 && K_FIRST) {
    kscale = kscale_of(key_row(kvh, k0 + key));
  }
  var new_kscale = 0.0;
  if (FUSED_ROPE) {
    let row = t * params.qkv_stride;
    for (var i = lid; i < GROUP * HEAD_DIM / 4u; i += WG) {
      let base = row + (kvh * GROUP + (4u * i) / HEAD_DIM) * HEAD_DIM;
      let d = (4u * i) % HEAD_DIM;
      sq[i] = rotated4(base, d, last) * params.scale;
    }
    if (last < k0 + SPLIT) {
      // This split holds the new position: put its K (rotated) and V in the cache first.
      let k_in = row + (params.n_heads + kvh) * HEAD_DIM;
      let v_in = row + (params.n_heads + params.n_kv_heads + kvh) * HEAD_DIM;
      if (KV_I8) {
        new_kscale = store_i8_rows(k_in, v_in, kvh * params.max_pos + last, last, lid);
      }
      for (var d = 2u * lid; d < HEAD_DIM && !KV_I8; d += 2u * WG) {
        let e = (kvh * params.max_pos + last) * HEAD_DIM + d;
        store_k_pair(e, rotated(k_in, d, last), rotated(k_in, d + 1u, last));
        store_v_pair(e, qkv[v_in + d], qkv[v_in + d + 1u]);
      }
      storageBarrier();
    }
  } else {
    for (var i = lid; i < GROUP * HEAD_DIM / 4u; i += WG) {
      let h = kvh * GROUP + (4u * i) / HEAD_DIM;
      let base = t * params.q_stride + h * HEAD_DIM + (4u * i) % HEAD_DIM;
      sq[i] = vec4<f32>(q[base], q[base + 1u], q[base + 2u], q[base + 3u]) * params.scale;
    }
  }
  workgroupBarrier();
  // The early loads of the new position's row predate its write: take the row just written.
  if (K_FIRST && FUSED_ROPE && k0 + key == last) {
    for (var cc = 0u; cc < KCH_MAX; cc++) {
      let c = min(part + cc * PER_KEY, CHUNKS - 1u);
      kfirst[cc] = vec4<u32>(knew[4u * c], knew[4u * c + 1u], knew[4u * c + 2u], knew[4u * c + 3u]);
    }
    kscale = select(kscale, new_kscale, KV_I8);
  }

  // This invocation's chunks of the key, KCH_MAX loads in flight at a time (constant trips).
  for (var g = 0u; g < GROUP; g++) {
    sdot[g * WG + lid] = 0.0;
  }
  for (var c0 = 0u; c0 < KCH; c0 += KCH_MAX) {
    var kv: array<vec4<u32>, KCH_MAX>;
    if (K_FIRST && c0 == 0u) {
      kv = kfirst;
    } else {
      kv = load_k_batch(kbase, part, c0);
    }
    for (var g = 0u; g < GROUP; g++) {
      var s = 0.0;
      for (var cc = 0u; cc < KCH_MAX; cc++) {
        let c = part + (c0 + cc) * PER_KEY;
        if (c0 + cc < KCH && c < CHUNKS) {
          s += chunk_dot(g, kv[cc], c);
        }
      }
      sdot[g * WG + lid] += s * kscale;
    }
  }
  // P·V's (slice, pair) of this invocation (V_REGS: lid < PV_SLICES · half_dim, one each).
  let half_dim = HEAD_DIM / 2u;
  var vraw: array<vec2<u32>, V_KEYS_MAX>;
  if (V_REGS && lid < PV_SLICES * half_dim) {
    for (var jj = 0u; jj < V_KEYS_MAX; jj++) {
      if (jj < SLICE_KEYS) {
        let j = pv_key(lid / half_dim, jj);
        vraw[jj] = v_raw(key_row(kvh, k0 + j) * HEAD_DIM + 2u * (lid % half_dim));
      }
    }
  }
  workgroupBarrier();
  for (var i = lid; i < GROUP * SPLIT; i += WG) {
    let g = i / SPLIT;
    let j = i % SPLIT;
    var s = 0.0;
    for (var p = 0u; p < PER_KEY; p++) {
      s += sdot[g * WG + j * PER_KEY + p];
    }
    if (KV_I8 && !K_FIRST) {
      s *= kscale_of(key_row(kvh, k0 + j));
    }
    sp[i] = select(-3.0e38, s, j < n_keys);
  }
  workgroupBarrier();
  if (lid < GROUP) {
    var m = -3.0e38;
    for (var j = 0u; j < SPLIT; j++) {
      m = max(m, sp[lid * SPLIT + j]);
    }
    smax[lid] = m;
  }
  workgroupBarrier();
  for (var i = lid; i < GROUP * SPLIT; i += WG) {
    sp[i] = select(0.0, exp(sp[i] - smax[i / SPLIT]), i % SPLIT < n_keys);
  }
  workgroupBarrier();
  if (lid < GROUP) {
    var l = 0.0;
    for (var j = 0u; j < SPLIT; j++) {
      l += sp[lid * SPLIT + j];
    }
    part_ml[(slot_base + kvh * GROUP + lid) * params.splits_max + split] = vec2<f32>(smax[lid], l);
  }

  // P·V: invocation (slice, pair) sums dims (2·pair, 2·pair + 1) over its slice's keys; a V
  // row's pairs are consecutive words, so each key is one coalesced read across the pairs.
  for (var g = 0u; g < GROUP; g++) {
    // PV_SLICES · half_dim ≤ WG when there are several slices; one slice loops over the pairs.
    for (var i = lid; i < PV_SLICES * half_dim; i += WG) {
      let pair = i % half_dim;
      let slice = i / half_dim;
      var acc = vec2<f32>(0.0);
      for (var jj = 0u; jj < SLICE_KEYS; jj++) {
        let j = pv_key(slice, jj);
        let elem = key_row(kvh, k0 + j) * HEAD_DIM + 2u * pair;
        var v: vec2<f32>;
        if (V_REGS) {
          v = v_value(vraw[min(jj, V_KEYS_MAX - 1u)], elem);
        } else {
          v = v_value(v_raw(elem), elem);
        }
        acc += select(vec2<f32>(0.0), sp[g * SPLIT + j] * v, slice * SLICE_KEYS + jj < n_keys);
      }
      if (PV_SLICES == 1u) {
        store_pair(slot_base + kvh * GROUP + g, split, pair, acc);
      } else {
        sacc[i] = acc;
      }
    }
    if (PV_SLICES > 1u) {
      workgroupBarrier();
      if (lid < half_dim) {
        var acc = vec2<f32>(0.0);
        for (var s = 0u; s < PV_SLICES; s++) {
          acc += sacc[s * half_dim + lid];
        }
        store_pair(slot_base + kvh * GROUP + g, split, lid, acc);
      }
      workgroupBarrier();
    }
  }
}

// KV_I8 (partial, FUSED_ROPE): the new K (rotated) and V rows of cache row `crow` as int8 words
// and scales; invocation w < HEAD_DIM / 4 builds word w. The row maxima go through `sdot`
// (≥ WG floats, free until the Q·K phase). Returns the K row's scale (every invocation).
fn store_i8_rows(kbase: u32, vbase: u32, crow: u32, pos: u32, lid: u32) -> f32 {
  let d = 4u * min(lid, HEAD_DIM / 4u - 1u);
  let k = rotated4(kbase, d, pos);
  let v = qkv4(vbase + d);
  sdot[lid] = max4(abs(k));
  workgroupBarrier();
  var km = 0.0;
  for (var i = 0u; i < HEAD_DIM / 4u; i++) {
    km = max(km, sdot[i]);
  }
  workgroupBarrier();
  sdot[lid] = max4(abs(v));
  workgroupBarrier();
  var vm = 0.0;
  for (var i = 0u; i < HEAD_DIM / 4u; i++) {
    vm = max(vm, sdot[i]);
  }
  workgroupBarrier();
  let ks = kv_i8_scale(km);
  let vs = kv_i8_scale(vm);
  if (lid < HEAD_DIM / 4u) {
    let kw = kv_i8_word(k, ks);
    kcache[(crow * HEAD_DIM + d) / 16u][(d / 4u) % 4u] = kw;
    vwords[(crow * HEAD_DIM + d) / 4u] = kv_i8_word(v, vs);
    if (K_FIRST) {
      knew[lid] = kw;
    }
  }
  if (lid == 0u) {
    let sw = kv_scale_word(crow, params.n_kv_heads, params.max_pos, HEAD_DIM);
    kcache[sw / 4u][sw % 4u] = bitcast<u32>(ks);
    vwords[sw] = bitcast<u32>(vs);
  }
  return ks;
}

fn store_pair(head_slot: u32, split: u32, pair: u32, acc: vec2<f32>) {
  let o = (head_slot * params.splits_max + split) * HEAD_DIM + 2u * pair;
  part_o[o] = acc.x;
  part_o[o + 1u] = acc.y;
}

// ---- merge: one workgroup per (query head, token) ----
// Invocation (slice, q) sums dims 4q … 4q+3 (a vec4 of the split outputs, read through the
// part_o4 view) over the splits slice, slice + MSLICES, …: its first MERGE_UNROLL splits' outputs
// and maxima are loaded before anything else, beside the (max, sum) pairs the workgroup folds into
// the softmax's total in one tree, so the chain is one memory round trip, the tree's barriers and
// one barrier to add the slices. At 256 invocations one round covers 16 · 256 / (HEAD_DIM / 4)
// splits: 128 at head_dim 128 (4,096 keys in 32-key splits), 256 at 64. The host runs it at a
// power-of-two WG ≥ HEAD_DIM / 4.
// `merge_serial` (a benchmark ablation: the kernel before session 14) combines the maxima first,
// then loads the outputs 8 splits per round with HEAD_DIM invocations, one round trip per round.
const MERGE_UNROLL: u32 = 16u;
override MQ: u32 = HEAD_DIM / 4u;
override MSLICES: u32 = WG / MQ;

@group(0) @binding(11) var<storage, read> part_o4: array<vec4<f32>>;  // merge: part_o by vec4
var<workgroup> mred: array<vec2<f32>, WG>;     // (max, sum) tree
var<workgroup> macc: array<vec4<f32>, WG>;     // per-slice sums [slice][q]
var<workgroup> mw: array<f32, SPLITS_MAX>;     // merge_serial: weight exp(m_s − m) of each split
var<workgroup> ml: array<vec2<f32>, SPLITS_MAX>;

// The (max, sum) of the union of two key sets' softmax, from each set's.
fn ml_fold(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
  let m = max(a.x, b.x);
  return vec2<f32>(m, a.y * exp(a.x - m) + b.y * exp(b.x - m));
}

@compute @workgroup_size(WG)
fn merge(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let h = wid.x;
  let t = wid.y;
  let splits = (step.pos0 + t) / SPLIT + 1u;
  let slot = (t * params.n_heads + h) * params.splits_max;
  let slice = lid / MQ;
  let q = lid % MQ;
  var o: array<vec4<f32>, MERGE_UNROLL>;
  var m: array<f32, MERGE_UNROLL>;
  for (var u = 0u; u < MERGE_UNROLL; u++) {
    let s = min(slice + u * MSLICES, splits - 1u);
    o[u] = part_o4[(slot + s) * MQ + q];
    m[u] = part_ml[slot + s].x;
  }
  var f = vec2<f32>(-3.0e38, 0.0);
  for (var s = lid; s < splits; s += WG) {
    f = ml_fold(f, part_ml[slot + s]);
  }
  mred[lid] = f;
  for (var width = WG / 2u; width > 0u; width /= 2u) {
    workgroupBarrier();
    if (lid < width) {
      mred[lid] = ml_fold(mred[lid], mred[lid + width]);
    }
  }
  workgroupBarrier();
  let total = mred[0];
  var acc = vec4<f32>(0.0);
  for (var u = 0u; u < MERGE_UNROLL; u++) {
    if (slice + u * MSLICES < splits) {
      acc += exp(m[u] - total.x) * o[u];
    }
  }
  // Splits past the first MERGE_UNROLL per slice (very long contexts), a round at a time.
  for (var s0 = MERGE_UNROLL * MSLICES; s0 < splits; s0 += MERGE_UNROLL * MSLICES) {
    for (var u = 0u; u < MERGE_UNROLL; u++) {
      let s = min(s0 + slice + u * MSLICES, splits - 1u);
      o[u] = part_o4[(slot + s) * MQ + q];
      m[u] = part_ml[slot + s].x;
    }
    for (var u = 0u; u < MERGE_UNROLL; u++) {
      if (s0 + slice + u * MSLICES < splits) {
        acc += exp(m[u] - total.x) * o[u];
      }
    }
  }
  macc[lid] = select(vec4<f32>(0.0), acc, slice < MSLICES);
  workgroupBarrier();
  if (lid < MQ) {
    var sum = vec4<f32>(0.0);
    for (var i = 0u; i < MSLICES; i++) {
      sum += macc[i * MQ + lid];
    }
    let r = sum / total.y;
    let e = t * params.out_stride + h * HEAD_DIM + 4u * lid;
    out[e] = r.x;
    out[e + 1u] = r.y;
    out[e + 2u] = r.z;
    out[e + 3u] = r.w;
  }
}

// The merge before session 14 (the ablation; any WG).
@compute @workgroup_size(WG)
fn merge_serial(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let h = wid.x;
  let t = wid.y;
  let splits = (step.pos0 + t) / SPLIT + 1u;
  let slot = (t * params.n_heads + h) * params.splits_max;
  // Every split's (max, sum) loaded at once, then combined from workgroup memory.
  for (var s = lid; s < splits; s += WG) {
    ml[s] = part_ml[slot + s];
  }
  workgroupBarrier();
  var m = -3.0e38;
  for (var s = 0u; s < splits; s++) {
    m = max(m, ml[s].x);
  }
  for (var s = lid; s < splits; s += WG) {
    mw[s] = exp(ml[s].x - m);
  }
  workgroupBarrier();
  var l = 0.0;
  for (var s = 0u; s < splits; s++) {
    l += mw[s] * ml[s].y;
  }
  for (var d = lid; d < HEAD_DIM; d += WG) {
    var acc = 0.0;
    // 8 splits' outputs in flight per step (clamped reads, masked weights).
    for (var s0 = 0u; s0 < splits; s0 += 8u) {
      var o: array<f32, 8>;
      for (var u = 0u; u < 8u; u++) {
        o[u] = part_o[(slot + min(s0 + u, splits - 1u)) * HEAD_DIM + d];
      }
      for (var u = 0u; u < 8u; u++) {
        if (s0 + u < splits) {
          acc += mw[s0 + u] * o[u];
        }
      }
    }
    out[t * params.out_stride + h * HEAD_DIM + d] = acc / l;
  }
}

// ---- decode: one query token, RoPE and the K/V write fused, WG keys per workgroup ----
// Workgroup = (split of WG keys, KV head). Batch-1 decode attention is a chain of latencies, so
// the split's K and V rows — everything that does not depend on this step's q — are loaded first,
// before RoPE, the cache write and the softmax: the kernel waits on memory about once. The new
// position's K (rotated) and V reach the dot products through workgroup memory (the exact words
// written to the cache), not by reading the cache back. Q·K: one key per invocation (its whole
// row, CHUNKS vec4 loads); P·V: invocation (slice, chunk) sums chunk `chunk` of the keys
// slice, slice + DSLICES, ...; a single split writes the normalized output itself (the host
// then skips the merge), several write partials for `merge` (SPLIT = WG).
// The host uses it when CHUNKS ≤ DCH_MAX divides WG and GROUP ≤ 4, else `partial`.
const DCH_MAX: u32 = 16u;
override DSLICES: u32 = WG / CHUNKS;
// Workgroups per KV head, each serving GH = GROUP / QSPLIT of its query heads: with few KV heads
// (GQA) one workgroup per head keeps more of the GPU busy; K/V are then re-read from L2.
override QSPLIT: u32 = 1u;
override GH: u32 = GROUP / QSPLIT;

// Per-subgroup partials of the softmax reductions: WG / (smallest subgroup size), WG without.
override DRED_SLOTS: u32 = WG;
var<workgroup> dnew: array<vec4<u32>, 2u * DCH_MAX>;          // the new position's K row, then V row
var<workgroup> dred: array<vec4<f32>, DRED_SLOTS>;
var<workgroup> dp: array<vec4<f32>, WG>;                      // probabilities [key] → (g0 … g3), g < GH
var<workgroup> dacc: array<vec4<f32>, 2u * WG>;               // P·V partials of one head [slice][chunk][2]

// Σ or max over the workgroup of one vec4 per invocation (uniform control flow).
fn dreduce(v: vec4<f32>, lid: u32, lane: u32, sg_size: u32, is_max: bool) -> vec4<f32> {
#if SUBGROUP_BUILTINS
  let folded = select(subgroupAdd(v), subgroupMax(v), is_max);
  if (lane == 0u) {
    dred[lid / sg_size] = folded;
  }
  let count = WG / sg_size;
#else
  dred[lid] = v;
  let count = WG;
#endif
  workgroupBarrier();
  var r = dred[0];
  for (var i = 1u; i < DRED_SLOTS; i++) {
    if (i < count) {
      r = select(r + dred[i], max(r, dred[i]), is_max);
    }
  }
  workgroupBarrier();
  return r;
}

// V_EARLY: the split's V rows are loaded with its K rows, before anything else (default);
// otherwise after the softmax (fewer registers live through the kernel: a benchmark ablation).
override V_EARLY: bool = true;

// Diagnostic only (the attention bench suite; 0 in the model): parts of `decode` left out, to find
// where its time goes — 1: K/V cache loads (constant rows instead), 2: RoPE of q (plain q), 4: the
// cache write, 8: P·V (zero output), 16: the two softmax reductions (m = 0, l = 1).
override STRIP: u32 = 0u;

// Chunk `chunk` of the V rows of keys first + i·DSLICES (clamped to `last`), i < CHUNKS.
fn load_v(vr: ptr<function, array<vec4<u32>, DCH_MAX>>, rows: u32, first: u32, last: u32, chunk: u32) {
  for (var i = 0u; i < DCH_MAX; i++) {
    if (i < CHUNKS) {
      (*vr)[i] = vcache[(rows + min(first + i * DSLICES, last)) * CHUNKS + chunk];
    }
  }
}

// Keys at or past `last` (clamped to its row) get the new V from `dnew`: their p is 0 past
// `last`, and 0 · a stale NaN would not be.
fn fresh_v(vr: ptr<function, array<vec4<u32>, DCH_MAX>>, first: u32, last: u32, chunk: u32) {
  for (var i = 0u; i < DCH_MAX; i++) {
    if (i < CHUNKS && first + i * DSLICES >= last) {
      (*vr)[i] = dnew[DCH_MAX + chunk];
    }
  }
}

#include "invocation"

@compute @workgroup_size(WG)
fn decode(inv: Invocation) {
  let lid = inv.lid;
  let lane = lane_and_size(inv).x;
  let sg_size = lane_and_size(inv).y;
  let split = inv.wid.x;
  let kvh = inv.wid.y / QSPLIT;
  let h0 = kvh * GROUP + (inv.wid.y % QSPLIT) * GH;   // first query head of this workgroup
  let last = step.pos0;               // the new position = the last visible key
  let k0 = split * WG;
  let splits = last / WG + 1u;
  let rows = kvh * params.max_pos;    // first cache row of this KV head

  // 1. Every K and V load of the split, issued before anything else. Keys past `last` read the
  //    last row (in bounds, cached) and are masked below.
  let key = k0 + lid;
  let chunk = lid % CHUNKS;
  let slice = lid / CHUNKS;
  var kr: array<vec4<u32>, DCH_MAX>;
  // One key per invocation: its whole row. (Coalesced loads — invocation (slice, chunk) as for
  // V, the partial dots summed by subgroup shuffles — measured slower on the H200: 7B step
  // 2,618 → 2,819 µs.)
  for (var c = 0u; c < DCH_MAX; c++) {
    if (c < CHUNKS) {
      if ((STRIP & 1u) != 0u) {
        kr[c] = vec4<u32>(key * 0x00010001u + c);
      } else {
        kr[c] = kcache[(rows + min(key, last)) * CHUNKS + c];
      }
    }
  }
  // KV_I8: this key's K and V scales (the V scale rides on its probability in P·V).
  var kscale = 1.0;
  var vscale = 1.0;
  if (KV_I8) {
    kscale = kscale_of(rows + min(key, last));
    vscale = vscale_of(rows + min(key, last));
  }
  var vr: array<vec4<u32>, DCH_MAX>;   // keys slice + i·DSLICES, i < CHUNKS (= WG / DSLICES)
  if ((STRIP & 1u) != 0u) {
    for (var i = 0u; i < DCH_MAX; i++) {
      vr[i] = vec4<u32>(lid * 0x00010001u + i);
    }
  } else if (V_EARLY) {
    load_v(&vr, rows, k0 + slice, last, chunk);
  }

  // 2. RoPE: the group's q heads into workgroup memory; the new K (rotated) and V into the
  //    cache and into `dnew` (written by the split that holds the new position).
  let row = 0u; // token 0's qkv row
  for (var i = lid; i < GH * HEAD_DIM / 4u; i += WG) {
    let base = row + (h0 + (4u * i) / HEAD_DIM) * HEAD_DIM;
    let d = (4u * i) % HEAD_DIM;
    if ((STRIP & 2u) != 0u) {
      sq[i] = vec4<f32>(qkv[base + d], qkv[base + d + 1u], qkv[base + d + 2u], qkv[base + d + 3u]);
    } else {
      sq[i] = rotated4(base, d, last) * params.scale;
    }
  }
  let holds_new = last < k0 + WG;
  if (KV_I8) {
    // int8 rows: the row maxima first (a workgroup reduction, run by every workgroup: `inv`
    // holds the invocation index, so WGSL does not count holds_new as uniform), then in the
    // split that holds the new position invocation c < CHUNKS quantizes its 16 dims of K and V
    // into one vec4<u32> each.
    let kbase = row + (params.n_heads + kvh) * HEAD_DIM;
    let vbase = row + (params.n_heads + params.n_kv_heads + kvh) * HEAD_DIM;
    let d0 = min(lid, CHUNKS - 1u) * KVEC;
    var kx: array<vec4<f32>, 4>;
    var vx: array<vec4<f32>, 4>;
    var mx = vec4<f32>(0.0);
    // Only the invocations that build a chunk of the new row load and rotate it.
    for (var j = 0u; j < 4u && holds_new && lid < CHUNKS; j++) {
      let d = d0 + 4u * j;
      kx[j] = rotated4(kbase, d, last);
      vx[j] = qkv4(vbase + d);
      mx = max(mx, vec4<f32>(max4(abs(kx[j])), max4(abs(vx[j])), 0.0, 0.0));
    }
    let rm = dreduce(mx, lid, lane, sg_size, true);
    let ks = kv_i8_scale(rm.x);
    let vs = kv_i8_scale(rm.y);
    let writes = inv.wid.y % QSPLIT == 0u && (STRIP & 4u) == 0u;
    if (holds_new && lid < CHUNKS) {
      var kw = vec4<u32>(0u);
      var vw = vec4<u32>(0u);
      for (var j = 0u; j < 4u; j++) {
        kw[j] = kv_i8_word(kx[j], ks);
        vw[j] = kv_i8_word(vx[j], vs);
      }
      if (writes) {
        kcache[(rows + last) * CHUNKS + lid] = kw;
        vcache[(rows + last) * CHUNKS + lid] = vw;
      }
      dnew[lid] = kw;
      dnew[DCH_MAX + lid] = vw;
    }
    if (holds_new && writes && lid == 0u) {
      let sw = kv_scale_word(rows + last, params.n_kv_heads, params.max_pos, HEAD_DIM);
      kcache[sw / 4u][sw % 4u] = bitcast<u32>(ks);
      vcache[sw / 4u][sw % 4u] = bitcast<u32>(vs);
    }
    if (holds_new && key >= last) {
      kscale = ks;
      vscale = vs;
    }
  }
  if (!KV_I8 && holds_new && lid < CHUNKS) {
    // Invocation c builds chunk c (KVEC dims) of the new K (rotated) and V rows as whole
    // vec4<u32> words: one store each to the cache and to `dnew`.
    let kbase = row + (params.n_heads + kvh) * HEAD_DIM;
    let vbase = row + (params.n_heads + params.n_kv_heads + kvh) * HEAD_DIM;
    let d0 = lid * KVEC;
    var kw = vec4<u32>(0u);
    var vw = vec4<u32>(0u);
    for (var j = 0u; j < 4u; j++) {
      if (KV_F16) {
        let d = d0 + 2u * j;
        kw[j] = pack2x16float(vec2<f32>(rotated(kbase, d, last), rotated(kbase, d + 1u, last)));
        vw[j] = pack2x16float(vec2<f32>(qkv[vbase + d], qkv[vbase + d + 1u]));
      } else {
        kw[j] = bitcast<u32>(rotated(kbase, d0 + j, last));
        vw[j] = bitcast<u32>(qkv[vbase + d0 + j]);
      }
    }
    if (inv.wid.y % QSPLIT == 0u && (STRIP & 4u) == 0u) {
      kcache[(rows + last) * CHUNKS + lid] = kw;
      vcache[(rows + last) * CHUNKS + lid] = vw;
    }
    dnew[lid] = kw;
    dnew[DCH_MAX + lid] = vw;
  }
  workgroupBarrier();
  if (holds_new) {
    for (var c = 0u; c < DCH_MAX; c++) {
      if (c < CHUNKS && key >= last) {
        kr[c] = dnew[c];
      }
    }
    if (V_EARLY) {
      fresh_v(&vr, k0 + slice, last, chunk);
    }
  }

  // 3. Scores of this invocation's key for each query head of the group, softmax over the split.
  let visible = key <= last;
  var s = vec4<f32>(-3.0e38);
  for (var g = 0u; g < GH; g++) {
    var acc = 0.0;
    for (var c = 0u; c < DCH_MAX; c++) {
      if (c < CHUNKS) {
        acc += chunk_dot(g, kr[c], c);
      }
    }
    s[g] = select(-3.0e38, acc * kscale, visible);
  }
  var m = vec4<f32>(0.0);
  if ((STRIP & 16u) == 0u) {
    m = dreduce(s, lid, lane, sg_size, true);
  }
  let p = select(vec4<f32>(0.0), exp(s - m), visible);
  dp[lid] = p * vscale;
  var l = vec4<f32>(1.0);
  if ((STRIP & 16u) == 0u) {
    l = dreduce(p, lid, lane, sg_size, false);
  }

  // 4. P·V per query head: (slice, chunk) partials, then a sum over the slices.
  if (!V_EARLY && (STRIP & 1u) == 0u) {
    load_v(&vr, rows, k0 + slice, last, chunk);
    if (holds_new) {
      fresh_v(&vr, k0 + slice, last, chunk);
    }
  }
  // vec4<f32> of output per chunk (1, 2 or 4), summed over the slices two at a time (dacc).
  let vec4s = KVEC / 4u;
  let rounds = (vec4s + 1u) / 2u;
  for (var g = 0u; g < GH; g++) {
    // [2], [3] for int8 chunks only. Initialized explicitly: a bare `var` in this loop kept the
    // previous head's sums on lavapipe (GH > 1).
    var a = array<vec4<f32>, 4>(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
    for (var i = 0u; i < DCH_MAX; i++) {
      if (i < CHUNKS && (STRIP & 8u) == 0u) {
        let pj = dp[slice + i * DSLICES][g];
        let w = vr[i];
        if (KV_I8) {
          a[0] += pj * kv_i8_values(w.x);
          a[1] += pj * kv_i8_values(w.y);
          a[2] += pj * kv_i8_values(w.z);
          a[3] += pj * kv_i8_values(w.w);
        } else if (KV_F16) {
          a[0] += pj * vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y));
          a[1] += pj * vec4<f32>(unpack2x16float(w.z), unpack2x16float(w.w));
        } else {
          a[0] += pj * bitcast<vec4<f32>>(w);
        }
      }
    }
    let h = h0 + g;
    for (var r = 0u; r < rounds; r++) {
      dacc[2u * lid] = select(a[0], a[2], r == 1u);
      dacc[2u * lid + 1u] = select(a[1], a[3], r == 1u);
      workgroupBarrier();
      // Output vec4 o (dims 4o … 4o+3) = chunk o / vec4s, part o % vec4s (this round: parts 2r, 2r+1),
      // summed over the slices.
      for (var o = lid; o < HEAD_DIM / 4u; o += WG) {
        let c = o / vec4s;
        let part = o % vec4s;
        if (part / 2u != r) {
          continue;
        }
        var sum = vec4<f32>(0.0);
        for (var sl = 0u; sl < DSLICES; sl++) {
          sum += dacc[2u * (sl * CHUNKS + c) + part % 2u];
        }
        if (splits == 1u) {
          let ob = h * HEAD_DIM + 4u * o;
          let res = sum / l[g];
          out[ob] = res.x;
          out[ob + 1u] = res.y;
          out[ob + 2u] = res.z;
          out[ob + 3u] = res.w;
        } else {
          let pb = (h * params.splits_max + split) * HEAD_DIM + 4u * o;
          part_o[pb] = sum.x;
          part_o[pb + 1u] = sum.y;
          part_o[pb + 2u] = sum.z;
          part_o[pb + 3u] = sum.w;
        }
      }
      workgroupBarrier();
    }
    if (splits > 1u && lid == 0u) {
      part_ml[h * params.splits_max + split] = vec2<f32>(m[g], l[g]);
    }
  }
}

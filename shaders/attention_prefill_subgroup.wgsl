// Causal attention for a prefill chunk with the softmax in subgroups: the same flash-attention
// walk as attention_prefill.wgsl (a workgroup takes BQ query tokens of one query head and the
// cached keys in tiles, online softmax), laid out so a query row never leaves its subgroup.
//
//   out[t][h·D + d] = Σ_k p[t][k] · V[k][d] / Σ_k p[t][k],  p = exp(q·K[k] · scale − m), k ≤ pos0 + t
//
// Why: the tiled kernel spends most of its time in workgroup-memory traffic and five barriers per
// key tile (scores, row max, row sum and P·V each hand data to other invocations). Here subgroup s
// owns query rows 4s … 4s + 3 whole, and a key tile has one key per lane (BKEY = SG, the
// adapter's one subgroup size), so:
// - scores: lane j dots its key's staged K row with the subgroup's 4 q rows (q read as a
//   broadcast, K as 16-byte loads: one K load per 32 multiply-adds);
// - softmax: subgroupMax per row and tile, the row sum kept per lane and reduced once at the end;
// - P·V: lane c owns V words c + SG·u of the 4 rows; key j's probabilities come from lane j
//   by subgroupShuffle, no workgroup memory;
// - the next tile's K/V rows are loaded into registers while this one is computed, so each tile
//   costs two barriers (its staged rows are free; the next are stored) and no exposed load.
// Staged K/V rows are the cache's words (f16 pairs, or f32 with a zero partner) padded to whole
// 16-byte quads plus one (rows a quad apart in the banks); q is staged in the same pair layout.
// The int8 cache is staged as f16 pairs of its integers with a K and a V scale per key, as in
// attention_prefill.wgsl (same formula as decode: score · scale_K, probability · scale_V in P·V).
enable subgroups;
requires subgroup_id;

override SG: u32 = 32u;         // subgroup size (fixed on the adapters that run this) = keys per tile
override NW: u32 = 8u;          // subgroups per workgroup (BQ = 32 queries)
const RQ: u32 = 4u;             // query rows per subgroup: the components of the row vectors
override WG: u32 = NW * SG;
override BQ: u32 = NW * RQ;     // query tokens per workgroup

override HEAD_DIM: u32 = 64u;
override GROUP: u32 = 1u;       // query heads per KV head
override KV_F16: bool = true;   // staged rows are f16 pairs (also for the int8 cache)
override KV_I8: bool = false;
override ROW_WORDS: u32 = select(HEAD_DIM, HEAD_DIM / 2u, KV_F16);   // a multiple of 4 (host)
override QUADS: u32 = ROW_WORDS / 4u;
override SQUADS: u32 = QUADS + 1u;    // staged row, padded
// Quads of the K tile (and of the V tile) each invocation stages: at most SQ_MAX (host).
override SQ: u32 = (SG * QUADS + WG - 1u) / WG;
const SQ_MAX: u32 = 4u;
// V words per lane in P·V: c + SG·u for u < PV_WORDS, at most PV_MAX (host).
override PV_WORDS: u32 = (ROW_WORDS + SG - 1u) / SG;
const PV_MAX: u32 = 8u;

#include "prefill_attention_io"

#include "kv_int8"

// q row r, quad u: words 4u … 4u+3 as pairs, scaled by 1/sqrt(D) — two vec4 per quad.
var<workgroup> sq: array<vec4<f32>, BQ * QUADS * 2u>;
var<workgroup> sk: array<vec4<u32>, SG * SQUADS>;
var<workgroup> sv: array<vec4<u32>, SG * SQUADS>;
var<workgroup> skscale: array<f32, SG>;   // KV_I8: the tile's K row scales …
var<workgroup> svscale: array<f32, SG>;   // … and V row scales

// Words 4u … 4u+3 of cache row `crow` as staged words (int8: their integers as f16 pairs).
fn cache_quad(is_v: bool, crow: u32, u: u32) -> vec4<u32> {
  if (KV_I8) {
    // Staged quad u = dims 8u … 8u+7 = int8 words 2u and 2u+1.
    let base = crow * (HEAD_DIM / 4u) + 2u * u;
    var a: vec4<f32>;
    var b: vec4<f32>;
    if (is_v) {
      a = kv_i8_values(vwords[base]);
      b = kv_i8_values(vwords[base + 1u]);
    } else {
      a = kv_i8_values(kwords[base]);
      b = kv_i8_values(kwords[base + 1u]);
    }
    return vec4<u32>(pack2x16float(a.xy), pack2x16float(a.zw), pack2x16float(b.xy), pack2x16float(b.zw));
  }
  let base = crow * ROW_WORDS + 4u * u;
  if (is_v) {
    return vec4<u32>(vwords[base], vwords[base + 1u], vwords[base + 2u], vwords[base + 3u]);
  }
  return vec4<u32>(kwords[base], kwords[base + 1u], kwords[base + 2u], kwords[base + 3u]);
}

// Two staged words as (dims of word a, dims of word b): f16 pairs, or f32 values with a zero partner.
fn pairs_of(a: u32, b: u32) -> vec4<f32> {
  if (KV_F16) {
    return vec4<f32>(unpack2x16float(a), unpack2x16float(b));
  }
  return vec4<f32>(bitcast<f32>(a), 0.0, bitcast<f32>(b), 0.0);
}

fn pair_of(word: u32) -> vec2<f32> {
  if (KV_F16) {
    return unpack2x16float(word);
  }
  return vec2<f32>(bitcast<f32>(word), 0.0);
}

// q row r's quad u (staged, scaled) · a key's quad (klo, khi).
fn row_dot(r: u32, u: u32, klo: vec4<f32>, khi: vec4<f32>) -> f32 {
  let qi = 2u * (r * QUADS + u);
  return dot(sq[qi], klo) + dot(sq[qi + 1u], khi);
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(subgroup_id) sgid: u32, @builtin(subgroup_invocation_id) lane: u32) {
  let t0 = wid.x * BQ;
  let h = wid.y;
  let kvh = h / GROUP;
  let tokens = step.tokens;
  let tile_last = step.pos0 + min(t0 + BQ, tokens) - 1u;   // last key visible to any row
  let n_tiles = tile_last / SG + 1u;
  let cache_row0 = kvh * params.max_pos;

  for (var i = lid; i < BQ * QUADS; i += WG) {
    let r = i / QUADS;
    let u = i % QUADS;
    let qb = min(t0 + r, tokens - 1u) * params.q_stride + h * HEAD_DIM;
    var lo: vec4<f32>;
    var hi: vec4<f32>;
    if (KV_F16) {
      let d = qb + 8u * u;
      lo = vec4<f32>(q[d], q[d + 1u], q[d + 2u], q[d + 3u]);
      hi = vec4<f32>(q[d + 4u], q[d + 5u], q[d + 6u], q[d + 7u]);
    } else {
      let d = qb + 4u * u;
      lo = vec4<f32>(q[d], 0.0, q[d + 1u], 0.0);
      hi = vec4<f32>(q[d + 2u], 0.0, q[d + 3u], 0.0);
    }
    sq[2u * i] = lo * params.scale;
    sq[2u * i + 1u] = hi * params.scale;
  }

  // This invocation's share of a tile: quads lid + WG·e of the K and of the V tile.
  var nk: array<vec4<u32>, SQ_MAX>;
  var nv: array<vec4<u32>, SQ_MAX>;
  var nks = 0.0;
  var nvs = 0.0;
  // Loads tile `tile`'s rows into nk / nv (keys past the tile's last are clamped to it: valid rows,
  // masked below, so no NaN of an unwritten row reaches P·V).
  for (var e = 0u; e < SQ_MAX; e++) {
    let i = lid + WG * e;
    if (e < SQ && i < SG * QUADS) {
      let crow = cache_row0 + min(i / QUADS, tile_last);
      nk[e] = cache_quad(false, crow, i % QUADS);
      nv[e] = cache_quad(true, crow, i % QUADS);
    }
  }
  if (KV_I8 && lid < SG) {
    let sw = kv_scale_word(cache_row0 + min(lid, tile_last), params.n_kv_heads, params.max_pos, HEAD_DIM);
    nks = bitcast<f32>(kwords[sw]);
    nvs = bitcast<f32>(vwords[sw]);
  }

  // Row state, component i = row row0 + i: running max (alike in every lane), this lane's share
  // of the row sum at that max, and P·V accumulators per V word (.x / .y dims of the word).
  // Vectors over the 4 rows, not arrays indexed in loops: a loop around subgroup operations may
  // stay rolled, and an array it indexes would then live in local memory. (accx / accy are
  // indexed only in loops of constant trip count with no subgroup operation inside.)
  var m4 = vec4<f32>(-3.0e38);
  var l4 = vec4<f32>(0.0);
  var accx: array<vec4<f32>, PV_MAX>;
  var accy: array<vec4<f32>, PV_MAX>;
  for (var u = 0u; u < PV_MAX; u++) {
    accx[u] = vec4<f32>(0.0);
    accy[u] = vec4<f32>(0.0);
  }
  let row0 = sgid * RQ;
  // Last key each row sees (rows past the chunk repeat the last token).
  let last4 = vec4<u32>(step.pos0) + min(vec4<u32>(t0 + row0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(tokens - 1u));

  for (var tile = 0u; tile < n_tiles; tile++) {
    let k0 = tile * SG;
    workgroupBarrier();   // the previous tile's staged rows are no longer read
    for (var e = 0u; e < SQ_MAX; e++) {
      let i = lid + WG * e;
      if (e < SQ && i < SG * QUADS) {
        let at = (i / QUADS) * SQUADS + i % QUADS;
        sk[at] = nk[e];
        sv[at] = nv[e];
      }
    }
    if (KV_I8 && lid < SG) {
      skscale[lid] = nks;
      svscale[lid] = nvs;
    }
    workgroupBarrier();
    if (tile + 1u < n_tiles) {
      let nk0 = k0 + SG;
      for (var e = 0u; e < SQ_MAX; e++) {
        let i = lid + WG * e;
        if (e < SQ && i < SG * QUADS) {
          let crow = cache_row0 + min(nk0 + i / QUADS, tile_last);
          nk[e] = cache_quad(false, crow, i % QUADS);
          nv[e] = cache_quad(true, crow, i % QUADS);
        }
      }
      if (KV_I8 && lid < SG) {
        let sw = kv_scale_word(cache_row0 + min(nk0 + lid, tile_last), params.n_kv_heads, params.max_pos, HEAD_DIM);
        nks = bitcast<f32>(kwords[sw]);
        nvs = bitcast<f32>(vwords[sw]);
      }
    }

    // Scores: this lane's key against the subgroup's 4 rows.
    var s4 = vec4<f32>(0.0);
    for (var u = 0u; u < QUADS; u++) {
      let kq = sk[lane * SQUADS + u];
      let klo = pairs_of(kq.x, kq.y);
      let khi = pairs_of(kq.z, kq.w);
      s4 += vec4<f32>(
        row_dot(row0, u, klo, khi),
        row_dot(row0 + 1u, u, klo, khi),
        row_dot(row0 + 2u, u, klo, khi),
        row_dot(row0 + 3u, u, klo, khi),
      );
    }

    // Online softmax of the 4 rows at once: max over the subgroup, this lane's probabilities.
    var kscale = 1.0;
    var vscale = 1.0;
    if (KV_I8) {
      kscale = skscale[lane];
      vscale = svscale[lane];
    }
    let score4 = select(vec4<f32>(-3.0e38), s4 * kscale, vec4<u32>(k0 + lane) <= last4);
    // Key 0 is visible to every row, so after the first tile mt is a real score.
    let mt = max(m4, subgroupMax(score4));
    let p4 = select(vec4<f32>(0.0), exp(score4 - mt), score4 > vec4<f32>(-1.0e38));
    let alpha = exp(m4 - mt);
    m4 = mt;
    l4 = l4 * alpha + p4;
    let w4 = p4 * vscale;   // P·V's weights (int8: the key's V scale on them, not in the sum)
    for (var u = 0u; u < PV_MAX; u++) {
      if (u < PV_WORDS) {
        accx[u] *= alpha;
        accy[u] *= alpha;
      }
    }

    // P·V: key j's weights from lane j, this lane's V words of key j.
    for (var j = 0u; j < SG; j++) {
      let pj = subgroupShuffle(w4, j);
      for (var u = 0u; u < PV_MAX; u++) {
        if (u < PV_WORDS) {
          let w = min(lane + SG * u, ROW_WORDS - 1u);   // lanes past the row repeat its last word
          let v = pair_of(sv[j * SQUADS + w / 4u][w % 4u]);
          accx[u] += pj * v.x;
          accy[u] += pj * v.y;
        }
      }
    }
  }

  let inv4 = 1.0 / subgroupAdd(l4);
  for (var i = 0u; i < 4u; i++) {
    let r = row0 + i;
    if (t0 + r < tokens) {
      let ob = (t0 + r) * params.out_stride + h * HEAD_DIM;
      for (var u = 0u; u < PV_MAX; u++) {
        let w = lane + SG * u;
        if (u < PV_WORDS && w < ROW_WORDS) {
          if (KV_F16) {
            out[ob + 2u * w] = accx[u][i] * inv4[i];
            out[ob + 2u * w + 1u] = accy[u][i] * inv4[i];
          } else {
            out[ob + w] = accx[u][i] * inv4[i];
          }
        }
      }
    }
  }
}

// Causal attention for a prefill chunk, tiled (flash-attention style): a workgroup takes BQ query
// tokens of one query head and walks the cached keys in tiles of BKEY, with an online softmax, so
// each K/V tile is read once per BQ queries instead of once per query (the `partial` kernel of
// attention.wgsl reads it per query token and split). The rope kernel has written this chunk's
// rotated q (binding `q`) and its K/V rows into the cache first.
//
//   out[t][h·D + d] = Σ_k p[t][k] · V[k][d] / Σ_k p[t][k],  p = exp(q·K[k] · scale − m), k ≤ pos0 + t
//
// Register tiles: the scores and P·V run out of workgroup memory, whose loads (not the FMAs) bound
// this kernel, so each invocation owns a small block of outputs and reuses every loaded value
// across it: RQ = 4 query rows (g, g + 8, g + 16, g + 24 for row group g = lid / COLS) × RK keys
// (c + COLS·j) of the scores, and the same 4 rows × the V row's word columns c + COLS·u for P·V.
// WG = 128 (COLS 16, RK 2: one workgroup-memory load per 8 FMAs in both phases) or 256 (COLS 32,
// RK 1: twice the warps per workgroup for the same tiles, half the registers per invocation). The
// softmax of a tile runs with WG / BQ invocations per row. Row state (max m, sum l) lives in the
// registers of a row's softmax invocations; the P·V invocations read each tile's rescale factor
// from workgroup memory.
// Staged K/V rows are the cache's own words (f16 pairs or f32), and q is staged in the same pair
// layout; rows are padded by one word against bank conflicts.
override WG: u32 = 128u;
const BQ: u32 = 32u;            // query tokens per workgroup
const BKEY: u32 = 32u;          // keys per tile
const RQ: u32 = 4u;             // query rows per invocation (scores and P·V)
const QG: u32 = BQ / RQ;        // row groups: 8
override COLS: u32 = WG / QG;   // invocations per row group: 16 or 32
override RK: u32 = BKEY / COLS; // keys per invocation in the scores: 2 or 1
const RK_MAX: u32 = 2u;
const SPR: u32 = BKEY + 1u;     // padded row of the score / probability tile
override SMX: u32 = WG / BQ;    // softmax invocations per row: 4 or 8
override SMX_KEYS: u32 = BKEY / SMX;

override HEAD_DIM: u32 = 64u;
override GROUP: u32 = 1u;       // query heads per KV head
override KV_F16: bool = true;
// The cache holds int8 rows with a scale per row (lib/kv_int8.wgsl): their integer values are
// staged as f16 pairs (exact: |v| ≤ 127; the host then sets KV_F16 too, which describes the staged
// rows from here on) and the row scales beside them; a score is (q · K_int) · scale_K and a
// probability carries its key's V scale into P·V (not into the softmax sum) — the decode kernel's
// formula, so a prompt token computed here and the same token recomputed by decode differ only by
// f32 summation order (staging int × scale as f16 rounded every value).
override KV_I8: bool = false;
// u32 words of a cached K/V row, and of a staged (padded) one.
override ROW_WORDS: u32 = select(HEAD_DIM, HEAD_DIM / 2u, KV_F16);
override SROW: u32 = ROW_WORDS + 1u;
// Word columns of a V row per invocation, at most PV_MAX (rows of fewer than COLS words, or not a
// multiple of it, leave some invocations' columns past the row: guarded by has_word).
override PV_WORDS: u32 = (ROW_WORDS + COLS - 1u) / COLS;
const PV_MAX: u32 = 8u;

#include "prefill_attention_io"

#include "kv_int8"

var<workgroup> sq: array<vec2<f32>, BQ * SROW>;   // scaled q rows, in the K rows' pair layout
var<workgroup> sk: array<u32, BKEY * SROW>;
var<workgroup> sv: array<u32, BKEY * SROW>;
var<workgroup> sp: array<f32, BQ * SPR>;          // scores, then probabilities, of the tile
var<workgroup> smax: array<f32, WG>;              // softmax partials: max …
var<workgroup> ssum: array<f32, WG>;              // … and sum
var<workgroup> salpha: array<f32, BQ>;            // per row: this tile's rescale of the old sums
var<workgroup> sl: array<f32, BQ>;                // per row: the final softmax denominator
var<workgroup> skscale: array<f32, BKEY>;         // KV_I8: the tile's K row scales …
var<workgroup> svscale: array<f32, BKEY>;         // … and V row scales

// Whether P·V column u of invocation column c is a word of the row (c + COLS·u < ROW_WORDS).
fn has_word(c: u32, u: u32) -> bool {
  return u < PV_WORDS && c + COLS * u < ROW_WORDS;
}

// Dims (2w, 2w+1) of a staged row's word w (f16 pair), or dim w alone as (x, 0) for f32 rows.
fn pair_of(word: u32) -> vec2<f32> {
  if (KV_F16) {
    return unpack2x16float(word);
  }
  return vec2<f32>(bitcast<f32>(word), 0.0);
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let t0 = wid.x * BQ;
  let h = wid.y;
  let kvh = h / GROUP;
  let tokens = step.tokens;
  let tile_last = step.pos0 + min(t0 + BQ, tokens) - 1u;   // last key visible to any row
  let n_tiles = tile_last / BKEY + 1u;
  let cache_row0 = kvh * params.max_pos;
  // Scores and P·V: rows g + QG·i, keys c + COLS·j, V word columns c + COLS·u.
  let g = lid / COLS;
  let c = lid % COLS;
  // Softmax: row sr, keys sc·SMX_KEYS …
  let sr = lid / SMX;
  let sc = lid % SMX;

  for (var i = lid; i < BQ * ROW_WORDS; i += WG) {
    let r = i / ROW_WORDS;
    let w = i % ROW_WORDS;
    let qb = min(t0 + r, tokens - 1u) * params.q_stride + h * HEAD_DIM;
    var v: vec2<f32>;
    if (KV_F16) {
      v = vec2<f32>(q[qb + 2u * w], q[qb + 2u * w + 1u]);
    } else {
      v = vec2<f32>(q[qb + w], 0.0);
    }
    sq[r * SROW + w] = v * params.scale;
  }

  var m = -3.0e38;   // softmax state of row sr (kept alike by its SMX invocations)
  var l = 0.0;
  var acc: array<array<vec2<f32>, PV_MAX>, RQ>;
  for (var i = 0u; i < RQ; i++) {
    for (var u = 0u; u < PV_MAX; u++) {
      acc[i][u] = vec2<f32>(0.0);
    }
  }

  for (var tile = 0u; tile < n_tiles; tile++) {
    let k0 = tile * BKEY;
    workgroupBarrier();   // the previous tile's K, V and P are no longer read
    for (var i = lid; i < BKEY * ROW_WORDS; i += WG) {
      let r = i / ROW_WORDS;
      let w = i % ROW_WORDS;
      let pos = min(k0 + r, tile_last);   // keys past the tile's last are masked below
      if (KV_I8) {
        // Staged word w = dims (2w, 2w+1): half of int8 word w / 2, the integers themselves.
        let crow = cache_row0 + pos;
        let word = crow * (HEAD_DIM / 4u) + w / 2u;
        let kx = kv_i8_values(kwords[word]);
        let vx = kv_i8_values(vwords[word]);
        let hi = w % 2u == 1u;
        sk[r * SROW + w] = pack2x16float(select(kx.xy, kx.zw, hi));
        sv[r * SROW + w] = pack2x16float(select(vx.xy, vx.zw, hi));
        if (w == 0u) {
          let sw = kv_scale_word(crow, params.n_kv_heads, params.max_pos, HEAD_DIM);
          skscale[r] = bitcast<f32>(kwords[sw]);
          svscale[r] = bitcast<f32>(vwords[sw]);
        }
      } else {
        sk[r * SROW + w] = kwords[(cache_row0 + pos) * ROW_WORDS + w];
        sv[r * SROW + w] = vwords[(cache_row0 + pos) * ROW_WORDS + w];
      }
    }
    workgroupBarrier();

    // Scores: RQ × RK per invocation, each q and K word loaded once for all of them.
    var s: array<array<f32, RK_MAX>, RQ>;
    for (var i = 0u; i < RQ; i++) {
      for (var j = 0u; j < RK_MAX; j++) {
        s[i][j] = 0.0;
      }
    }
    for (var w = 0u; w < ROW_WORDS; w++) {
      var kp: array<vec2<f32>, RK_MAX>;
      for (var j = 0u; j < RK_MAX; j++) {
        if (j < RK) {
          kp[j] = pair_of(sk[(c + COLS * j) * SROW + w]);
        }
      }
      for (var i = 0u; i < RQ; i++) {
        let qp = sq[(g + QG * i) * SROW + w];
        for (var j = 0u; j < RK_MAX; j++) {
          if (j < RK) {
            s[i][j] += dot(qp, kp[j]);
          }
        }
      }
    }
    for (var i = 0u; i < RQ; i++) {
      let r = g + QG * i;
      let last_key = step.pos0 + min(t0 + r, tokens - 1u);   // rows past the chunk repeat the last
      for (var j = 0u; j < RK_MAX; j++) {
        if (j < RK) {
          let kr = c + COLS * j;
          var score = s[i][j];
          if (KV_I8) {
            score *= skscale[kr];
          }
          sp[r * SPR + kr] = select(-3.0e38, score, k0 + kr <= last_key);
        }
      }
    }
    workgroupBarrier();

    // Online softmax, SMX invocations per row.
    var pm = -3.0e38;
    for (var e = 0u; e < SMX_KEYS; e++) {
      pm = max(pm, sp[sr * SPR + sc * SMX_KEYS + e]);
    }
    smax[lid] = pm;
    workgroupBarrier();
    var mt = m;
    for (var p = 0u; p < SMX; p++) {
      mt = max(mt, smax[sr * SMX + p]);
    }
    // Key 0 is visible to every row, so after the first tile mt is a real score; masked keys
    // (−3e38) get probability 0.
    var ps = 0.0;
    for (var e = 0u; e < SMX_KEYS; e++) {
      let idx = sr * SPR + sc * SMX_KEYS + e;
      let v = sp[idx];
      let pr = select(0.0, exp(v - mt), v > -1.0e38);
      // P·V reads sp: KV_I8 puts the key's V scale on its probability there (not in the sum).
      var vscale = 1.0;
      if (KV_I8) {
        vscale = svscale[sc * SMX_KEYS + e];
      }
      sp[idx] = pr * vscale;
      ps += pr;
    }
    ssum[lid] = ps;
    let alpha = exp(m - mt);
    if (sc == 0u) {
      salpha[sr] = alpha;
    }
    m = mt;
    workgroupBarrier();
    var ts = 0.0;
    for (var p = 0u; p < SMX; p++) {
      ts += ssum[sr * SMX + p];
    }
    l = alpha * l + ts;

    // P·V: RQ rows × PV_WORDS word columns, each V word and probability loaded once for them.
    for (var i = 0u; i < RQ; i++) {
      let a = salpha[g + QG * i];
      for (var u = 0u; u < PV_MAX; u++) {
        if (u < PV_WORDS) {
          acc[i][u] *= a;
        }
      }
    }
    for (var j = 0u; j < BKEY; j++) {
      var vp: array<vec2<f32>, PV_MAX>;
      for (var u = 0u; u < PV_MAX; u++) {
        if (has_word(c, u)) {
          vp[u] = pair_of(sv[j * SROW + c + COLS * u]);
        }
      }
      for (var i = 0u; i < RQ; i++) {
        let p = sp[(g + QG * i) * SPR + j];
        for (var u = 0u; u < PV_MAX; u++) {
          if (u < PV_WORDS) {
            acc[i][u] += p * vp[u];
          }
        }
      }
    }
  }

  if (sc == 0u) {
    sl[sr] = l;
  }
  workgroupBarrier();
  for (var i = 0u; i < RQ; i++) {
    let r = g + QG * i;
    if (t0 + r < tokens) {
      let ob = (t0 + r) * params.out_stride + h * HEAD_DIM;
      let inv = 1.0 / sl[r];
      for (var u = 0u; u < PV_MAX; u++) {
        if (has_word(c, u)) {
          let w = c + COLS * u;
          if (KV_F16) {
            out[ob + 2u * w] = acc[i][u].x * inv;
            out[ob + 2u * w + 1u] = acc[i][u].y * inv;
          } else {
            out[ob + w] = acc[i][u].x * inv;
          }
        }
      }
    }
  }
}

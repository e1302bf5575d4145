// Causal attention for a prefill chunk, tiled (flash-attention style): a workgroup takes BQ query
// tokens of one query head and walks the cached keys in tiles of BKEY, with an online softmax, so
// each K/V tile is read once per BQ queries instead of once per query (the `partial` kernel of
// attention.wgsl reads it per query token and split). The rope kernel has written this chunk's
// rotated q (binding `q`) and its K/V rows into the cache first.
//
//   out[t][h·D + d] = Σ_k p[t][k] · V[k][d] / Σ_k p[t][k],  p = exp(q·K[k] · scale − m), k ≤ pos0 + t
//
// Invocation i works on query row i / 8 of the tile (8 invocations per row): for the scores it
// takes keys i % 8 + 8j, for P·V the word columns i % 8 + 8u of the V rows (consecutive
// invocations read consecutive words). Row statistics (max m, sum l) are kept by all 8
// invocations of a row alike, from the same workgroup-memory partials. The staged K/V rows are
// the cache's own words (f16 pairs or f32), rows padded by one word against bank conflicts.
const WG: u32 = 128u;
const BQ: u32 = 16u;      // query tokens per workgroup (WG / 8)
const BKEY: u32 = 32u;    // keys per tile (8 invocations × 4 keys)
const KEYS_PER_INV: u32 = 4u;

override HEAD_DIM: u32 = 64u;
override GROUP: u32 = 1u;       // query heads per KV head
override KV_F16: bool = true;
// u32 words of a cached K/V row, and of a staged (padded) one.
override ROW_WORDS: u32 = select(HEAD_DIM, HEAD_DIM / 2u, KV_F16);
override SROW: u32 = ROW_WORDS + 1u;
// Word columns of a V row per invocation (ROW_WORDS / 8), at most PV_MAX.
override PV_WORDS: u32 = ROW_WORDS / 8u;
const PV_MAX: u32 = 16u;

struct Params {
  n_heads: u32,
  n_kv_heads: u32,
  q_stride: u32,     // per token, f32
  max_pos: u32,
  splits_max: u32,   // (the split kernels' field; unused here)
  out_stride: u32,   // per token, f32
  scale: f32,        // 1 / sqrt(head_dim)
  qkv_stride: u32,   // (unused here)
}

struct Step {
  pos0: u32,
  tokens: u32,
}

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> kwords: array<u32>;
@group(0) @binding(2) var<storage, read> vwords: array<u32>;
@group(0) @binding(3) var<uniform> params: Params;
@group(0) @binding(4) var<uniform> step: Step;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

var<workgroup> sq: array<f32, BQ * (HEAD_DIM + 1u)>;   // scaled q rows, padded by one
var<workgroup> sk: array<u32, BKEY * SROW>;
var<workgroup> sv: array<u32, BKEY * SROW>;
var<workgroup> sp: array<f32, BQ * BKEY>;              // probabilities of the tile
var<workgroup> smax: array<f32, WG>;                   // per-invocation partial max
var<workgroup> ssum: array<f32, WG>;                   // per-invocation partial sum

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
  let row = lid / 8u;                     // query row of the tile
  let col = lid % 8u;
  let t = min(t0 + row, tokens - 1u);     // this row's token (rows past the chunk repeat the last)
  let last_key = step.pos0 + t;           // last key visible to this row
  let tile_last = step.pos0 + min(t0 + BQ, tokens) - 1u;   // … to any row of the tile
  let n_tiles = tile_last / BKEY + 1u;
  let cache_row0 = kvh * params.max_pos;

  for (var i = lid; i < BQ * HEAD_DIM; i += WG) {
    let r = i / HEAD_DIM;
    let d = i % HEAD_DIM;
    let tr = min(t0 + r, tokens - 1u);
    sq[r * (HEAD_DIM + 1u) + d] = q[tr * params.q_stride + h * HEAD_DIM + d] * params.scale;
  }

  var m = -3.0e38;
  var l = 0.0;
  var acc: array<vec2<f32>, PV_MAX>;
  for (var u = 0u; u < PV_MAX; u++) {
    acc[u] = vec2<f32>(0.0);
  }

  for (var tile = 0u; tile < n_tiles; tile++) {
    let k0 = tile * BKEY;
    workgroupBarrier();   // the previous tile's K, V and P are no longer read
    for (var i = lid; i < BKEY * ROW_WORDS; i += WG) {
      let r = i / ROW_WORDS;
      let w = i % ROW_WORDS;
      let pos = min(k0 + r, tile_last);   // keys past the tile's last are masked below
      sk[r * SROW + w] = kwords[(cache_row0 + pos) * ROW_WORDS + w];
      sv[r * SROW + w] = vwords[(cache_row0 + pos) * ROW_WORDS + w];
    }
    workgroupBarrier();

    // Scores of keys col + 8j; each q word is read once for the four keys.
    var s: array<f32, KEYS_PER_INV>;
    for (var j = 0u; j < KEYS_PER_INV; j++) {
      s[j] = 0.0;
    }
    let qrow = row * (HEAD_DIM + 1u);
    for (var w = 0u; w < ROW_WORDS; w++) {
      var qp: vec2<f32>;
      if (KV_F16) {
        qp = vec2<f32>(sq[qrow + 2u * w], sq[qrow + 2u * w + 1u]);
      } else {
        qp = vec2<f32>(sq[qrow + w], 0.0);
      }
      for (var j = 0u; j < KEYS_PER_INV; j++) {
        s[j] += dot(qp, pair_of(sk[(col + 8u * j) * SROW + w]));
      }
    }
    var tmax = -3.0e38;
    for (var j = 0u; j < KEYS_PER_INV; j++) {
      s[j] = select(-3.0e38, s[j], k0 + col + 8u * j <= last_key);
      tmax = max(tmax, s[j]);
    }
    smax[lid] = tmax;
    workgroupBarrier();
    var mt = m;
    for (var c = 0u; c < 8u; c++) {
      mt = max(mt, smax[row * 8u + c]);
    }
    // Key 0 is visible to every row, so after the first tile mt is a real score.
    var psum = 0.0;
    for (var j = 0u; j < KEYS_PER_INV; j++) {
      let kr = col + 8u * j;
      let p = select(0.0, exp(s[j] - mt), k0 + kr <= last_key);
      sp[row * BKEY + kr] = p;
      psum += p;
    }
    ssum[lid] = psum;
    workgroupBarrier();
    let alpha = exp(m - mt);
    var tsum = 0.0;
    for (var c = 0u; c < 8u; c++) {
      tsum += ssum[row * 8u + c];
    }
    l = alpha * l + tsum;
    m = mt;

    // P·V on this row's word columns col + 8u.
    for (var u = 0u; u < PV_MAX; u++) {
      if (u < PV_WORDS) {
        acc[u] *= alpha;
      }
    }
    for (var j = 0u; j < BKEY; j++) {
      let p = sp[row * BKEY + j];
      for (var u = 0u; u < PV_MAX; u++) {
        if (u < PV_WORDS) {
          acc[u] += p * pair_of(sv[j * SROW + col + 8u * u]);
        }
      }
    }
  }

  if (t0 + row < tokens) {
    let ob = (t0 + row) * params.out_stride + h * HEAD_DIM;
    let inv = 1.0 / l;
    for (var u = 0u; u < PV_MAX; u++) {
      if (u < PV_WORDS) {
        let w = col + 8u * u;
        if (KV_F16) {
          out[ob + 2u * w] = acc[u].x * inv;
          out[ob + 2u * w + 1u] = acc[u].y * inv;
        } else {
          out[ob + w] = acc[u].x * inv;
        }
      }
    }
  }
}

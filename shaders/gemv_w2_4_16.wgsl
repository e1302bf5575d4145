// 2/4/16-bit GEMV (decode; batched over tokens in grid z for prefill), docs/FORMAT.md scheme w2-4-16: groups of 64 weights along K,
// each 2-bit (value s·(q − 1.5)) or 4-bit (s·(q − 7.5)); the same number n4 of 4-bit groups in
// every row, stored in slot order: the row's n2 = nG − n4 2-bit groups in K order (slot j < n2 at
// vec4 j), then its 4-bit groups (slot j ≥ n2 at vec4 2j − n2); two-level scales
// s = rowScale · code; sparse f16 residuals (CSR) added at the end.
//
// Two kernels, one interface (f32 activations):
//  - X16 (default): 16-bit fixed-point activations split into two int8 halves, staged once per
//    workgroup (stage_x16.wgsl, RMSNorm fused with NORM), and dot4I8Packed in i32; with X8 the
//    row is int8 (s = max|x| / 127, hi halves 0) and only the lo halves are staged and multiplied. Per group
//    Σ s_g (q − 7.5) x = s_x · rowScale · c_g · (2 Σ q·v − 15 Σ v) / 2 (2-bit: − 3 Σ v), the
//    bracket exact in i32 (|·| ≤ 2·15·32639·64 + 15·32639·64 < 2^27). The row is staged in the
//    2-bit words' lane order: byte j of (w >> 2s) & 0x03030303 is weight 4j + s, so a 2-bit chunk
//    of 16 weights costs 3 shifts, 4 masks and 8 dot4I8Packed. A 4-bit chunk (two words a, b) is
//    rearranged to the same lanes, lo = (a & 0xFFFF) | (b << 16) (columns 0-3, 8-11) and
//    hi = (a >> 16) | (b & 0xFFFF0000) (4-7, 12-15), then word s = ((lo >> 4s) & 0x000F000F) |
//    (((hi >> 4s) & 0x000F000F) << 8) (about 24 operations per 16 weights). The other order (stage
//    for the 4-bit words, rearrange the 2-bit ones) costs more: 2-bit groups are 3/4 of them.
//    Slots: every invocation walks its row's slots, TPR apart. A step's slot is of the same kind
//    in every row (rows share n2), so lanes of a subgroup run one kind's code except where a step
//    straddles the 2-bit / 4-bit boundary (rows mix the kinds at random in K order). A slot's
//    words sit at an offset known from j alone, so the first step's weight loads are issued
//    before anything else; while they are in flight the workgroup decodes a per-tile schedule
//    into workgroup memory — per row and slot, the group's index and scale code, which the
//    multiplies need (its loads issued at once, one round trip), and the row is quantized with
//    the activations swizzled against bank conflicts (stage_x16.wgsl). In version-1 packs the
//    words were in K order and their offsets came from the schedule: two dependent round trips
//    and a barrier before the first weight load. UNROLL groups per step, all their loads issued
//    first; the first outlier entries are loaded with the first step's weights.
//    SCALES_IN_SHARED must be on (the schedule is the tile's decoded groups and scale codes).
//    With the flag X16_BLOCKS (prefill): the same schedule and math on activations the standalone
//    quantizer (rmsnorm.wgsl, X16_OUT, X16_TRANSPOSE lane order, no swizzle) wrote for the whole
//    chunk of tokens, read from global memory, TOKENS consecutive tokens per workgroup (grid z =
//    token block): each group's weights are loaded and widened once for the block.
//  - otherwise, the f32 baseline: asynchronous dequantization — each invocation issues the load
//    of its first group's weights, then the workgroup decodes every group scale and word offset
//    of its tile into workgroup memory (independent of the weights), one barrier, then the math
//    in f32 against f32 activations read from global memory. With SCALES_IN_SHARED = 0 every
//    invocation decodes its own groups' scale and offset inline instead.
#if SUBGROUP_BUILTINS
enable subgroups;
#endif

override WG: u32 = 256u;
override TPR: u32 = 32u;
// Tile slots: rows per workgroup × groups per row.
override SCALE_SLOTS: u32 = 8u;
override SCALES_IN_SHARED: bool = true;
override ACCUMULATE: bool = false;
// Rows are (gate, up) pairs: write silu(gate)·up, one output per pair.
override GATED: bool = false;
// X16: normalize the row (RMSNorm fused) before quantizing it.
override NORM: bool = false;
// Diagnostic (the gemv bench suite; results are wrong with any bit), X16 staged kernel only: parts
// left out to see where its time goes. 1: the row's staging (loads, norm, quantization); 2: the
// schedule (slot j is group j with code 1); 4: the multiplies (the loaded words are folded into
// the sum); 8: the weight loads (words made from the slot index); 16: the schedule kept, but each
// slot's group taken as its slot index (the lanes of a row read consecutive activation chunks,
// as with 2, while the schedule's loads, barrier and reads stay).
override STRIP: u32 = 0u;

struct Params {
  n_rows: u32,
  groups: u32,       // nG = Kp / 64
  row_words: u32,    // u32 words of weights per row
  row0: u32,
  wg_per_row_x: u32,
  x_stride: u32,    // per token, in units of the x binding's element type
  y_stride: u32,    // per token, in f32
  mask_words: u32,   // ceil(nG / 32)
  code_words: u32,   // ceil(nG / 4)
  k: u32,            // X16: features per token (the norm's mean is over these)
  eps: f32,          // X16 with NORM: RMSNorm epsilon
  n4: u32,           // 4-bit groups per row
}

@group(0) @binding(0) var<storage, read> mask: array<u32>;
@group(0) @binding(1) var<storage, read> qweight: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> row_scale: array<f32>;
@group(0) @binding(3) var<storage, read> scale_codes: array<u32>;
@group(0) @binding(4) var<storage, read> outlier_row_ptr: array<u32>;
@group(0) @binding(5) var<storage, read> outliers: array<u32>;
#if X16
#if X16_BLOCKS
// Per token: x_stride vec4 (hi, lo per chunk of 16), x_stride / 8 sums (one per 64 features), a scale.
@group(0) @binding(6) var<storage, read> xq: array<vec4<u32>>;
@group(0) @binding(7) var<storage, read> xsum: array<i32>;
@group(0) @binding(8) var<storage, read> xscale: array<f32>;
@group(0) @binding(9) var<storage, read_write> y: array<f32>;
@group(0) @binding(10) var<uniform> params: Params;
#else
@group(0) @binding(6) var<storage, read> xf: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read> norm_w: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> y: array<f32>;
@group(0) @binding(9) var<uniform> params: Params;
#endif
#else
@group(0) @binding(6) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> y: array<f32>;
@group(0) @binding(8) var<uniform> params: Params;
#endif

#include "gemv_common"
#include "row_sum"

#include "w2_slots"

// Word offset of group g in its row, with the 4-bit flag (W2_IS4) in the top bit.
fn group_info(row: u32, g: u32) -> u32 {
  return w2_group_word(row * params.mask_words, g, params.groups - params.n4);
}

fn group_scale(row: u32, g: u32) -> f32 {
  let code = (scale_codes[row * params.code_words + g / 4u] >> (8u * (g % 4u))) & 0xFFu;
  return row_scale[row] * f32(code);
}

#if X16
// Outside the #if: a snippet is spliced where it is first included, before #if is resolved.
#include "x16_pack"
#if !X16_BLOCKS
#include "wg_reduce"
#include "stage_row"
#include "stage_x16"
#endif

// The tile's schedule: per row (slots local_row · groups …), its 2-bit groups in K order, then
// its 4-bit groups (the order their words are stored in); entry = group (bits 0-11) | scale code
// (24-31), as sched_get returns it.
#if SCHED16
// 16-bit entries, group (bits 0-7: nG ≤ 256, MASK_MAX) | code (8-15), two per word: half the
// workgroup memory (8 → 4 KB at K 4096, 32 rows), so more tiles fit an SM. A word's two slots
// may belong to two invocations' octets (a run of slots starts at any parity), so each ORs its
// half into the word, which starts at 0 (WGSL zero-initializes workgroup memory). SCHED_WORDS =
// ⌈SCALE_SLOTS / 2⌉, set by the host.
override SCHED_WORDS: u32 = 4u;
var<workgroup> sched: array<atomic<u32>, SCHED_WORDS>;

fn sched_put(i: u32, g: u32, code: u32) {
  atomicOr(&sched[i >> 1u], (g | (code << 8u)) << (16u * (i & 1u)));
}

fn sched_get(i: u32) -> u32 {
  let h = atomicLoad(&sched[i >> 1u]) >> (16u * (i & 1u));
  return (h & 0xFFu) | ((h & 0xFF00u) << 16u);
}
#else
var<workgroup> sched: array<u32, SCALE_SLOTS>;

fn sched_put(i: u32, g: u32, code: u32) {
  sched[i] = g | (code << 24u);
}

fn sched_get(i: u32) -> u32 {
  return sched[i];
}
#endif

// Chunks (groups) per step, all their loads issued first: UNROLL ≤ UNROLL_MAX, set by the host
// (more loads in flight per invocation on GPUs; few on CPU adapters, where unrolled dot4I8Packed
// costs compile time and buys nothing).
const UNROLL_MAX: u32 = 16u;
override UNROLL: u32 = 4u;
// Mask words per row at most: the staged row holds ≤ 16384 features (XCH_MAX · WG chunks of 16),
// so nG ≤ 256 groups.
const MASK_MAX: u32 = 8u;
// Outlier entries per invocation loaded before the main loop (most rows have ~0.5% of K, i.e.
// one or two per invocation); the rest, if any, are read after it.
const OUT_PF: u32 = 4u;

// The schedule, one invocation per octet (8 groups) of a row: it loads the row's mask words up to
// the octet's (rank4 before it) and the octet's two scale-code words, every load at once with a
// constant trip count and no load depending on another, then writes the 8 entries from registers
// (one memory round trip, overlapped with the first weight loads).
fn schedule_tile(me: GemvTile) {
  let ng = params.groups;
  let n2 = ng - params.n4;
  let octets = (ng + 7u) / 8u;
  for (var i = me.lid; i < (WG / TPR) * octets; i += WG) {
    let lr = i / octets;
    let o = i % octets;
    let r = min(me.tile_row0 + lr, params.n_rows - 1u);
    let m = o / 4u;
    let mbase = r * params.mask_words;
    let cbase = r * params.code_words;
    let c0 = scale_codes[cbase + 2u * o];
    let c1 = scale_codes[cbase + min(2u * o + 1u, params.code_words - 1u)];
    var rank = 0u; // 4-bit groups before the octet
    var word = 0u; // the octet's mask word
    for (var k = 0u; k < MASK_MAX; k++) {
      let w = mask[mbase + min(k, m)];
      rank += select(0u, countOneBits(w), k < m);
      word = select(word, w, k == m);
    }
    let shift = 8u * (o % 4u);
    rank += countOneBits(word & ((1u << shift) - 1u));
    let bits = word >> shift;
    for (var k = 0u; k < 8u; k++) {
      let g = 8u * o + k;
      if (g < ng) {
        let is4 = ((bits >> k) & 1u) != 0u;
        let code = (select(c0, c1, k >= 4u) >> (8u * (k % 4u))) & 0xFFu;
        let slot = select(g - rank, n2 + rank, is4);
        sched_put(lr * ng + slot, g, code);
        rank += select(0u, 1u, is4);
      }
    }
  }
}

// The four lane words of a 2-bit word (16 weights), in the staged order.
fn lanes2(w: u32) -> vec4<u32> {
  return (vec4<u32>(w) >> vec4<u32>(0u, 2u, 4u, 6u)) & vec4<u32>(0x03030303u);
}

// The four lane words of two 4-bit words a (weights 0-7), b (8-15), in the staged order: word s
// holds weights (s, 4+s, 8+s, 12+s).
fn lanes4(a: u32, b: u32) -> vec4<u32> {
  let lo = (a & 0xFFFFu) | (b << 16u);       // weights 0-3 | 8-11
  let hi = (a >> 16u) | (b & 0xFFFF0000u);   // weights 4-7 | 12-15
  let m = 0x000F000Fu;
  let n = 0x0F000F00u;
  return vec4<u32>(
    (lo & m) | ((hi << 8u) & n),
    ((lo >> 4u) & m) | ((hi << 4u) & n),
    ((lo >> 8u) & m) | (hi & n),
    ((lo >> 12u) & m) | ((hi >> 4u) & n),
  );
}

// One step's weights: UNROLL slots of the row's schedule (2-bit slots j < n2, 4-bit after).
var<private> e: array<u32, UNROLL_MAX>;
var<private> wa: array<vec4<u32>, UNROLL_MAX>;
var<private> wb: array<vec4<u32>, UNROLL_MAX>;

// Slot j of the row for step `step`, unroll u.
fn slot_of(me: GemvTile, step: u32, u: u32) -> u32 {
  return me.t + (step * UNROLL + u) * TPR;
}

// The step's UNROLL weight loads. Slot j's vec4 offset in the row follows from j (2-bit slots one
// vec4 each, then 4-bit slots two), so no load waits on the schedule.
fn load_weights(me: GemvTile, step: u32, rbase: u32, n2: u32) {
  let ng = params.groups;
  for (var u = 0u; u < UNROLL; u++) {
    let j = slot_of(me, step, u);
    let jj = min(j, ng - 1u);
    if ((STRIP & 8u) != 0u) {
      wa[u] = vec4<u32>(jj, jj >> 1u, jj >> 2u, jj >> 3u);
      wb[u] = wa[u] >> vec4<u32>(4u);
      continue;
    }
    let off = rbase + select(jj, 2u * jj - n2, jj >= n2);
    wa[u] = qweight[off];
    if (j >= n2 && j < ng) {
      wb[u] = qweight[off + 1u];
    }
  }
}

// The step's UNROLL schedule entries (after the schedule's barrier).
fn read_entries(me: GemvTile, step: u32) {
  let ng = params.groups;
  for (var u = 0u; u < UNROLL; u++) {
    let jj = min(slot_of(me, step, u), ng - 1u);
    if ((STRIP & 2u) != 0u) {
      e[u] = jj | (1u << 24u);
    } else if ((STRIP & 16u) != 0u) {
      e[u] = (sched_get(me.local_row * ng + jj) & 0xFF000000u) | jj;
    } else {
      e[u] = sched_get(me.local_row * ng + jj);
    }
  }
}

// Slot u of the step's group (2-bit: one word per chunk of 16; 4-bit: two) widened to the
// staged lane order, one vec4 per chunk of 16.
fn group_lanes(u: u32, is4: bool) -> array<vec4<u32>, 4> {
  var q: array<vec4<u32>, 4>;
  for (var b = 0u; b < 4u; b++) {
    if (is4) {
      let pair = select(wa[u], wb[u], b >= 2u);
      q[b] = lanes4(pair[2u * (b % 2u)], pair[2u * (b % 2u) + 1u]);
    } else {
      q[b] = lanes2(wa[u][b]);
    }
  }
  return q;
}

#if X16_BLOCKS
// Tokens per workgroup (≤ TT_MAX).
const TT_MAX: u32 = 8u;
override TOKENS: u32 = 8u;

@compute @workgroup_size(WG)
fn main(inv: GemvInvocation) {
  let me = gemv_tile(inv);
  let safe_row = min(me.row, params.n_rows - 1u);
  let rbase = safe_row * params.row_words / 4u;
  let ng = params.groups;
  let n2 = ng - params.n4;
  let o_begin = outlier_row_ptr[safe_row] + me.t;
  let o_end = outlier_row_ptr[safe_row + 1u];
  let rscale = row_scale[safe_row];
  load_weights(me, 0u, rbase, n2);
  schedule_tile(me);
  workgroupBarrier();

  let tok0 = me.token * TOKENS;
  let sum_stride = params.x_stride / 8u;
  let steps = (ng + UNROLL * TPR - 1u) / (UNROLL * TPR);
  var acc: array<f32, TT_MAX>;  // Σ_groups c_g · (2 Σ q·v − k Σ v)
  var oacc: array<f32, TT_MAX>; // Σ residual · v
  for (var step = 0u; step < steps; step++) {
    if (step != 0u) {
      load_weights(me, step, rbase, n2);
    }
    read_entries(me, step);
    if (me.live) {
      for (var u = 0u; u < UNROLL; u++) {
        let j = slot_of(me, step, u);
        if (j < ng) {
          let is4 = j >= n2;
          let g = e[u] & 0xFFFu;
          let q = group_lanes(u, is4);
          let code = f32(e[u] >> 24u);
          let k = select(3, 15, is4);
          for (var tt = 0u; tt < TT_MAX; tt++) {
            if (tt < TOKENS) {
              // Group g is the token's chunks of 16 4g … 4g + 3: vec4 8g … 8g + 7.
              let xo = (tok0 + tt) * params.x_stride + 8u * g;
              var d = 0;
              for (var b = 0u; b < 4u; b++) {
                d += dot_x16_words(q[b], xq[xo + 2u * b], xq[xo + 2u * b + 1u]);
              }
              acc[tt] += code * f32(2 * d - k * xsum[(tok0 + tt) * sum_stride + g]);
            }
          }
        }
      }
    }
  }
  if (me.live) {
    // Sparse f16 residuals of this row (column in the low 16 bits, f16 residual in the high).
    for (var i = o_begin; i < o_end; i += TPR) {
      let o = outliers[i];
      let col = o & 0xFFFFu;
      let r = unpack2x16float(o).y;
      for (var tt = 0u; tt < TT_MAX; tt++) {
        if (tt < TOKENS) {
          let xo = (tok0 + tt) * params.x_stride + 2u * (col / 16u);
          oacc[tt] += r * f32(x16_column(xq[xo], xq[xo + 1u], col % 16u));
        }
      }
    }
  }
  for (var tt = 0u; tt < TOKENS; tt++) {
    let t = min(tt, TT_MAX - 1u);
    let total = row_sum(0.5 * rscale * acc[t] + oacc[t], me);
    store_row(total * xscale[tok0 + tt], me, params.row0, (tok0 + tt) * params.y_stride);
  }
}
#else
fn group_sumv(g: u32) -> i32 {
  return ssum[4u * g] + ssum[4u * g + 1u] + ssum[4u * g + 2u] + ssum[4u * g + 3u];
}

// Σ residual · v of one outlier entry (column in the low 16 bits, f16 residual in the high).
fn outlier_dot(o: u32) -> f32 {
  return unpack2x16float(o).y * f32(x16_value(o & 0xFFFFu));
}

@compute @workgroup_size(WG)
fn main(inv: GemvInvocation) {
  let me = gemv_tile(inv);
  // Rows past the piece's end work on the last row (in bounds) and are never stored.
  let safe_row = min(me.row, params.n_rows - 1u);
  let rbase = safe_row * params.row_words / 4u; // vec4 index (rows are whole vec4s)
  let ng = params.groups;
  let n2 = ng - params.n4; // ≥ 1 for every nG (n4 ≈ nG / 4)

  // Every load here depends on nothing, so all are in flight at once: the first step's weights,
  // the token's f32 row (staged below), the row's outlier range and its scale (read after the
  // main loop, it was one more round trip at the very end), and the schedule's.
  load_weights(me, 0u, rbase, n2);
  if ((STRIP & 1u) == 0u) {
    stage_row_load(me);
  }
  let o_begin = outlier_row_ptr[safe_row] + me.t;
  let o_end = outlier_row_ptr[safe_row + 1u];
  let rscale = row_scale[safe_row];
  if ((STRIP & 2u) == 0u) {
    schedule_tile(me);
  }
  workgroupBarrier();
  read_entries(me, 0u);
  // One pass over the row's ng slots, UNROLL · TPR per step: the 2-bit slots, then the 4-bit ones.
  // Every row has the same n2, so a step's slot (step, u) is of one kind for all rows and, unless
  // its TPR slots straddle n2, for the whole row: the kinds' code runs side by side in at most one
  // such slot per row. Two passes (one per kind, each rounded up to whole steps) took 3 steps at
  // K = 4096 with TPR 8 (48 2-bit + 16 4-bit groups, 32 slots a step) where this takes 2, and 2
  // where this takes 1 at TPR 32 (o): one dependent weight round trip fewer per invocation.
  let steps = (ng + UNROLL * TPR - 1u) / (UNROLL * TPR);
  // The first outlier entries are in flight while the row is quantized (their range arrived with
  // the schedule's loads).
  var opf: array<u32, OUT_PF>;
  for (var k = 0u; k < OUT_PF; k++) {
    opf[k] = outliers[min(o_begin + k * TPR, max(o_end, 1u) - 1u)];
  }
  var x_scale = 1.0;
  if ((STRIP & 1u) == 0u) {
    x_scale = stage_x16_loaded(me);
  }
  var acc = 0.0;  // Σ_groups c_g · (2 Σ q·v − k Σ v)
  var oacc = 0.0; // Σ residual · v
  for (var step = 0u; step < steps; step++) {
    if (step != 0u) {
      load_weights(me, step, rbase, n2);
      read_entries(me, step);
    }
    if (me.live) {
      for (var u = 0u; u < UNROLL; u++) {
        let j = slot_of(me, step, u);
        if (j < ng && (STRIP & 4u) != 0u) {
          let f = wa[u] ^ wb[u];
          acc += f32((f.x ^ f.y ^ f.z ^ f.w) & 0xFFu);
        } else if (j < ng) {
          let is4 = j >= n2;
          let g = e[u] & 0xFFFu;
          let q = group_lanes(u, is4);
          var d = 0;
          for (var b = 0u; b < 4u; b++) {
            d += dot_x16_at(q[b], x16_slot_t(g, b, 0u), x16_slot_t(g, b, 1u));
          }
          acc += f32(e[u] >> 24u) * f32(2 * d - select(3, 15, is4) * group_sumv(g));
        }
      }
    }
  }
  if (me.live) {
    // Sparse f16 residuals of this row, against the staged v (the same s_x).
    for (var k = 0u; k < OUT_PF; k++) {
      if (o_begin + k * TPR < o_end) {
        oacc += outlier_dot(opf[k]);
      }
    }
    for (var i = o_begin + OUT_PF * TPR; i < o_end; i += TPR) {
      oacc += outlier_dot(outliers[i]);
    }
  }
  let mine = 0.5 * rscale * acc + oacc;
  store_row(row_sum(mine, me) * x_scale, me, params.row0, me.token * params.y_stride);
}
#endif
#else
#include "nibbles"

// Per tile slot: group scale, and word offset | (is 4-bit) << 31.
var<workgroup> sscale: array<f32, SCALE_SLOTS>;
var<workgroup> sinfo: array<u32, SCALE_SLOTS>;

// Σ q·x and Σ x over one word of sixteen 2-bit weights against x[0..15] = X0..X3.
fn dot_u2x16(w: u32, X0: vec4<f32>, X1: vec4<f32>, X2: vec4<f32>, X3: vec4<f32>) -> vec2<f32> {
  // Byte j of (w >> 2s) & 0x03030303 is weight 4j + s.
  let cols = transpose(mat4x4<f32>(X0, X1, X2, X3)); // cols[s] = (x[s], x[4+s], x[8+s], x[12+s])
  let qx = dot(vec4<f32>(unpack4xU8(w & 0x03030303u)), cols[0])
         + dot(vec4<f32>(unpack4xU8((w >> 2u) & 0x03030303u)), cols[1])
         + dot(vec4<f32>(unpack4xU8((w >> 4u) & 0x03030303u)), cols[2])
         + dot(vec4<f32>(unpack4xU8((w >> 6u) & 0x03030303u)), cols[3]);
  return vec2<f32>(qx, dot(X0 + X1 + X2 + X3, vec4<f32>(1.0)));
}

fn group_dot(row: u32, g: u32, info: u32, first: vec4<u32>, xo: u32) -> vec2<f32> {
  let wbase = (row * params.row_words + (info & ~W2_IS4)) / 4u; // vec4 index
  let xb = xo + 16u * g;
  var s = vec2<f32>(0.0);
  if ((info & W2_IS4) != 0u) {
    let w1 = qweight[wbase + 1u];
    s = dot_u4x8(first.x, x[xb], x[xb + 1u]) + dot_u4x8(first.y, x[xb + 2u], x[xb + 3u])
      + dot_u4x8(first.z, x[xb + 4u], x[xb + 5u]) + dot_u4x8(first.w, x[xb + 6u], x[xb + 7u])
      + dot_u4x8(w1.x, x[xb + 8u], x[xb + 9u]) + dot_u4x8(w1.y, x[xb + 10u], x[xb + 11u])
      + dot_u4x8(w1.z, x[xb + 12u], x[xb + 13u]) + dot_u4x8(w1.w, x[xb + 14u], x[xb + 15u]);
    return vec2<f32>(s.x - 7.5 * s.y, 0.0);
  }
  s = dot_u2x16(first.x, x[xb], x[xb + 1u], x[xb + 2u], x[xb + 3u])
    + dot_u2x16(first.y, x[xb + 4u], x[xb + 5u], x[xb + 6u], x[xb + 7u])
    + dot_u2x16(first.z, x[xb + 8u], x[xb + 9u], x[xb + 10u], x[xb + 11u])
    + dot_u2x16(first.w, x[xb + 12u], x[xb + 13u], x[xb + 14u], x[xb + 15u]);
  return vec2<f32>(s.x - 1.5 * s.y, 0.0);
}

@compute @workgroup_size(WG)
fn main(inv: GemvInvocation) {
  let me = gemv_tile(inv);
  let xo = me.token * params.x_stride;
  let safe_row = min(me.row, params.n_rows - 1u);

  // First weight load in flight before the scale work.
  var first_info = 0u;
  var w = vec4<u32>(0u);
  if (me.live && me.t < params.groups) {
    first_info = group_info(me.row, me.t);
    w = qweight[(me.row * params.row_words + (first_info & ~W2_IS4)) / 4u];
  }
  if (SCALES_IN_SHARED) {
    for (var i = me.lid; i < (WG / TPR) * params.groups; i += WG) {
      let r = min(me.tile_row0 + i / params.groups, params.n_rows - 1u);
      let g = i % params.groups;
      sscale[i] = group_scale(r, g);
      sinfo[i] = group_info(r, g);
    }
    workgroupBarrier();
  }

  var acc = 0.0;
  if (me.live) {
    for (var g = me.t; g < params.groups; g += TPR) {
      var info = first_info;
      var scale = 0.0;
      if (SCALES_IN_SHARED) {
        info = sinfo[me.local_row * params.groups + g];
        scale = sscale[me.local_row * params.groups + g];
      } else {
        if (g != me.t) {
          info = group_info(me.row, g);
        }
        scale = group_scale(me.row, g);
      }
      if (g != me.t) {
        w = qweight[(me.row * params.row_words + (info & ~W2_IS4)) / 4u];
      }
      acc += scale * group_dot(me.row, g, info, w, xo).x;
    }
    // Sparse f16 residuals of this row.
    for (var i = outlier_row_ptr[safe_row] + me.t; i < outlier_row_ptr[safe_row + 1u]; i += TPR) {
      let e = outliers[i];
      let col = e & 0xFFFFu;
      acc += unpack2x16float(e).y * x[xo + col / 4u][col % 4u];
    }
  }
  store_row(row_sum(acc, me), me, params.row0, me.token * params.y_stride);
}
#endif

// Token choice on the GPU, one workgroup; the id lands in ids[0] (the next step's embedding
// input) and history[pos0 + tokens] (the sequence so far), so nothing but that id ever leaves
// the GPU. Hugging Face semantics (src/model/sampling-reference.ts is the reference):
// repetition penalty over every previous id → greedy argmax (lowest index on ties), or
// temperature → top-k (ties kept) → top-p (nucleus) → inverse-CDF draw (the first index, in
// index order, whose running sum exceeds u · total). Thresholds are found by bisection over the
// bit patterns of positive f32 values (monotone as u32), so the k-th largest value is found
// exactly, without sorting. u comes from mulberry32, whose state lives on the GPU, so a seed
// gives the same stream as the CPU reference. One workgroup walks the whole vocabulary once per
// pass (about 35 passes with top-p), so every pass keeps several loads in flight per invocation
// (LOADS_IN_FLIGHT greedy, SCAN_UNROLL sampled), in the same summation order as a plain loop.

override WG: u32 = 256u;

struct Step {
  pos0: u32,
  tokens: u32,
}

var<workgroup> best_v: array<f32, WG>;
var<workgroup> best_i: array<u32, WG>;

fn better(v: f32, i: u32, w: f32, j: u32) -> bool {
  return v > w || (v == w && i < j);
}

struct SampleParams {
  vocab: u32,
  greedy: u32,         // 1 = argmax after the penalty (temperature <= 0)
  top_k: u32,          // 0 = off
  top_p: f32,          // >= 1 = off
  inv_temperature: f32,
  penalty: f32,        // 1 = off
}

@group(0) @binding(0) var<storage, read> s_logits: array<f32>;
@group(0) @binding(1) var<storage, read_write> s_ids: array<u32>;
@group(0) @binding(2) var<uniform> s_params: SampleParams;
@group(0) @binding(3) var<uniform> s_step: Step;
@group(0) @binding(4) var<storage, read_write> s_history: array<u32>;
@group(0) @binding(5) var<storage, read_write> work: array<f32>;      // [vocab] scratch
@group(0) @binding(6) var<storage, read_write> rng_state: array<u32>; // [1]

override VOCAB_WORDS: u32 = 1u; // ceil(vocab / 32): the penalty bitmap
var<workgroup> seen: array<atomic<u32>, VOCAB_WORDS>;
var<workgroup> red_f: array<f32, WG>;
var<workgroup> slice_mass: array<f32, WG>;
var<workgroup> draw_slice: u32;
var<workgroup> draw_start: f32;
var<workgroup> draw_target: f32;

fn sum_f(v: f32, lid: u32) -> f32 {
  red_f[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { red_f[lid] += red_f[lid + s]; }
    workgroupBarrier();
  }
  let r = workgroupUniformLoad(&red_f[0]);
  workgroupBarrier();
  return r;
}

fn max_f(v: f32, lid: u32) -> f32 {
  red_f[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { red_f[lid] = max(red_f[lid], red_f[lid + s]); }
    workgroupBarrier();
  }
  let r = workgroupUniformLoad(&red_f[0]);
  workgroupBarrier();
  return r;
}

// mulberry32, identical to the CPU reference (u32 arithmetic wraps like Math.imul).
fn next_uniform() -> f32 {
  let a = rng_state[0] + 0x6D2B79F5u;
  rng_state[0] = a;
  var t = a;
  t = (t ^ (t >> 15u)) * (t | 1u);
  t ^= t + (t ^ (t >> 7u)) * (t | 61u);
  return f32(t ^ (t >> 14u)) / 4294967296.0;
}

const LOADS_IN_FLIGHT: u32 = 16u;
// The sampled path's ~35 passes: fewer loads in flight each, because every pass is unrolled code
// and 16 made the pipeline take seconds to compile on software adapters.
const SCAN_UNROLL: u32 = 4u;

// The logit of id i after the repetition penalty (HF: divide positive, multiply negative).
fn penalized(l: f32, i: u32) -> f32 {
  if ((atomicLoad(&seen[min(i, s_params.vocab - 1u) / 32u]) & (1u << (i % 32u))) != 0u) {
    return select(l / s_params.penalty, l * s_params.penalty, l < 0.0);
  }
  return l;
}

const SCAN_COUNT_GE: u32 = 0u; // #{i : bits(e_i) ≥ a}
const SCAN_MASS_IN: u32 = 1u;  // Σ e_i over a ≤ bits(e_i) ≤ b

// This invocation's share of one pass over work[] (the exp values), SCAN_UNROLL loads in flight.
fn scan(kind: u32, lid: u32, a: u32, b: u32) -> f32 {
  let V = s_params.vocab;
  var acc = 0.0;
  for (var i0 = lid; i0 < V; i0 += SCAN_UNROLL * WG) {
    var e: array<f32, SCAN_UNROLL>;
    for (var u = 0u; u < SCAN_UNROLL; u++) {
      e[u] = work[min(i0 + u * WG, V - 1u)];
    }
    for (var u = 0u; u < SCAN_UNROLL; u++) {
      let bits = bitcast<u32>(e[u]);
      let hit = i0 + u * WG < V && bits >= a && (kind == SCAN_COUNT_GE || bits <= b);
      acc += select(0.0, select(e[u], 1.0, kind == SCAN_COUNT_GE), hit);
    }
  }
  return acc;
}

@compute @workgroup_size(WG)
fn sample(@builtin(local_invocation_index) lid: u32) {
  let V = s_params.vocab;
  let n_prev = s_step.pos0 + s_step.tokens;
  // Repetition penalty: mark every distinct previous id once.
  for (var i = lid; i < VOCAB_WORDS; i += WG) { atomicStore(&seen[i], 0u); }
  workgroupBarrier();
  if (s_params.penalty != 1.0) {
    for (var j = lid; j < n_prev; j += WG) {
      let id = s_history[j];
      if (id < V) { atomicOr(&seen[id / 32u], 1u << (id % 32u)); }
    }
  }
  workgroupBarrier();
  if (s_params.greedy == 1u) {
    // Argmax straight from the logits: the per-token path of greedy decoding (a 128K
    // vocabulary is 500 loads per invocation).
    var v = -3.4e38;
    var vi = 0xFFFFFFFFu;
    for (var i0 = lid; i0 < V; i0 += LOADS_IN_FLIGHT * WG) {
      var l: array<f32, LOADS_IN_FLIGHT>;
      for (var u = 0u; u < LOADS_IN_FLIGHT; u++) {
        l[u] = s_logits[min(i0 + u * WG, V - 1u)];
      }
      for (var u = 0u; u < LOADS_IN_FLIGHT; u++) {
        let i = i0 + u * WG;
        let pl = penalized(l[u], i);
        if (i < V && better(pl, i, v, vi)) {
          v = pl;
          vi = i;
        }
      }
    }
    best_v[lid] = v;
    best_i[lid] = vi;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
      if (lid < s && better(best_v[lid + s], best_i[lid + s], best_v[lid], best_i[lid])) {
        best_v[lid] = best_v[lid + s];
        best_i[lid] = best_i[lid + s];
      }
      workgroupBarrier();
    }
    if (lid == 0u) {
      s_ids[0] = best_i[0];
      s_history[n_prev] = best_i[0];
    }
    return;
  }
  // The passes below walk the whole vocabulary; each invocation keeps SCAN_UNROLL loads in
  // flight (loads first, then the math), as the greedy path does.
  var m = -3.4e38;
  for (var i0 = lid; i0 < V; i0 += SCAN_UNROLL * WG) {
    var l: array<f32, SCAN_UNROLL>;
    for (var u = 0u; u < SCAN_UNROLL; u++) {
      l[u] = s_logits[min(i0 + u * WG, V - 1u)];
    }
    for (var u = 0u; u < SCAN_UNROLL; u++) {
      let i = i0 + u * WG;
      if (i < V) {
        let v = penalized(l[u], i) * s_params.inv_temperature;
        work[i] = v;
        m = max(m, v);
      }
    }
  }
  m = max_f(m, lid);
  for (var i0 = lid; i0 < V; i0 += SCAN_UNROLL * WG) {
    var l: array<f32, SCAN_UNROLL>;
    for (var u = 0u; u < SCAN_UNROLL; u++) {
      l[u] = work[min(i0 + u * WG, V - 1u)];
    }
    for (var u = 0u; u < SCAN_UNROLL; u++) {
      let i = i0 + u * WG;
      if (i < V) {
        work[i] = exp(l[u] - m); // in (0, 1]; the maximum is exactly 1
      }
    }
  }
  storageBarrier();

  // Top-k: the exact k-th largest value τ = max{τ : count(e ≥ τ) ≥ k}, by bisection on bits.
  var lo = 0u;             // count(e ≥ bits(lo)) ≥ k holds
  var hi = 0x3F800001u;    // just above 1.0: count is 0
  if (s_params.top_k > 0u && s_params.top_k < V) {
    loop {
      if (hi - lo <= 1u) { break; }
      let mid = lo + (hi - lo) / 2u;
      // Counts are exact in f32 (vocabularies are far below 2^24).
      if (sum_f(scan(SCAN_COUNT_GE, lid, mid, 0u), lid) >= f32(s_params.top_k)) { lo = mid; } else { hi = mid; }
    }
  }
  let k_floor = lo;
  // Mass of the top-k survivors.
  let total = sum_f(scan(SCAN_MASS_IN, lid, k_floor, 0xFFFFFFFFu), lid);

  // Top-p: keep e ≥ τ, τ = min{τ : mass(e ≤ τ) > (1 − p) · total} over the survivors; the
  // largest value always survives.
  var p_floor = k_floor;
  if (s_params.top_p < 1.0) {
    var a = k_floor;      // mass(k_floor ≤ e ≤ bits(a) − 1) ≤ limit (empty range)
    var b = 0x3F800000u;  // mass(e ≤ 1.0) = total > limit
    let limit = (1.0 - s_params.top_p) * total;
    loop {
      if (b - a <= 1u) { break; }
      let mid = a + (b - a) / 2u;
      if (sum_f(scan(SCAN_MASS_IN, lid, k_floor, mid), lid) > limit) { b = mid; } else { a = mid; }
    }
    p_floor = max(b, k_floor);
  }

  // Inverse-CDF draw over the survivors, in index order: each invocation owns a contiguous
  // slice; invocation 0 finds the slice holding u · total, its owner scans it.
  var kept = 0.0;
  let per = (V + WG - 1u) / WG;
  let begin = min(lid * per, V);
  let end = min(begin + per, V);
  for (var i0 = begin; i0 < end; i0 += SCAN_UNROLL) {
    var e: array<f32, SCAN_UNROLL>;
    for (var u = 0u; u < SCAN_UNROLL; u++) {
      e[u] = work[min(i0 + u, V - 1u)];
    }
    for (var u = 0u; u < SCAN_UNROLL; u++) {
      kept += select(0.0, e[u], i0 + u < end && bitcast<u32>(e[u]) >= p_floor);
    }
  }
  slice_mass[lid] = kept;
  workgroupBarrier();
  if (lid == 0u) {
    var run = 0.0;
    for (var t = 0u; t < WG; t++) { run += slice_mass[t]; }
    let goal = next_uniform() * run;
    // The first slice whose end passes the goal; rounding at the very end falls back to
    // the last slice holding any survivor.
    var start = 0.0;
    var pick = 0xFFFFFFFFu;
    var pick_start = 0.0;
    for (var t = 0u; t < WG; t++) {
      if (slice_mass[t] > 0.0) {
        pick = t;
        pick_start = start;
        if (start + slice_mass[t] > goal) { break; }
      }
      start += slice_mass[t];
    }
    draw_slice = pick;
    draw_start = pick_start;
    draw_target = goal;
  }
  workgroupBarrier();
  if (lid == draw_slice) {
    var running = draw_start;
    var chosen = 0xFFFFFFFFu;
    var done = false;
    for (var i0 = begin; i0 < end && !done; i0 += SCAN_UNROLL) {
      var e: array<f32, SCAN_UNROLL>;
      for (var u = 0u; u < SCAN_UNROLL; u++) {
        e[u] = work[min(i0 + u, V - 1u)];
      }
      for (var u = 0u; u < SCAN_UNROLL; u++) {
        if (!done && i0 + u < end && bitcast<u32>(e[u]) >= p_floor) {
          running += e[u];
          chosen = i0 + u;
          done = running > draw_target;
        }
      }
    }
    s_ids[0] = chosen;
    s_history[n_prev] = chosen;
  }
}

// Greedy token choice on the GPU: the index of the largest logit (lowest index on ties, as the
// CPU reference's argmax). One workgroup; the id lands in ids[0] (the next step's embedding
// input) and history[step.pos0 + step.tokens] (the sequence so far), so nothing but that id
// ever leaves the GPU.

override WG: u32 = 256u;

struct Params {
  vocab: u32,
  logits_offset: u32, // f32 index of the row to sample (the last token of a chunk)
}

struct Step {
  pos0: u32,
  tokens: u32,
}

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read_write> ids: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;
@group(0) @binding(3) var<uniform> step: Step;
@group(0) @binding(4) var<storage, read_write> history: array<u32>;

var<workgroup> best_v: array<f32, WG>;
var<workgroup> best_i: array<u32, WG>;

fn better(v: f32, i: u32, w: f32, j: u32) -> bool {
  return v > w || (v == w && i < j);
}

@compute @workgroup_size(WG)
fn argmax(@builtin(local_invocation_index) lid: u32) {
  var v = -3.4e38;
  var vi = 0xFFFFFFFFu;
  for (var i = lid; i < params.vocab; i += WG) {
    let x = logits[params.logits_offset + i];
    if (better(x, i, v, vi)) {
      v = x;
      vi = i;
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
    ids[0] = best_i[0];
    history[step.pos0 + step.tokens] = best_i[0];
  }
}

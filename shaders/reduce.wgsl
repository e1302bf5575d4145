// Reductions over an f32 array: sum, or max |x|.
// Pass 1 runs many workgroups, each thread folding a grid-stride slice, and writes one partial
// per workgroup; pass 2 runs one workgroup over the partials. With SUBGROUPS the in-workgroup
// step starts with subgroupAdd/subgroupMax (fewer barriers); without, a shared-memory tree.
#if SUBGROUPS
enable subgroups;
#endif

override WG: u32 = 256u;
// 0: sum of x; 1: max of |x|.
override OP: u32 = 0u;

struct Params {
  n: u32,
}

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

var<workgroup> partial: array<f32, WG>;

fn identity() -> f32 {
  return select(0.0, 0.0, OP == 0u); // both 0: sum starts at 0, max|x| starts at 0
}

fn combine(a: f32, b: f32) -> f32 {
  return select(max(a, b), a + b, OP == 0u);
}

fn load(i: u32) -> f32 {
  let x = src[i];
  return select(abs(x), x, OP == 0u);
}

@compute @workgroup_size(WG)
fn main(
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
#if SUBGROUPS
  @builtin(subgroup_invocation_id) lane: u32,
  @builtin(subgroup_size) sg_size: u32,
#endif
) {
  var acc = identity();
  let stride = nwg.x * WG;
  for (var i = wid.x * WG + lid; i < params.n; i += stride) {
    acc = combine(acc, load(i));
  }
#if SUBGROUPS
  // Subgroup step: one value per subgroup lands in shared memory, then a short tree.
  let folded = select(subgroupMax(acc), subgroupAdd(acc), OP == 0u);
  let count = WG / sg_size;
  if (lane == 0u) {
    partial[lid / sg_size] = folded;
  }
  workgroupBarrier();
  var width = count;
#else
  partial[lid] = acc;
  workgroupBarrier();
  var width = WG;
#endif
  // Tree over `width` values (width need not be a power of two).
  while (width > 1u) {
    let half = (width + 1u) / 2u;
    if (lid + half < width) {
      partial[lid] = combine(partial[lid], partial[lid + half]);
    }
    workgroupBarrier();
    width = half;
  }
  if (lid == 0u) {
    dst[wid.x] = partial[0];
  }
}

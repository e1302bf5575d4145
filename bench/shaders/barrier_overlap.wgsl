// Bench only (`--suites barrier`): does a workgroup barrier wait for the global loads a thread
// has in flight? Our kernels issue their weight / K / V loads first and then run a prologue with
// barriers (scales and activations staged, softmax reductions), counting on the loads to land
// meanwhile. Each invocation issues LOADS vec4 loads and runs EXCHANGES dependent exchanges
// through workgroup memory (two barriers each), loads first (LOADS_FIRST) or after; the host
// compares the times with loads alone and barriers alone.
override WG: u32 = 256u;
override LOADS: u32 = 8u;        // ≤ 16
override EXCHANGES: u32 = 0u;   // each: two barriers
override LOADS_FIRST: bool = true;

@group(0) @binding(0) var<storage, read> src: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;

var<workgroup> ring: array<u32, WG>;

fn exchange(v0: u32, lid: u32) -> u32 {
  var v = v0;
  for (var b = 0u; b < EXCHANGES; b++) {
    ring[lid] = v;
    workgroupBarrier();
    v = ring[(lid + 1u) % WG] * 2654435761u + b;
    workgroupBarrier();
  }
  return v;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  var e = lid;
  if (!LOADS_FIRST) {
    e = exchange(e, lid);
  }
  // After the exchange the loads' address depends on it (never moved before it): 0 in practice.
  let after = select(0u, 1u, e == 0xffffffffu && !LOADS_FIRST);
  var w: array<vec4<u32>, 16>;
  for (var i = 0u; i < 16u; i++) {
    if (i < LOADS) {
      // Each load instruction reads 4 KiB contiguous per workgroup (coalesced).
      w[i] = src[(wid.x * LOADS + i + after) * WG + lid];
    }
  }
  if (LOADS_FIRST) {
    e = exchange(e, lid);
  }
  var acc = e;
  for (var i = 0u; i < 16u; i++) {
    if (i < LOADS) {
      acc ^= w[i].x ^ w[i].y ^ w[i].z ^ w[i].w;
    }
  }
  // Data-dependent and never true for the bench's data: the loads cannot be dropped.
  if (acc == 0x9e3779b9u) {
    out[wid.x] = acc;
  }
}

// A little GPU work per dispatch for bench/host-stalls.ts: each invocation steps an LCG
// ITERATIONS times on its word. The values do not matter; the host's encoding around it does.
override ITERATIONS: u32 = 2000u;

@group(0) @binding(0) var<storage, read_write> words: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  var x = words[id.x];
  for (var i = 0u; i < ITERATIONS; i++) {
    x = x * 1664525u + 1013904223u;
  }
  words[id.x] = x;
}

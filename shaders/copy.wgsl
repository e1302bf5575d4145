// Bulk copy and bulk read over vec4<u32>: the bandwidth yardsticks every other kernel is
// measured against (a kernel's GB/s over `read`'s GB/s on the same device), and the simplest
// kernels that prove the rig end to end.

override WG: u32 = 256u;

struct Params {
  // Length in vec4<u32> units.
  n: u32,
  // `read_vec4` writes its checksum only if it equals this value (never, in practice), so the
  // compiler must keep every load without the kernel writing anything per element.
  magic: u32,
}

@group(0) @binding(0) var<storage, read> src: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<u32>>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn copy_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let stride = nwg.x * WG;
  for (var i = gid.x; i < params.n; i += stride) {
    dst[i] = src[i];
  }
}

@compute @workgroup_size(WG)
fn read_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let stride = nwg.x * WG;
  var acc = vec4<u32>(0u);
  // Four independent loads per iteration keep more bytes in flight per thread.
  var i = gid.x;
  for (; i + 3u * stride < params.n; i += 4u * stride) {
    acc ^= src[i] ^ src[i + stride] ^ src[i + 2u * stride] ^ src[i + 3u * stride];
  }
  for (; i < params.n; i += stride) {
    acc ^= src[i];
  }
  let folded = acc.x ^ acc.y ^ acc.z ^ acc.w;
  if (folded == params.magic) {
    dst[gid.x % arrayLength(&dst)] = acc;
  }
}

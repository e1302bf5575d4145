// Feature probes for `pagelm doctor`: tiny kernels whose results prove a capability works, not
// just that it is advertised.

@group(0) @binding(0) var<storage, read> a: array<u32>;
@group(0) @binding(1) var<storage, read_write> out: array<i32>;

// Packed int8 dot product (WGSL packed_4x8_integer_dot_product), the core of the W4A8 kernels.
@compute @workgroup_size(1)
fn dot4(@builtin(global_invocation_id) gid: vec3<u32>) {
  out[gid.x] = dot4I8Packed(a[2u * gid.x], a[2u * gid.x + 1u]);
}

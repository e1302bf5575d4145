// The builtins a compute entry point of these kernels takes, with the subgroup ones only where
// the flag SUBGROUP_BUILTINS declares them (the file must then `enable subgroups;`). Shared by the
// GEMV kernels (gemv_common) and the decode attention kernel.
struct Invocation {
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
#if SUBGROUP_BUILTINS
  @builtin(subgroup_invocation_id) lane: u32,
  @builtin(subgroup_size) sg_size: u32,
#endif
}

// (lane, subgroup size) of an invocation, (0, 1) without subgroup builtins.
fn lane_and_size(inv: Invocation) -> vec2<u32> {
#if SUBGROUP_BUILTINS
  return vec2<u32>(inv.lane, inv.sg_size);
#else
  return vec2<u32>(0u, 1u);
#endif
}

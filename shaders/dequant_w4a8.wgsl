// W4A8 weights → f16 (the f16 GEMV's layout, docs/FORMAT.md), as a separate pass. This is the
// baseline of the FastGEMM ablation ("dequantize, then a float GEMV"), not part of inference:
// the fused kernels never materialize dequantized weights.
// One invocation per packed word (8 weights): weight 8j+i (i < 4) is the low nibble of byte i,
// 8j+4+i the high nibble; value = q · scale of its group.

override WG: u32 = 256u;

struct Params {
  n_rows: u32,
  words_per_row: u32, // Kp / 8
  groups: u32,        // scale groups per row
  wg_x: u32,          // workgroups along x (the grid may be 2D)
}

@group(0) @binding(0) var<storage, read> qweight: array<u32>;
@group(0) @binding(1) var<storage, read> scales: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4<u32>>;
@group(0) @binding(3) var<uniform> params: Params;

fn nibble(v: u32) -> f32 {
  return f32((i32(v << 28u)) >> 28u); // sign-extend the low 4 bits
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let i = (wid.y * params.wg_x + wid.x) * WG + lid;
  if (i >= params.n_rows * params.words_per_row) {
    return;
  }
  let row = i / params.words_per_row;
  let j = i % params.words_per_row;
  let words_per_group = params.words_per_row / params.groups;
  let s = scales[row * params.groups + j / words_per_group];
  let w = qweight[i];
  var packed = vec4<u32>(0u);
  for (var b = 0u; b < 4u; b += 2u) {
    let lo0 = nibble(w >> (8u * b));
    let lo1 = nibble(w >> (8u * b + 8u));
    let hi0 = nibble(w >> (8u * b + 4u));
    let hi1 = nibble(w >> (8u * b + 12u));
    packed[b / 2u] = pack2x16float(vec2<f32>(lo0, lo1) * s);
    packed[2u + b / 2u] = pack2x16float(vec2<f32>(hi0, hi1) * s);
  }
  out[i] = packed;
}

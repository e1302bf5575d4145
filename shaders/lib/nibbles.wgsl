// Unsigned 4-bit weights in natural order (weight i of a word is bits 4i..4i+3), shared by the
// W4A16 and 2/4/16 kernels. Returns (Σ q·x, Σ x) over the 8 weights of `w` against
// x0 = x[0..3], x1 = x[4..7]: the caller applies scale and offset per group.
fn dot_u4x8(w: u32, x0: vec4<f32>, x1: vec4<f32>) -> vec2<f32> {
  let even = vec4<f32>(unpack4xU8(w & 0x0F0F0F0Fu));        // weights 0, 2, 4, 6
  let odd = vec4<f32>(unpack4xU8((w >> 4u) & 0x0F0F0F0Fu)); // weights 1, 3, 5, 7
  let xe = vec4<f32>(x0.x, x0.z, x1.x, x1.z);
  let xo = vec4<f32>(x0.y, x0.w, x1.y, x1.w);
  return vec2<f32>(dot(even, xe) + dot(odd, xo), dot(x0 + x1, vec4<f32>(1.0)));
}

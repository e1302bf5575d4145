// Unsigned 4-bit (and 2-bit) weights in natural order (weight i of a word is bits 4i..4i+3),
// shared by the W4A16 and 2/4/16 kernels. Small integers become floats without an int → float
// conversion (a quarter-rate instruction on NVIDIA): OR-ing q < 2^23 into the mantissa of 2^23
// gives the float 2^23 + q exactly, and subtracting 2^23 leaves q.
const MAGIC_BITS: u32 = 0x4B000000u; // 2^23 as f32
const MAGIC: f32 = 8388608.0;

fn small_uints_to_f32(q: vec4<u32>) -> vec4<f32> {
  return bitcast<vec4<f32>>(q | vec4<u32>(MAGIC_BITS)) - vec4<f32>(MAGIC);
}

// Returns (Σ q·x, Σ x) over the 8 weights of `w` against x0 = x[0..3], x1 = x[4..7]: the caller
// applies scale and offset per group.
fn dot_u4x8(w: u32, x0: vec4<f32>, x1: vec4<f32>) -> vec2<f32> {
  let ww = vec4<u32>(w);
  let even = small_uints_to_f32((ww >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(0xFu)); // weights 0, 2, 4, 6
  let odd = small_uints_to_f32((ww >> vec4<u32>(4u, 12u, 20u, 28u)) & vec4<u32>(0xFu)); // weights 1, 3, 5, 7
  let xe = vec4<f32>(x0.x, x0.z, x1.x, x1.z);
  let xo = vec4<f32>(x0.y, x0.w, x1.y, x1.w);
  return vec2<f32>(dot(even, xe) + dot(odd, xo), dot(x0 + x1, vec4<f32>(1.0)));
}

// The one RoPE rotation (Hugging Face rotate_half), shared by rope.wgsl (prompt chunks) and the
// decode path of attention.wgsl, so both write bit-identical K to the cache. Needs the includer's
// bindings `qkv: array<f32>` and `cos_sin: array<vec2<f32>>` ([max_pos][head_dim / 2], from the
// host's f64 table).
//
// Element d of the head starting at qkv[base], rotated to position pos; half = head_dim / 2.
fn rope_rotated(base: u32, d: u32, pos: u32, half: u32) -> f32 {
  let i = d % half;
  let cs = cos_sin[pos * half + i];
  let a = qkv[base + i];
  let b = qkv[base + i + half];
  return select(b * cs.x + a * cs.y, a * cs.x - b * cs.y, d < half);
}

// Elements d … d + 3 of that head, rotated: the vec4 the decode kernels stage and the int8
// cache writers quantize.
fn rope_rotated4(base: u32, d: u32, pos: u32, half: u32) -> vec4<f32> {
  return vec4<f32>(rope_rotated(base, d, pos, half), rope_rotated(base, d + 1u, pos, half),
                   rope_rotated(base, d + 2u, pos, half), rope_rotated(base, d + 3u, pos, half));
}

// qkv[at … at + 3], unrotated (V).
fn qkv4(at: u32) -> vec4<f32> {
  return vec4<f32>(qkv[at], qkv[at + 1u], qkv[at + 2u], qkv[at + 3u]);
}

// The int8 KV-cache row (KV_I8): a head's HEAD_DIM values as pack4xI8 words (dims 4w … 4w+3 in
// word w), symmetric, with one f32 scale per row, max|x| / 127. The scales sit after all rows in
// the same buffer — word kv_scale_word(row) of the cache viewed as u32 — so the kernels need no
// extra binding. Every cache writer quantizes with these two functions and every reader widens
// with kv_i8_values, so the prompt's rows (rope.wgsl) and decode's (attention.wgsl) are alike.

fn kv_i8_scale(absmax: f32) -> f32 {
  return absmax / 127.0;
}

// Four values → one word of int8 at scale s (s = 0: an all-zero row, stored as zeros).
fn kv_i8_word(v: vec4<f32>, s: f32) -> u32 {
  let r = select(vec4<f32>(0.0), v / s, s > 0.0);
  return pack4xI8(vec4<i32>(clamp(round(r), vec4<f32>(-127.0), vec4<f32>(127.0))));
}

fn kv_i8_values(word: u32) -> vec4<f32> {
  return vec4<f32>(unpack4xI8(word));
}

fn max4(v: vec4<f32>) -> f32 {
  return max(max(v.x, v.y), max(v.z, v.w));
}

// u32 index of row `row`'s scale: rows of head_dim / 4 words for n_kv heads × max_pos positions first.
fn kv_scale_word(row: u32, n_kv: u32, max_pos: u32, head_dim: u32) -> u32 {
  return n_kv * max_pos * (head_dim / 4u) + row;
}

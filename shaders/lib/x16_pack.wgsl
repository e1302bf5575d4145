// 16-bit fixed-point activations as two int8 halves, for dot4I8Packed: the packing shared by the
// W4A16 / 2/4/16 kernels' own staging (stage_x16) and the standalone quantizer of their prefill
// token blocks (rmsnorm.wgsl with X16_OUT). A token's row becomes
//   v = round(x / s), s = max|x| / 32639, so v ∈ [-32639, 32639], |x − s·v| ≤ s / 2 ≈ max|x| · 2^-16,
// split into v = 256·hi + lo: hi = (v + 128) >> 8 ∈ [-127, 127] (arithmetic shift; 32639 is the
// largest v with hi ≤ 127), lo = v − 256·hi ∈ [-128, 127]. A weight word's unsigned 2- or 4-bit
// values, widened to bytes by shift + mask, are valid non-negative int8 lanes, so
// Σ q·v = 256 · Σ dot4I8Packed(q, hi) + Σ dot4I8Packed(q, lo), exactly, in i32.
//
// The lanes of a widened weight word are not consecutive columns, so a chunk of 16 columns is
// packed in the lane order the kernel's widening produces (never permuted per weight): four hi
// words and four lo words (one vec4<u32> each), word s holding the columns
//   X16_TRANSPOSE (2/4/16):  (s, 4+s, 8+s, 12+s) — byte j of (w >> 2s) & 0x03030303 is weight 4j+s
//                            of a 2-bit word (4-bit words are rearranged to match, see that kernel);
//   otherwise (w4a16):       (0,2,4,6), (1,3,5,7), (8,10,12,14), (9,11,13,15) — the bytes of
//                            w & 0x0F0F0F0F and (w >> 4) & 0x0F0F0F0F of the chunk's two 4-bit words.
override X16_TRANSPOSE: bool = false;

struct X16Chunk {
  hi: vec4<u32>,
  lo: vec4<u32>,
  sum: i32, // Σ v over the chunk's 16 columns (the kernels' offset terms)
}

// v of four activations x given r = 1 / s (0 for an all-zero row).
fn x16_levels(x: vec4<f32>, r: f32) -> vec4<i32> {
  return vec4<i32>(clamp(round(x * r), vec4<f32>(-32639.0), vec4<f32>(32639.0)));
}

// Packs one chunk: v[e] holds columns 4e … 4e+3 (x16_levels).
fn x16_pack(v: array<vec4<i32>, 4>) -> X16Chunk {
  // lanes[s] = the chunk's word s, in column order (see above).
  var lanes: array<vec4<i32>, 4>;
  if (X16_TRANSPOSE) {
    for (var c = 0u; c < 4u; c++) {
      lanes[c] = vec4<i32>(v[0][c], v[1][c], v[2][c], v[3][c]);
    }
  } else {
    lanes[0] = vec4<i32>(v[0].x, v[0].z, v[1].x, v[1].z);
    lanes[1] = vec4<i32>(v[0].y, v[0].w, v[1].y, v[1].w);
    lanes[2] = vec4<i32>(v[2].x, v[2].z, v[3].x, v[3].z);
    lanes[3] = vec4<i32>(v[2].y, v[2].w, v[3].y, v[3].w);
  }
  var out: X16Chunk;
  for (var c = 0u; c < 4u; c++) {
    let h = (lanes[c] + vec4<i32>(128)) >> vec4<u32>(8u);
    out.hi[c] = pack4xI8(h);
    out.lo[c] = pack4xI8(lanes[c] - 256 * h);
  }
  let t = v[0] + v[1] + v[2] + v[3];
  out.sum = t.x + t.y + t.z + t.w;
  return out;
}

// v of one column (0 … 15) of a packed chunk (the sparse outliers' activations): the inverse of
// the lane orders above.
fn x16_column(hi: vec4<u32>, lo: vec4<u32>, i: u32) -> i32 {
  var word = i % 4u;
  var byte = i / 4u;
  if (!X16_TRANSPOSE) {
    word = (i % 2u) + 2u * (i / 8u);
    byte = (i % 8u) / 2u;
  }
  let h = extractBits(bitcast<i32>(hi[word]), 8u * byte, 8u);
  let l = extractBits(bitcast<i32>(lo[word]), 8u * byte, 8u);
  return 256 * h + l;
}

// Σ dot4I8Packed(q[s], b[s]) over one chunk's four words: Σ q·v over its 16 columns for one
// half (or, with stage_x16's X8, for the 8-bit levels, which live in the lo halves alone).
fn dot_i8_words(q: vec4<u32>, b: vec4<u32>) -> i32 {
  return dot4I8Packed(q.x, b.x) + dot4I8Packed(q.y, b.y) + dot4I8Packed(q.z, b.z) + dot4I8Packed(q.w, b.w);
}

// 256 · Σ dot4I8Packed(q[s], hi[s]) + Σ dot4I8Packed(q[s], lo[s]) over one chunk's four words:
// Σ q·v over its 16 columns. |result| ≤ 15 · 32639 · 16 < 2^23.
fn dot_x16_words(q: vec4<u32>, hi: vec4<u32>, lo: vec4<u32>) -> i32 {
  return 256 * dot_i8_words(q, hi) + dot_i8_words(q, lo);
}

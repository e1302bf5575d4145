// Embedding gather from the (quantized) table, one entry point per weight scheme, one workgroup
// per token: x[t][k] = dequant(table)[ids[ids_offset + t]][k] for k < K (the row padding of x is
// left alone: it is zero from allocation). A table split into row pieces is gathered with one
// dispatch per piece; a piece skips tokens whose id lies outside [row0, row0 + n_rows).
// The layouts are those of docs/FORMAT.md (the lm_head doubles as the table when tied).

override WG: u32 = 64u;

struct Params {
  n_rows: u32,
  k: u32,
  row0: u32,
  ids_offset: u32,
  x_stride: u32,
  row_words: u32,   // u32 words per row of the main weight component
  groups: u32,      // scale groups per row (w4a8 / w4a16 / w2-4-16)
  group_size: u32,  // columns per scale group (w4a8)
  mask_words: u32,  // w2-4-16
  code_words: u32,  // w2-4-16
}

@group(0) @binding(0) var<storage, read> ids: array<u32>;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

// Scheme components (each entry point uses its own).
@group(0) @binding(3) var<storage, read> data: array<u32>;
@group(0) @binding(4) var<storage, read> scales_f32: array<f32>;
@group(0) @binding(5) var<storage, read> scales_u32: array<u32>;
@group(0) @binding(6) var<storage, read> mask: array<u32>;
@group(0) @binding(7) var<storage, read> codes: array<u32>;
@group(0) @binding(8) var<storage, read> row_ptr: array<u32>;
@group(0) @binding(9) var<storage, read> outliers: array<u32>;

#include "w2_slots"

var<workgroup> uniform_row: u32;

// The local row of this token's id in this piece, or 0xFFFFFFFF if it lives in another piece.
fn local_row(t: u32) -> u32 {
  let id = ids[params.ids_offset + t];
  if (id < params.row0 || id >= params.row0 + params.n_rows) {
    return 0xFFFFFFFFu;
  }
  return id - params.row0;
}

@compute @workgroup_size(WG)
fn embed_f32(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let r = local_row(wid.x);
  if (r == 0xFFFFFFFFu) { return; }
  for (var k = lid; k < params.k; k += WG) {
    x[wid.x * params.x_stride + k] = bitcast<f32>(data[r * params.k + k]);
  }
}

@compute @workgroup_size(WG)
fn embed_f16(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let r = local_row(wid.x);
  if (r == 0xFFFFFFFFu) { return; }
  for (var k = lid; k < params.k; k += WG) {
    let v = unpack2x16float(data[r * params.row_words + k / 2u]);
    x[wid.x * params.x_stride + k] = select(v.x, v.y, (k & 1u) == 1u);
  }
}

@compute @workgroup_size(WG)
fn embed_w4a8(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let r = local_row(wid.x);
  if (r == 0xFFFFFFFFu) { return; }
  for (var k = lid; k < params.k; k += WG) {
    // Pre-interleaved nibbles: k = 8j + i (i < 4) is the low nibble of byte i, 8j + 4 + i the high one.
    let word = data[r * params.row_words + k / 8u];
    let i = k % 8u;
    let shift = 8u * (i % 4u) + select(0u, 4u, i >= 4u);
    let q = (i32(word >> shift) << 28u) >> 28u; // sign-extend the nibble
    x[wid.x * params.x_stride + k] = scales_f32[r * params.groups + k / params.group_size] * f32(q);
  }
}

@compute @workgroup_size(WG)
fn embed_w4a16(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let r = local_row(wid.x);
  if (r == 0xFFFFFFFFu) { return; }
  for (var k = lid; k < params.k; k += WG) {
    let q = (data[r * params.row_words + k / 8u] >> (4u * (k % 8u))) & 0xFu;
    let sb = unpack2x16float(scales_u32[r * params.groups + k / 128u]);
    x[wid.x * params.x_stride + k] = sb.x * f32(q) + sb.y;
  }
}

@compute @workgroup_size(WG)
fn embed_w2_4_16(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  // The row must be workgroup-uniform for the barrier below.
  if (lid == 0u) {
    uniform_row = local_row(wid.x);
  }
  let r = workgroupUniformLoad(&uniform_row);
  if (r == 0xFFFFFFFFu) { return; }
  let out = wid.x * params.x_stride;
  for (var k = lid; k < params.k; k += WG) {
    let g = k / 64u;
    // Slot order (docs/FORMAT.md): a row holds 4·nG + 4·n4 words, so n2 = nG − n4 = 2·nG − row_words / 4.
    let info = w2_group_word(r * params.mask_words, g, 2u * params.groups - params.row_words / 4u);
    let is4 = (info & W2_IS4) != 0u;
    let base = r * params.row_words + (info & ~W2_IS4);
    let code = (codes[r * params.code_words + g / 4u] >> (8u * (g % 4u))) & 0xFFu;
    let s = scales_f32[r] * f32(code);
    let kk = k % 64u;
    var v = 0.0;
    if (is4) {
      v = s * (f32((data[base + kk / 8u] >> (4u * (kk % 8u))) & 0xFu) - 7.5);
    } else {
      v = s * (f32((data[base + kk / 16u] >> (2u * (kk % 16u))) & 0x3u) - 1.5);
    }
    x[out + k] = v;
  }
  storageBarrier(); // the dense values above are written by other invocations
  // Sparse f16 residuals of the row (each column at most once, so no write races).
  for (var i = row_ptr[r] + lid; i < row_ptr[r + 1u]; i += WG) {
    let e = outliers[i];
    x[out + (e & 0xFFFFu)] += unpack2x16float(e).y;
  }
}

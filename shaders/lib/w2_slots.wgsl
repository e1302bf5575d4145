// Where a 2/4/16 group's words lie in its row (docs/FORMAT.md, pack version 2: a row stores its
// n2 2-bit groups in K order, 4 words each, then its 4-bit groups, 8 words each), for the kernels
// that find a group by its index: the f32 GEMV baseline and the embedding gather. Reads the
// including shader's `mask` binding (array<u32>, bit g of a row = group g is 4-bit).

const W2_IS4: u32 = 0x80000000u;

// Word offset of group g in the row whose mask words start at mbase, n2 = 2-bit groups per row,
// with the 4-bit flag in the top bit: a 2-bit group is slot g − rank4(g), a 4-bit one slot
// n2 + rank4(g), rank4(g) = the row's 4-bit groups before g.
fn w2_group_word(mbase: u32, g: u32, n2: u32) -> u32 {
  var rank = 0u;
  for (var m = 0u; m < g / 32u; m++) {
    rank += countOneBits(mask[mbase + m]);
  }
  let word = mask[mbase + g / 32u];
  let bit = g % 32u;
  rank += countOneBits(word & ((1u << bit) - 1u));
  let four = ((word >> bit) & 1u) == 1u;
  return select(4u * (g - rank), 4u * n2 + 8u * rank, four) | select(0u, W2_IS4, four);
}

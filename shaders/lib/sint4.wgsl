// W4A8's SINT4 → S8 widening (docs/FORMAT.md, scheme w4a8): word j of a 32-weight chunk holds
// weights 8j … 8j+7, the low nibbles of its bytes 8j … 8j+3 and the high nibbles 8j+4 … 8j+7.
// One shift and one mask make four int8 each, 16·q (the 1/16 folds into the float epilogue).
const NIB: u32 = 0xF0F0F0F0u;

fn sint4_lo(w: u32) -> u32 {
  return (w << 4u) & NIB;   // weights 8j … 8j+3
}

fn sint4_hi(w: u32) -> u32 {
  return w & NIB;           // weights 8j+4 … 8j+7
}

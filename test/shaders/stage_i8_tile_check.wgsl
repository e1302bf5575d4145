// Runs the matrix GEMM's staging step (shaders/lib/stage_i8_tile.wgsl) on any adapter, matrix units
// or not: every invocation stages register contents read from `regs` (as load_tile would hold
// them) into workgroup memory poisoned beforehand, and the whole of xs and ws — padding included —
// is copied out for test/kernels/stage-cases.ts to compare with its reference.
override WG: u32 = 32u;
override BM: u32 = 32u;
override BN: u32 = 64u;
override BK: u32 = 64u;
override ROW_WORDS: u32 = (BK + 16u) / 4u;
override XV: u32 = BM * BK / 16u / WG;
override WV: u32 = BN * BK / 32u / WG;
override STRIP: u32 = 0u;
const XV_MAX: u32 = 8u;
const WV_MAX: u32 = 8u;
const POISON: i32 = 0x7eadbeef;

struct TileRegs {
  x: array<vec4<u32>, XV_MAX>,
  w: array<vec4<u32>, WV_MAX>,
}

// Per invocation lid: XV activation vec4s, then WV weight vec4s (register i at lid + i·WG).
@group(0) @binding(0) var<storage, read> regs: array<vec4<u32>>;
// xs (BM · ROW_WORDS words), then ws (BN · ROW_WORDS).
@group(0) @binding(1) var<storage, read_write> out: array<i32>;

var<workgroup> xs: array<i32, BM * ROW_WORDS>;
var<workgroup> ws: array<i32, BN * ROW_WORDS>;

#include "stage_i8_tile"

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
  for (var i = lid; i < BM * ROW_WORDS; i += WG) {
    xs[i] = POISON;
  }
  for (var i = lid; i < BN * ROW_WORDS; i += WG) {
    ws[i] = POISON;
  }
  var r: TileRegs;
  for (var i = 0u; i < XV; i++) {
    r.x[i] = regs[lid + i * WG];
  }
  for (var i = 0u; i < WV; i++) {
    r.w[i] = regs[XV * WG + lid + i * WG];
  }
  workgroupBarrier();
  stage_tile(r, lid);
  workgroupBarrier();
  for (var i = lid; i < BM * ROW_WORDS; i += WG) {
    out[i] = xs[i];
  }
  for (var i = lid; i < BN * ROW_WORDS; i += WG) {
    out[BM * ROW_WORDS + i] = ws[i];
  }
}

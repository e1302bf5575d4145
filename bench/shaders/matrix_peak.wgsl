// Bench only (`--suites matrix`, bench/matrix.ts): the ceiling of the subgroup-matrix feature
// (chromium_experimental_subgroup_matrix, i8 × i8 → i32, 16×16×32 tiles) on this adapter, to set
// the prefill GEMM (shaders/gemm_w4a8_matrix.wgsl) against. Same types, layouts and builtin
// spellings as that kernel: int8 packed 4 per i32 word, offsets and strides in words, rows padded
// to BKP = 128 + 16 int8. One entry point per case:
//   regs          A, B loaded once; ITERS × 8 MMAs (2 × 4 tiles) from registers
//   shared_2x4    per iteration 2 left + 4 right loads from workgroup memory, 8 MMAs (the GEMM's
//                 inner loop without the staging)
//   shared_4x4    4 left + 4 right loads, 16 MMAs (fewer loads per MMA)
//   global_a_2x4  the 2 left loads from the (L2-resident) storage buffer, 4 right from workgroup
//                 memory, 8 MMAs
// A workgroup is WG invocations: 32 (one subgroup) or a multiple, where every subgroup does the
// same work on the same data (the matrix builtins take workgroup-uniform arguments, so subgroups
// cannot be given different tiles without subgroup_id).
//
// src (words): [KSTEP, 0, 0, 0] [W tile: 64 rows × ROW_WORDS] [X_TILES X tiles: 64 rows ×
// ROW_WORDS each]. The shared cases stage X tile 0 and the W tile; global_a_2x4 reads X tile
// (wid % X_TILES) straight from src.
enable chromium_experimental_subgroup_matrix;
#if SGID
enable subgroups;
requires subgroup_id, subgroup_uniformity;
#endif

override WG: u32 = 32u;
override ITERS: u32 = 1024u;
// gemm_loop only: a pair of workgroup barriers after every SYNC iterations (0: none) — the GEMM
// has two per K tile, i.e. every 2 (K tile 64) or 4 (128) of these iterations.
override SYNC: u32 = 0u;

// Constants, not overrides: the matrix loads' bounds are checked against the arrays' sizes when
// the pipeline is made (as in the GEMM).
const ROW_WORDS: u32 = 36u;                // (128 + 16) int8 per row: the GEMM's K tile 128
const TILE_ROWS: u32 = 64u;
const TILE_WORDS: u32 = TILE_ROWS * ROW_WORDS;
const W_AT: u32 = 4u;                      // after the header (16 bytes: rows stay 16-byte aligned)
const X_AT: u32 = W_AT + TILE_WORDS;
const X_TILES: u32 = 64u;
// Output: one slot of 16 result tiles (16 × 16 i32 each) per workgroup, slot = wid % X_TILES.
// Workgroups that share a slot compute the same tiles from the same data, so they store equal
// values; 1 MiB of stores instead of one slot per workgroup (tens of MB at 2,112 workgroups,
// a DRAM write tail that would count against the MMAs).
const RESULT_WORDS: u32 = 256u;
const SLOT_WORDS: u32 = 16u * RESULT_WORDS;

@group(0) @binding(0) var<storage, read> src: array<i32>;
@group(0) @binding(1) var<storage, read_write> out: array<i32>;

// Each entry point allocates only the workgroup arrays it uses: 32 or 64 X rows.
var<workgroup> xs32: array<i32, 32u * ROW_WORDS>;   // X tile 0, rows 0..31
var<workgroup> xs64: array<i32, 64u * ROW_WORDS>;   // X tile 0, rows 0..63
var<workgroup> ws: array<i32, 64u * ROW_WORDS>;     // the W tile
// gemm_loop: the GEMM's 4 × 2 staged tiles (128 X rows, 128 W rows), here 4 copies of X tile 0's
// 32 rows and 2 of the W tile, so a subgroup placed by subgroup_id reads its own rows and still
// computes slot 0's values.
var<workgroup> xs128: array<i32, 128u * ROW_WORDS>;
var<workgroup> ws128: array<i32, 128u * ROW_WORDS>;

fn stage_ws(lid: u32) {
  for (var e = lid; e < TILE_WORDS; e += WG) {
    ws[e] = src[W_AT + e];
  }
}

fn stage_xs32(lid: u32) {
  for (var e = lid; e < 32u * ROW_WORDS; e += WG) {
    xs32[e] = src[X_AT + e];
  }
}

fn stage_xs64(lid: u32) {
  for (var e = lid; e < 64u * ROW_WORDS; e += WG) {
    xs64[e] = src[X_AT + e];
  }
}

// The K offset (words) of iteration i: (i · KSTEP) & 24, with KSTEP = 8 from src, i.e. 0, 8,
// 16, 24 (32 int8 each) in turn across the 128-wide tile. KSTEP is read, not written in: with a
// constant step the compiler could unroll by 4 and hoist every load out of the loop (nothing in
// it writes workgroup memory). A read-only storage value is uniform, as the builtins need; the
// mask keeps the loads inside the row's 32 data words whatever KSTEP holds.
fn k_words(i: u32, kstep: u32) -> u32 {
  return (i * kstep) & 24u;
}

@compute @workgroup_size(WG)
fn regs(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  stage_xs32(lid);
  stage_ws(lid);
  workgroupBarrier();
  let a0 = subgroupMatrixLoad<subgroup_matrix_left<i8, 32, 16>, row_major>(&xs32, 0u, ROW_WORDS);
  let a1 = subgroupMatrixLoad<subgroup_matrix_left<i8, 32, 16>, row_major>(&xs32, 16u * ROW_WORDS, ROW_WORDS);
  let b0 = subgroupMatrixLoad<subgroup_matrix_right<i8, 16, 32>, col_major>(&ws, 0u, ROW_WORDS);
  let b1 = subgroupMatrixLoad<subgroup_matrix_right<i8, 16, 32>, col_major>(&ws, 16u * ROW_WORDS, ROW_WORDS);
  let b2 = subgroupMatrixLoad<subgroup_matrix_right<i8, 16, 32>, col_major>(&ws, 32u * ROW_WORDS, ROW_WORDS);
  let b3 = subgroupMatrixLoad<subgroup_matrix_right<i8, 16, 32>, col_major>(&ws, 48u * ROW_WORDS, ROW_WORDS);
  var acc00 = subgroup_matrix_result<i32, 16, 16>();
  var acc01 = subgroup_matrix_result<i32, 16, 16>();
  var acc02 = subgroup_matrix_result<i32, 16, 16>();
  var acc03 = subgroup_matrix_result<i32, 16, 16>();
  var acc10 = subgroup_matrix_result<i32, 16, 16>();
  var acc11 = subgroup_matrix_result<i32, 16, 16>();
  var acc12 = subgroup_matrix_result<i32, 16, 16>();
  var acc13 = subgroup_matrix_result<i32, 16, 16>();
  // 8 independent accumulation chains, each ITERS long.
  for (var i = 0u; i < ITERS; i++) {
    acc00 = subgroupMatrixMultiplyAccumulate(a0, b0, acc00);
    acc01 = subgroupMatrixMultiplyAccumulate(a0, b1, acc01);
    acc02 = subgroupMatrixMultiplyAccumulate(a0, b2, acc02);
    acc03 = subgroupMatrixMultiplyAccumulate(a0, b3, acc03);
    acc10 = subgroupMatrixMultiplyAccumulate(a1, b0, acc10);
    acc11 = subgroupMatrixMultiplyAccumulate(a1, b1, acc11);
    acc12 = subgroupMatrixMultiplyAccumulate(a1, b2, acc12);
    acc13 = subgroupMatrixMultiplyAccumulate(a1, b3, acc13);
  }
  // Result tile r·4 + c at slot + (r·4 + c)·256, row-major 16 × 16.
  let o = (wid.x % X_TILES) * SLOT_WORDS;
  subgroupMatrixStore<row_major>(&out, o, acc00, 16u);
  subgroupMatrixStore<row_major>(&out, o + 1u * RESULT_WORDS, acc01, 16u);
  subgroupMatrixStore<row_major>(&out, o + 2u * RESULT_WORDS, acc02, 16u);
  subgroupMatrixStore<row_major>(&out, o + 3u * RESULT_WORDS, acc03, 16u);
  subgroupMatrixStore<row_major>(&out, o + 4u * RESULT_WORDS, acc10, 16u);
  subgroupMatrixStore<row_major>(&out, o + 5u * RESULT_WORDS, acc11, 16u);
  subgroupMatrixStore<row_major>(&out, o + 6u * RESULT_WORDS, acc12, 16u);
  subgroupMatrixStore<row_major>(&out, o + 7u * RESULT_WORDS, acc13, 16u);
}

@compute @workgroup_size(WG)
fn shared_2x4(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  stage_xs32(lid);
  stage_ws(lid);
  workgroupBarrier();
  let kstep = bitcast<u32>(src[0]);
  var acc00 = subgroup_matrix_result<i32, 16, 16>();
  var acc01 = subgroup_matrix_result<i32, 16, 16>();
  var acc02 = subgroup_matrix_result<i32, 16, 16>();
  var acc03 = subgroup_matrix_result<i32, 16, 16>();
  var acc10 = subgroup_matrix_result<i32, 16, 16>();
  var acc11 = subgroup_matrix_result<i32, 16, 16>();
  var acc12 = subgroup_matrix_result<i32, 16, 16>();
  var acc13 = subgroup_matrix_result<i32, 16, 16>();
  for (var i = 0u; i < ITERS; i++) {
    let k8 = k_words(i, kstep);
    let a0 = subgroupMatrixLoad<subgroup_matrix_left<i8, 32, 16>, row_major>(&xs32, k8, ROW_WORDS);
    let a1 = subgroupMatrixLoad<subgroup_matrix_left<i8, 32, 16>, row_major>(&xs32, 16u * ROW_WORDS + k8, ROW_WORDS);
    // W^T tiles: row n of the W tile is column n of the right matrix.
    let b0 = subgroupMatrixLoad<subgroup_matrix_right<i8, 16, 32>, col_major>(&ws, k8, ROW_WORDS);
    let b1 = subgroupMatrixLoad<subgroup_matrix_right<i8, 16, 32>, col_major>(&ws, 16u * ROW_WORDS + k8, ROW_WORDS);
    let b2 = subgroupMatrixLoad<subgroup_matrix_right<i8, 16, 32>, col_major>(&ws, 32u * ROW_WORDS + k8, ROW_WORDS);
    let b3 = subgroupMatrixLoad<subgroup_matrix_right<i8, 16, 32>, col_major>(&ws, 48u * ROW_WORDS + k8, ROW_WORDS);
    acc00 = subgroupMatrixMultiplyAccumulate(a0, b0, acc00);
    acc01 = subgroupMatrixMultiplyAccumulate(a0, b1, acc01);
    acc02 = subgroupMatrixMultiplyAccumulate(a0, b2, acc02);
    acc03 = subgroupMatrixMultiplyAccumulate(a0, b3, acc03);
    acc10 = subgroupMatrixMultiplyAccumulate(a1, b0, acc10);
    acc11 = subgroupMatrixMultiplyAccumulate(a1, b1, acc11);
    acc12 = subgroupMatrixMultiplyAccumulate(a1, b2, acc12);
    acc13 = subgroupMatrixMultiplyAccumulate(a1, b3, acc13);
  }
  let o = (wid.x % X_TILES) * SLOT_WORDS;
  subgroupMatrixStore<row_major>(&out, o, acc00, 16u);
  subgroupMatrixStore<row_major>(&out, o + 1u * RESULT_WORDS, acc01, 16u);
  subgroupMatrixStore<row_major>(&out, o + 2u * RESULT_WORDS, acc02, 16u);
  subgroupMatrixStore<row_major>(&out, o + 3u * RESULT_WORDS, acc03, 16u);
  subgroupMatrixStore<row_major>(&out, o + 4u * RESULT_WORDS, acc10, 16u);
  subgroupMatrixStore<row_major>(&out, o + 5u * RESULT_WORDS, acc11, 16u);
  subgroupMatrixStore<row_major>(&out, o + 6u * RESULT_WORDS, acc12, 16u);
  subgroupMatrixStore<row_major>(&out, o + 7u * RESULT_WORDS, acc13, 16u);
}

@compute @workgroup_size(WG)
fn shared_4x4(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  stage_xs64(lid);
  stage_ws(lid);
  workgroupBarrier();
  let kstep = bitcast<u32>(src[0]);
  var acc00 = subgroup_matrix_result<i32, 16, 16>();
  var acc01 = subgroup_matrix_result<i32, 16, 16>();
  var acc02 = subgroup_matrix_result<i32, 16, 16>();
  var acc03 = subgroup_matrix_result<i32, 16, 16>();
  var acc10 = subgroup_matrix_result<i32, 16, 16>();
  var acc11 = subgroup_matrix_result<i32, 16, 16>();
  var acc12 = subgroup_matrix_result<i32, 16, 16>();
  var acc13 = subgroup_matrix_result<i32, 16, 16>();
  var acc20 = subgroup_matrix_result<i32, 16, 16>();
  var acc21 = subgroup_matrix_result<i32, 16, 16>();
  var acc22 = subgroup_matrix_result<i32, 16, 16>();
  var acc23 = subgroup_matrix_result<i32, 16, 16>();
  var acc30 = subgroup_matrix_result<i32, 16, 16>();
  var acc31 = subgroup_matrix_result<i32, 16, 16>();
  var acc32 = subgroup_matrix_result<i32, 16, 16>();
  var acc33 = subgroup_matrix_result<i32, 16, 16>();
  for (var i = 0u; i < ITERS; i++) {
    let k8 = k_words(i, kstep);
    let a0 = subgroupMatrixLoad<subgroup_matrix_left<i8, 32, 16>, row_major>(&xs64, k8, ROW_WORDS);
    let a1 = subgroupMatrixLoad<subgroup_matrix_left<i8, 32, 16>, row_major>(&xs64, 16u * ROW_WORDS + k8, ROW_WORDS);
    let a2 = subgroupMatrixLoad<subgroup_matrix_left<i8, 32, 16>, row_major>(&xs64, 32u * ROW_WORDS + k8, ROW_WORDS);
    let a3 = subgroupMatrixLoad<subgroup_matrix_left<i8, 32, 16>, row_major>(&xs64, 48u * ROW_WORDS + k8, ROW_WORDS);
    let b0 = subgroupMatrixLoad<subgroup_matrix_right<i8, 16, 32>, col_major>(&ws, k8, ROW_WORDS);
    let b1 = subgroupMatrixLoad<subgroup_matrix_right<i8, 16, 32>, col_major>(&ws, 16u * ROW_WORDS + k8, ROW_WORDS);
    let b2 = subgroupMatrixLoad<subgroup_matrix_right<i8, 16, 32>, col_major>(&ws, 32u * ROW_WORDS + k8, ROW_WORDS);
    let b3 = subgroupMatrixLoad<subgroup_matrix_right<i8, 16, 32>, col_major>(&ws, 48u * ROW_WORDS + k8, ROW_WORDS);
    acc00 = subgroupMatrixMultiplyAccumulate(a0, b0, acc00);
    acc01 = subgroupMatrixMultiplyAccumulate(a0, b1, acc01);
    acc02 = subgroupMatrixMultiplyAccumulate(a0, b2, acc02);
    acc03 = subgroupMatrixMultiplyAccumulate(a0, b3, acc03);
    acc10 = subgroupMatrixMultiplyAccumulate(a1, b0, acc10);
    acc11 = subgroupMatrixMultiplyAccumulate(a1, b1, acc11);
    acc12 = subgroupMatrixMultiplyAccumulate(a1, b2, acc12);
    acc13 = subgroupMatrixMultiplyAccumulate(a1, b3, acc13);
    acc20 = subgroupMatrixMultiplyAccumulate(a2, b0, acc20);
    acc21 = subgroupMatrixMultiplyAccumulate(a2, b1, acc21);
    acc22 = subgroupMatrixMultiplyAccumulate(a2, b2, acc22);
    acc23 = subgroupMatrixMultiplyAccumulate(a2, b3, acc23);
    acc30 = subgroupMatrixMultiplyAccumulate(a3, b0, acc30);
    acc31 = subgroupMatrixMultiplyAccumulate(a3, b1, acc31);
    acc32 = subgroupMatrixMultiplyAccumulate(a3, b2, acc32);
    acc33 = subgroupMatrixMultiplyAccumulate(a3, b3, acc33);
  }
  let o = (wid.x % X_TILES) * SLOT_WORDS;
  subgroupMatrixStore<row_major>(&out, o, acc00, 16u);
  subgroupMatrixStore<row_major>(&out, o + 1u * RESULT_WORDS, acc01, 16u);
  subgroupMatrixStore<row_major>(&out, o + 2u * RESULT_WORDS, acc02, 16u);
  subgroupMatrixStore<row_major>(&out, o + 3u * RESULT_WORDS, acc03, 16u);
  subgroupMatrixStore<row_major>(&out, o + 4u * RESULT_WORDS, acc10, 16u);
  subgroupMatrixStore<row_major>(&out, o + 5u * RESULT_WORDS, acc11, 16u);
  subgroupMatrixStore<row_major>(&out, o + 6u * RESULT_WORDS, acc12, 16u);
  subgroupMatrixStore<row_major>(&out, o + 7u * RESULT_WORDS, acc13, 16u);
  subgroupMatrixStore<row_major>(&out, o + 8u * RESULT_WORDS, acc20, 16u);
  subgroupMatrixStore<row_major>(&out, o + 9u * RESULT_WORDS, acc21, 16u);
  subgroupMatrixStore<row_major>(&out, o + 10u * RESULT_WORDS, acc22, 16u);
  subgroupMatrixStore<row_major>(&out, o + 11u * RESULT_WORDS, acc23, 16u);
  subgroupMatrixStore<row_major>(&out, o + 12u * RESULT_WORDS, acc30, 16u);
  subgroupMatrixStore<row_major>(&out, o + 13u * RESULT_WORDS, acc31, 16u);
  subgroupMatrixStore<row_major>(&out, o + 14u * RESULT_WORDS, acc32, 16u);
  subgroupMatrixStore<row_major>(&out, o + 15u * RESULT_WORDS, acc33, 16u);
}

@compute @workgroup_size(WG)
fn global_a_2x4(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  stage_ws(lid);
  workgroupBarrier();
  let kstep = bitcast<u32>(src[0]);
  // This workgroup's X tile in src: 64 tiles of 9 KiB, L2-resident (and read from L1 after the
  // first pass; the same 32 × 128 int8 every 4 iterations, as the shared cases' staged tile).
  let xa = X_AT + (wid.x % X_TILES) * TILE_WORDS;
  var acc00 = subgroup_matrix_result<i32, 16, 16>();
  var acc01 = subgroup_matrix_result<i32, 16, 16>();
  var acc02 = subgroup_matrix_result<i32, 16, 16>();
  var acc03 = subgroup_matrix_result<i32, 16, 16>();
  var acc10 = subgroup_matrix_result<i32, 16, 16>();
  var acc11 = subgroup_matrix_result<i32, 16, 16>();
  var acc12 = subgroup_matrix_result<i32, 16, 16>();
  var acc13 = subgroup_matrix_result<i32, 16, 16>();
  for (var i = 0u; i < ITERS; i++) {
    let k8 = k_words(i, kstep);
    let a0 = subgroupMatrixLoad<subgroup_matrix_left<i8, 32, 16>, row_major>(&src, xa + k8, ROW_WORDS);
    let a1 = subgroupMatrixLoad<subgroup_matrix_left<i8, 32, 16>, row_major>(&src, xa + 16u * ROW_WORDS + k8, ROW_WORDS);
    let b0 = subgroupMatrixLoad<subgroup_matrix_right<i8, 16, 32>, col_major>(&ws, k8, ROW_WORDS);
    let b1 = subgroupMatrixLoad<subgroup_matrix_right<i8, 16, 32>, col_major>(&ws, 16u * ROW_WORDS + k8, ROW_WORDS);
    let b2 = subgroupMatrixLoad<subgroup_matrix_right<i8, 16, 32>, col_major>(&ws, 32u * ROW_WORDS + k8, ROW_WORDS);
    let b3 = subgroupMatrixLoad<subgroup_matrix_right<i8, 16, 32>, col_major>(&ws, 48u * ROW_WORDS + k8, ROW_WORDS);
    acc00 = subgroupMatrixMultiplyAccumulate(a0, b0, acc00);
    acc01 = subgroupMatrixMultiplyAccumulate(a0, b1, acc01);
    acc02 = subgroupMatrixMultiplyAccumulate(a0, b2, acc02);
    acc03 = subgroupMatrixMultiplyAccumulate(a0, b3, acc03);
    acc10 = subgroupMatrixMultiplyAccumulate(a1, b0, acc10);
    acc11 = subgroupMatrixMultiplyAccumulate(a1, b1, acc11);
    acc12 = subgroupMatrixMultiplyAccumulate(a1, b2, acc12);
    acc13 = subgroupMatrixMultiplyAccumulate(a1, b3, acc13);
  }
  let o = (wid.x % X_TILES) * SLOT_WORDS;
  subgroupMatrixStore<row_major>(&out, o, acc00, 16u);
  subgroupMatrixStore<row_major>(&out, o + 1u * RESULT_WORDS, acc01, 16u);
  subgroupMatrixStore<row_major>(&out, o + 2u * RESULT_WORDS, acc02, 16u);
  subgroupMatrixStore<row_major>(&out, o + 3u * RESULT_WORDS, acc03, 16u);
  subgroupMatrixStore<row_major>(&out, o + 4u * RESULT_WORDS, acc10, 16u);
  subgroupMatrixStore<row_major>(&out, o + 5u * RESULT_WORDS, acc11, 16u);
  subgroupMatrixStore<row_major>(&out, o + 6u * RESULT_WORDS, acc12, 16u);
  subgroupMatrixStore<row_major>(&out, o + 7u * RESULT_WORDS, acc13, 16u);
}

// The GEMM's multiply step in its setting (session 17): shared_2x4's loop in workgroups of up to
// 16 subgroups, optionally with SYNC's barrier pairs and each subgroup's rows placed as the GEMM's
// grid places them (sm = 32 · ((p / 2) % 4), sn = 64 · (p % 2)) by a place index p:
//   flag SGID            p = subgroup_id (session 17: 5–10× slower than rows 0.. for every subgroup)
//   flag PLACE_WG        p = workgroup_id.x: uniform across the workgroup, still not a constant
// and PLACE's bits choosing what moves with p: 1 the X rows, 2 the W rows. Without either flag
// every subgroup reads rows 0.. of the staged copies, like shared_2x4. Session 18: placed by
// subgroup_id or workgroup_id (or subgroupBroadcastFirst(subgroup_id)) the loop ran 4–9× slower,
// and at full speed with Dawn's robustness off: Tint guards each subgroupMatrixLoad whose offset is
// not a constant with a bounds check. Flag PLACE_MIN clamps the row offsets with min() to their
// largest value, as the GEMM does; here that did not recover the speed (in the GEMM it did).
override PLACE: u32 = 3u;

@compute @workgroup_size(WG)
#if SGID
fn gemm_loop(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
             @builtin(subgroup_id) sg: u32) {
  let p = sg;
#else
fn gemm_loop(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
#if PLACE_WG
  let p = wid.x;
#else
  let p = 0u;
#endif
#endif
  let xrow = select(0u, ((p / 2u) % 4u) * 32u * ROW_WORDS, (PLACE & 1u) != 0u);
  let wrow = select(0u, (p % 2u) * 64u * ROW_WORDS, (PLACE & 2u) != 0u);
#if PLACE_MIN
  let xb = min(xrow, 96u * ROW_WORDS);
  let wb = min(wrow, 64u * ROW_WORDS);
#else
  let xb = xrow;
  let wb = wrow;
#endif
  for (var e = lid; e < 128u * ROW_WORDS; e += WG) {
    xs128[e] = src[X_AT + e % (32u * ROW_WORDS)];
    ws128[e] = src[W_AT + e % TILE_WORDS];
  }
  workgroupBarrier();
  let kstep = bitcast<u32>(src[0]);
  var acc00 = subgroup_matrix_result<i32, 16, 16>();
  var acc01 = subgroup_matrix_result<i32, 16, 16>();
  var acc02 = subgroup_matrix_result<i32, 16, 16>();
  var acc03 = subgroup_matrix_result<i32, 16, 16>();
  var acc10 = subgroup_matrix_result<i32, 16, 16>();
  var acc11 = subgroup_matrix_result<i32, 16, 16>();
  var acc12 = subgroup_matrix_result<i32, 16, 16>();
  var acc13 = subgroup_matrix_result<i32, 16, 16>();
  for (var i = 0u; i < ITERS; i++) {
    let k8 = k_words(i, kstep);
    let a0 = subgroupMatrixLoad<subgroup_matrix_left<i8, 32, 16>, row_major>(&xs128, xb + k8, ROW_WORDS);
    let a1 = subgroupMatrixLoad<subgroup_matrix_left<i8, 32, 16>, row_major>(&xs128, xb + 16u * ROW_WORDS + k8, ROW_WORDS);
    let b0 = subgroupMatrixLoad<subgroup_matrix_right<i8, 16, 32>, col_major>(&ws128, wb + k8, ROW_WORDS);
    let b1 = subgroupMatrixLoad<subgroup_matrix_right<i8, 16, 32>, col_major>(&ws128, wb + 16u * ROW_WORDS + k8, ROW_WORDS);
    let b2 = subgroupMatrixLoad<subgroup_matrix_right<i8, 16, 32>, col_major>(&ws128, wb + 32u * ROW_WORDS + k8, ROW_WORDS);
    let b3 = subgroupMatrixLoad<subgroup_matrix_right<i8, 16, 32>, col_major>(&ws128, wb + 48u * ROW_WORDS + k8, ROW_WORDS);
    acc00 = subgroupMatrixMultiplyAccumulate(a0, b0, acc00);
    acc01 = subgroupMatrixMultiplyAccumulate(a0, b1, acc01);
    acc02 = subgroupMatrixMultiplyAccumulate(a0, b2, acc02);
    acc03 = subgroupMatrixMultiplyAccumulate(a0, b3, acc03);
    acc10 = subgroupMatrixMultiplyAccumulate(a1, b0, acc10);
    acc11 = subgroupMatrixMultiplyAccumulate(a1, b1, acc11);
    acc12 = subgroupMatrixMultiplyAccumulate(a1, b2, acc12);
    acc13 = subgroupMatrixMultiplyAccumulate(a1, b3, acc13);
    // max(): the pipeline is made with SYNC 0 too, where a literal `i % SYNC` is a division by zero.
    if (SYNC != 0u && i % max(SYNC, 1u) == SYNC - 1u) {
      workgroupBarrier();
      workgroupBarrier();
    }
  }
  let o = (wid.x % X_TILES) * SLOT_WORDS;
  subgroupMatrixStore<row_major>(&out, o, acc00, 16u);
  subgroupMatrixStore<row_major>(&out, o + 1u * RESULT_WORDS, acc01, 16u);
  subgroupMatrixStore<row_major>(&out, o + 2u * RESULT_WORDS, acc02, 16u);
  subgroupMatrixStore<row_major>(&out, o + 3u * RESULT_WORDS, acc03, 16u);
  subgroupMatrixStore<row_major>(&out, o + 4u * RESULT_WORDS, acc10, 16u);
  subgroupMatrixStore<row_major>(&out, o + 5u * RESULT_WORDS, acc11, 16u);
  subgroupMatrixStore<row_major>(&out, o + 6u * RESULT_WORDS, acc12, 16u);
  subgroupMatrixStore<row_major>(&out, o + 7u * RESULT_WORDS, acc13, 16u);
}

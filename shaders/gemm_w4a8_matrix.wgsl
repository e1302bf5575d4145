// W4A8 prefill GEMM on the GPU's matrix units (chromium_experimental_subgroup_matrix, i8 × i8 → i32,
// 16×16×32 tiles; docs/FORMAT.md, scheme w4a8, one scale per output channel):
//   y[t][row0 + n] (+)= s_x[t] · scale[n] · (1/16) · Σ_k x8[t][k] · w8[n][k]
// with w8 = 16·q, the int4 weight widened by one shift and mask (the pack's nibble order, as in
// gemv_w4a8.wgsl): the SINT4 → S8 conversion happens while a tile is staged, not in a separate
// dequantize pass, and the sums are exact in i32.
//
// Workgroup = a grid of SGM × SGN subgroups of 32 owning BM = 32·SGM tokens × BN = 64·SGN output
// rows; each subgroup owns 32 tokens × 64 rows = 2 × 4 result tiles of 16 × 16. Per K tile of BK
// features: every invocation issues its share of the next tile's loads (int8 activations, int4
// weights) into registers, each subgroup runs its BK/32 × 8 matrix multiply-accumulates on this
// tile while they are in flight, and after a barrier the registers are staged (the weights
// widened to int8) into workgroup memory. (A second staged buffer, one barrier per K tile, was
// slower on the H100 at every grid: session 10, docs/benchmarks.md.) Rows
// of both staged tiles are padded by 16 bytes (BKP): an 8-row matrix load then touches 8
// different 16-byte bank groups. Consecutive workgroups take the token blocks of one row block, so
// a weight tile is read from DRAM about once and then from L2.
//
// Why a grid: the staged bytes per multiply fall with the tile's size. The 1 × 1 tile (32 × 64)
// loads 8 KiB from L2 per 262 K multiply-adds; at the ~2.2 TB/s it then pulls, that is its
// ~143 T int-ops/s on the H100 (7% of the tensor cores; bench `--suites matrix`: the same inner
// loop alone reaches 636 T with one subgroup per workgroup and 1,161 T with four). 2 × 2 (64 ×
// 128) stages half the bytes per multiply, 4 × 2 (128 × 128) a third, 4 × 4 (128 × 256, K tile
// 64 only: 55 KiB at 128) a quarter; the host picks the biggest that still gives enough
// workgroups (autoMatrixTiles in src/kernels/gemm-matrix.ts). The subgroups of a grid
// place their tiles by subgroup_id, which the matrix builtins accept under WGSL's
// subgroup_uniformity; the 1 × 1 kernel places tiles by workgroup and needs neither.
//
// Tokens come in whole blocks of BM: x and y hold the token count rounded up to BM rows, and the
// extra rows are computed and written, never read (the host's contract, as for gemv token blocks).
// The host uses this kernel only where the adapter offers the i8 16×16×32 configuration with a
// subgroup size of exactly 32.
enable chromium_experimental_subgroup_matrix;
#if GRID
enable subgroups;
requires subgroup_id, subgroup_uniformity;
#endif

// The subgroup grid: 1 × 1, or with GRID 2 × 2, 4 × 2 (GRID_4X2) or 4 × 4 (GRID_4X4).
#if GRID
#if GRID_4X4
const SGM: u32 = 4u;
const SGN: u32 = 4u;
#else
#if GRID_4X2
const SGM: u32 = 4u;
#else
const SGM: u32 = 2u;
#endif
const SGN: u32 = 2u;
#endif
#else
const SGM: u32 = 1u;
const SGN: u32 = 1u;
#endif
const WG: u32 = 32u * SGM * SGN;
const BM: u32 = 32u * SGM;
const BN: u32 = 64u * SGN;
// K per staged tile: 64, or 128 with KTILE_128. Constants, not overrides: the matrix loads'
// bounds are checked against the staged arrays' sizes when the pipeline is made.
#if KTILE_128
const BK: u32 = 128u;
#else
const BK: u32 = 64u;
#endif
const BKP: u32 = BK + 16u;   // padded row, in int8 elements
const ROW_WORDS: u32 = BKP / 4u;
override ACCUMULATE: bool = false;
// Rows are (gate, up) pairs: write silu(gate)·up, one output per pair.
override GATED: bool = false;
// Diagnostic only (the gemm bench suite; 0 in the model, results wrong otherwise): parts of the K
// loop left out, to find where its time goes — 1: the global loads (registers hold constants),
// 2: the staging stores (the loads then die too; MMAs and barriers remain), 4: the MMAs.
override STRIP: u32 = 0u;

struct Params {
  n_rows: u32,      // rows of this weight piece
  chunks: u32,      // 32-weight chunks per row (Kp / 32)
  row0: u32,        // first output row of this piece
  x_stride: u32,    // per token, in vec4<u32> (16 int8)
  y_stride: u32,    // per token, in f32
  k_tiles: u32,     // ceil(Kp / BK)
}

@group(0) @binding(0) var<storage, read> qweight: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> scales: array<f32>;
@group(0) @binding(2) var<storage, read> xq: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> xscale: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;

// vec4 loads per invocation per K tile: activations (BM · BK / 16) and weights (BN · BK / 32).
const XV: u32 = BM * BK / 16u / WG;
const WV: u32 = BN * BK / 32u / WG;

// [token][k] and [row][k], int8 packed 4 per word. After the K loop `ws` holds the epilogue's
// result tiles (one 16 × 16 per subgroup: 256·SGM·SGN ≤ 64·SGN · ROW_WORDS words for SGM ≤ 5).
var<workgroup> xs: array<i32, BM * ROW_WORDS>;
var<workgroup> ws: array<i32, BN * ROW_WORDS>;

// One K tile's share of this invocation, in registers: activation vec4 e (token e / (BK/16), part
// e % (BK/16)) and weight vec4 e (row e / (BK/32), chunk e % (BK/32)), e = lid + i·WG.
struct TileRegs {
  x: array<vec4<u32>, XV>,
  w: array<vec4<u32>, WV>,
}

fn load_tile(kt: u32, t0: u32, n0: u32, lid: u32) -> TileRegs {
  var r: TileRegs;
  let xparts = BK / 16u;
  let wchunks = BK / 32u;
  for (var i = 0u; i < XV; i++) {
    let e = lid + i * WG;
    if ((STRIP & 1u) != 0u) {
      r.x[i] = vec4<u32>(lid + kt, i, 3u, 4u);
    } else {
      r.x[i] = xq[(t0 + e / xparts) * params.x_stride + kt * xparts + e % xparts];
    }
  }
  for (var i = 0u; i < WV; i++) {
    let e = lid + i * WG;
    let row = min(n0 + e / wchunks, params.n_rows - 1u);
    let c = kt * wchunks + e % wchunks;
    if ((STRIP & 1u) != 0u) {
      r.w[i] = vec4<u32>(lid ^ kt, i, 5u, 6u);
    } else {
      // Chunks past the row (K's last tile) are zero weights.
      r.w[i] = select(vec4<u32>(0u), qweight[row * params.chunks + min(c, params.chunks - 1u)],
                      c < params.chunks);
    }
  }
  return r;
}

#include "stage_i8_tile"

@compute @workgroup_size(WG)
#if GRID
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(subgroup_id) sg: u32, @builtin(subgroup_invocation_id) lane: u32) {
#else
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let sg = 0u;
  let lane = lid;
#endif
  let t0 = wid.x * BM;
  let n0 = wid.y * BN;
  // This subgroup's 32 tokens and 64 rows within the staged tiles (and the output block).
  let sm = (sg / SGN) * 32u;
  let sn = (sg % SGN) * 64u;

  // acc_ij: tokens t0 + sm + 16i …, rows n0 + sn + 16j … Eight named accumulators on purpose:
  // the same step shared with bench/shaders/matrix_peak.wgsl as a function taking
  // ptr<function, array<subgroup_matrix_result, 8>> ran 9–12% slower on the H100 (session 10).
  var acc00 = subgroup_matrix_result<i32, 16, 16>();
  var acc01 = subgroup_matrix_result<i32, 16, 16>();
  var acc02 = subgroup_matrix_result<i32, 16, 16>();
  var acc03 = subgroup_matrix_result<i32, 16, 16>();
  var acc10 = subgroup_matrix_result<i32, 16, 16>();
  var acc11 = subgroup_matrix_result<i32, 16, 16>();
  var acc12 = subgroup_matrix_result<i32, 16, 16>();
  var acc13 = subgroup_matrix_result<i32, 16, 16>();

  // Tile 0 staged; then per K tile: issue the next tile's loads, multiply this one, barrier, stage
  // the next, barrier. (Issuing the loads after the multiplies instead, to keep fewer registers
  // live through them, measured the same: session 10, run 6. Issuing them two tiles ahead was
  // 0.6–3.7% slower on every 7B matmul at the `auto` grid: session 18.)
  var regs = load_tile(0u, t0, n0, lid);
  stage_tile(regs, lid);
  workgroupBarrier();
  for (var kt = 0u; kt < params.k_tiles; kt++) {
    let more = kt + 1u < params.k_tiles;
    if (more) {
      regs = load_tile(kt + 1u, t0, n0, lid);
    }
    if ((STRIP & 4u) == 0u) {
      // The offsets clamped by min() to their largest value, which changes no value: Tint wraps
      // every subgroupMatrixLoad whose offset is not a constant in a bounds check, and with plain
      // offsets from subgroup_id the driver evidently kept it; with the clamp it evidently drops it
      // (session 18, H100, inferred from timings: the 7B's four matmuls 845 → 665 µs per layer,
      // 650 with Dawn's robustness off; the bench loop placed by subgroup_id or workgroup_id ran
      // 4–9× slower than with constant offsets).
      let xb = min(sm * ROW_WORDS, (BM - 32u) * ROW_WORDS);
      let wb = min(sn * ROW_WORDS, (BN - 64u) * ROW_WORDS);
      // Offsets and strides count the arrays' i32 words (4 int8 each): BKP / 4 words a row.
      for (var kk = 0u; kk < BK / 32u; kk++) {
        let k8 = kk * 8u;   // 32 int8
        let a0 = subgroupMatrixLoad<subgroup_matrix_left<i8, 32, 16>, row_major>(&xs, xb + k8, ROW_WORDS);
        let a1 = subgroupMatrixLoad<subgroup_matrix_left<i8, 32, 16>, row_major>(&xs, xb + 16u * ROW_WORDS + k8, ROW_WORDS);
        // W^T tiles: row n of the staged weights is column n of the right matrix.
        let b0 = subgroupMatrixLoad<subgroup_matrix_right<i8, 16, 32>, col_major>(&ws, wb + k8, ROW_WORDS);
        let b1 = subgroupMatrixLoad<subgroup_matrix_right<i8, 16, 32>, col_major>(&ws, wb + 16u * ROW_WORDS + k8, ROW_WORDS);
        let b2 = subgroupMatrixLoad<subgroup_matrix_right<i8, 16, 32>, col_major>(&ws, wb + 32u * ROW_WORDS + k8, ROW_WORDS);
        let b3 = subgroupMatrixLoad<subgroup_matrix_right<i8, 16, 32>, col_major>(&ws, wb + 48u * ROW_WORDS + k8, ROW_WORDS);
        acc00 = subgroupMatrixMultiplyAccumulate(a0, b0, acc00);
        acc01 = subgroupMatrixMultiplyAccumulate(a0, b1, acc01);
        acc02 = subgroupMatrixMultiplyAccumulate(a0, b2, acc02);
        acc03 = subgroupMatrixMultiplyAccumulate(a0, b3, acc03);
        acc10 = subgroupMatrixMultiplyAccumulate(a1, b0, acc10);
        acc11 = subgroupMatrixMultiplyAccumulate(a1, b1, acc11);
        acc12 = subgroupMatrixMultiplyAccumulate(a1, b2, acc12);
        acc13 = subgroupMatrixMultiplyAccumulate(a1, b3, acc13);
      }
    }
    if (more) {
      workgroupBarrier();   // every subgroup is done reading this tile
      stage_tile(regs, lid);
      workgroupBarrier();
    }
  }

  // Epilogue, one result tile per subgroup at a time through workgroup memory (`ws`, free now):
  // scales, then the gate or the residual add, then the store.
  let cb = min(sg * 256u, (SGM * SGN - 1u) * 256u);   // this subgroup's result tile in ws (min: as above)
  for (var tile = 0u; tile < 8u; tile++) {
    workgroupBarrier();
    switch (tile) {
      case 0u: { subgroupMatrixStore<row_major>(&ws, cb, acc00, 16u); }
      case 1u: { subgroupMatrixStore<row_major>(&ws, cb, acc01, 16u); }
      case 2u: { subgroupMatrixStore<row_major>(&ws, cb, acc02, 16u); }
      case 3u: { subgroupMatrixStore<row_major>(&ws, cb, acc03, 16u); }
      case 4u: { subgroupMatrixStore<row_major>(&ws, cb, acc10, 16u); }
      case 5u: { subgroupMatrixStore<row_major>(&ws, cb, acc11, 16u); }
      case 6u: { subgroupMatrixStore<row_major>(&ws, cb, acc12, 16u); }
      default: { subgroupMatrixStore<row_major>(&ws, cb, acc13, 16u); }
    }
    workgroupBarrier();
    let tb = t0 + sm + (tile / 4u) * 16u;   // first token of the tile
    let nb = n0 + sn + (tile % 4u) * 16u;   // first row of the tile (within the piece)
    if (GATED) {
      for (var e = lane; e < 128u; e += 32u) {
        let r = e / 8u;
        let n = nb + 2u * (e % 8u);
        if (n + 1u < params.n_rows) {
          let t = tb + r;
          let sx = xscale[t] * (1.0 / 16.0);
          let g = f32(ws[cb + r * 16u + 2u * (e % 8u)]) * sx * scales[n];
          let u = f32(ws[cb + r * 16u + 2u * (e % 8u) + 1u]) * sx * scales[n + 1u];
          let yi = t * params.y_stride + (params.row0 + n) / 2u;
          var v = g / (1.0 + exp(-g)) * u;
          if (ACCUMULATE) {
            v += y[yi];
          }
          y[yi] = v;
        }
      }
    } else {
      for (var e = lane; e < 256u; e += 32u) {
        let r = e / 16u;
        let n = nb + e % 16u;
        if (n < params.n_rows) {
          let t = tb + r;
          let yi = t * params.y_stride + params.row0 + n;
          var v = f32(ws[cb + e]) * (xscale[t] * (1.0 / 16.0)) * scales[n];
          if (ACCUMULATE) {
            v += y[yi];
          }
          y[yi] = v;
        }
      }
    }
  }
}

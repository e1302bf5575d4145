/**
 * The fused linear weights of a pack (src/format/pack.ts): the kernels compute q, k and v with
 * one GEMV over `qkv_proj` (rows q, then k, then v) and gate and up with one GEMV over
 * `gate_up_proj` whose rows are INTERLEAVED (gate 0, up 0, gate 1, up 1, …) so a workgroup that
 * owns rows 2i and 2i+1 can apply silu(gate)·up without a second pass.
 *
 * The converter never materializes a fused matrix: it quantizes row blocks (see quantize-rows.ts)
 * and a RowSource assembles each block from the original tensors.
 */

/** Read-only rows of an [N, K] matrix, served block by block. */
export interface RowSource {
  readonly N: number;
  readonly K: number;
  /** Rows [r0, r1) as a new row-major array the caller may modify. */
  rows(r0: number, r1: number): Float32Array;
}

export function matrixRows(W: Float32Array, N: number, K: number): RowSource {
  if (W.length !== N * K) throw new Error(`matrixRows: ${W.length} values, expected ${N}·${K}`);
  return { N, K, rows: (r0, r1) => W.slice(r0 * K, r1 * K) };
}

/** Rows of the parts stacked in order (qkv_proj = q, k, v). */
export function concatRows(parts: { W: Float32Array; N: number }[], K: number): RowSource {
  const starts: number[] = [];
  let N = 0;
  for (const p of parts) {
    if (p.W.length !== p.N * K)
      throw new Error(`concatRows: part has ${p.W.length} values, expected ${p.N}·${K}`);
    starts.push(N);
    N += p.N;
  }
  return {
    N,
    K,
    rows(r0, r1) {
      const out = new Float32Array((r1 - r0) * K);
      parts.forEach((p, i) => {
        const a = Math.max(r0, starts[i]);
        const b = Math.min(r1, starts[i] + p.N);
        if (a < b) out.set(p.W.subarray((a - starts[i]) * K, (b - starts[i]) * K), (a - r0) * K);
      });
      return out;
    },
  };
}

/** Rows of gate_up_proj: row 2i is gate row i, row 2i+1 is up row i. */
export function interleaveRows(gate: Float32Array, up: Float32Array, I: number, K: number): RowSource {
  if (gate.length !== I * K || up.length !== I * K) throw new Error('interleaveRows: gate/up shape mismatch');
  return {
    N: 2 * I,
    K,
    rows(r0, r1) {
      const out = new Float32Array((r1 - r0) * K);
      for (let r = r0; r < r1; r++) {
        const src = r & 1 ? up : gate;
        const i = r >> 1;
        out.set(src.subarray(i * K, (i + 1) * K), (r - r0) * K);
      }
      return out;
    },
  };
}

/** Inverse of the qkv fusion: fused [qRows + 2·kvRows, K] → q, k, v. */
export function splitQkv(
  fused: Float32Array,
  qRows: number,
  kvRows: number,
  K: number,
): { q: Float32Array; k: Float32Array; v: Float32Array } {
  if (fused.length !== (qRows + 2 * kvRows) * K) throw new Error('splitQkv: size mismatch');
  return {
    q: fused.slice(0, qRows * K),
    k: fused.slice(qRows * K, (qRows + kvRows) * K),
    v: fused.slice((qRows + kvRows) * K),
  };
}

/** Inverse of the gate/up interleave: fused [2I, K] → gate, up. */
export function splitGateUp(
  fused: Float32Array,
  I: number,
  K: number,
): { gate: Float32Array; up: Float32Array } {
  if (fused.length !== 2 * I * K) throw new Error('splitGateUp: size mismatch');
  const gate = new Float32Array(I * K);
  const up = new Float32Array(I * K);
  for (let i = 0; i < I; i++) {
    gate.set(fused.subarray(2 * i * K, (2 * i + 1) * K), i * K);
    up.set(fused.subarray((2 * i + 1) * K, (2 * i + 2) * K), i * K);
  }
  return { gate, up };
}

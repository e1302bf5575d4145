/**
 * ggml tensor types: the size table every GGUF reader needs to locate tensors, and plain-TS
 * dequantizers for the types pagelm can convert. Block layouts follow ggml's ggml-common.h /
 * ggml-quants.c exactly; all values are little-endian (every platform pagelm runs on is).
 */

export interface GgmlType {
  readonly id: number;
  readonly name: string;
  /** Elements per block (1 for plain element types). */
  readonly blockSize: number;
  /** Bytes per block. */
  readonly typeSize: number;
  /** Decodes `out.length` elements (a multiple of blockSize) from `src`; absent = unsupported. */
  readonly dequantize?: (src: Uint8Array, out: Float32Array) => void;
}

// ---- half-precision helpers -------------------------------------------------------------------

let f16Table: Float32Array | null = null;

/** f16 bits -> f32 by lookup: 256 KiB once, far faster than bit twiddling per element. */
function halfTable(): Float32Array {
  if (f16Table) return f16Table;
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) table[h] = halfToFloat(h);
  f16Table = table;
  return table;
}

/** IEEE binary16 bits -> number (handles subnormals, Inf, NaN). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Copies into a fresh, aligned buffer when `src` is not 4-byte aligned (typed views require it). */
function aligned(src: Uint8Array, align: number): Uint8Array {
  if (src.byteOffset % align === 0) return src;
  return src.slice();
}

// ---- plain element types ----------------------------------------------------------------------

function dequantF32(src: Uint8Array, out: Float32Array): void {
  const a = aligned(src, 4);
  out.set(new Float32Array(a.buffer, a.byteOffset, out.length));
}

function dequantF16(src: Uint8Array, out: Float32Array): void {
  const a = aligned(src, 2);
  const h = new Uint16Array(a.buffer, a.byteOffset, out.length);
  const t = halfTable();
  for (let i = 0; i < out.length; i++) out[i] = t[h[i]];
}

function dequantBF16(src: Uint8Array, out: Float32Array): void {
  const a = aligned(src, 2);
  const h = new Uint16Array(a.buffer, a.byteOffset, out.length);
  // bf16 is the top half of an f32: write the bits through a u32 view of the output.
  const bits = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < out.length; i++) bits[i] = h[i] << 16;
}

function dequantF64(src: Uint8Array, out: Float32Array): void {
  const a = aligned(src, 8);
  const d = new Float64Array(a.buffer, a.byteOffset, out.length);
  for (let i = 0; i < out.length; i++) out[i] = d[i];
}

// ---- 32-element block quants (ggml-quants.c dequantize_row_q*) -------------------------------

/** Q8_0: { f16 d; int8 qs[32] } = 34 bytes; x = d * q. */
function dequantQ8_0(src: Uint8Array, out: Float32Array): void {
  const t = halfTable();
  const nb = out.length / 32;
  for (let b = 0; b < nb; b++) {
    const p = b * 34;
    const d = t[src[p] | (src[p + 1] << 8)];
    const o = b * 32;
    for (let j = 0; j < 32; j++) out[o + j] = d * ((src[p + 2 + j] << 24) >> 24);
  }
}

/** Q4_0: { f16 d; u8 qs[16] } = 18 bytes; low nibbles are elements 0..15, high 16..31; x = (q-8)*d. */
function dequantQ4_0(src: Uint8Array, out: Float32Array): void {
  const t = halfTable();
  const nb = out.length / 32;
  for (let b = 0; b < nb; b++) {
    const p = b * 18;
    const d = t[src[p] | (src[p + 1] << 8)];
    const o = b * 32;
    for (let j = 0; j < 16; j++) {
      const q = src[p + 2 + j];
      out[o + j] = ((q & 0x0f) - 8) * d;
      out[o + j + 16] = ((q >> 4) - 8) * d;
    }
  }
}

/** Q4_1: { f16 d; f16 m; u8 qs[16] } = 20 bytes; x = q*d + m. */
function dequantQ4_1(src: Uint8Array, out: Float32Array): void {
  const t = halfTable();
  const nb = out.length / 32;
  for (let b = 0; b < nb; b++) {
    const p = b * 20;
    const d = t[src[p] | (src[p + 1] << 8)];
    const m = t[src[p + 2] | (src[p + 3] << 8)];
    const o = b * 32;
    for (let j = 0; j < 16; j++) {
      const q = src[p + 4 + j];
      out[o + j] = (q & 0x0f) * d + m;
      out[o + j + 16] = (q >> 4) * d + m;
    }
  }
}

/** Q5_0: { f16 d; u8 qh[4]; u8 qs[16] } = 22 bytes; bit j of qh is the 5th bit of element j. */
function dequantQ5_0(src: Uint8Array, out: Float32Array): void {
  const t = halfTable();
  const nb = out.length / 32;
  for (let b = 0; b < nb; b++) {
    const p = b * 22;
    const d = t[src[p] | (src[p + 1] << 8)];
    const qh = (src[p + 2] | (src[p + 3] << 8) | (src[p + 4] << 16) | (src[p + 5] << 24)) >>> 0;
    const o = b * 32;
    for (let j = 0; j < 16; j++) {
      const q = src[p + 6 + j];
      const h0 = ((qh >>> j) << 4) & 0x10;
      const h1 = (qh >>> (j + 12)) & 0x10;
      out[o + j] = (((q & 0x0f) | h0) - 16) * d;
      out[o + j + 16] = (((q >> 4) | h1) - 16) * d;
    }
  }
}

/** Q5_1: { f16 d; f16 m; u8 qh[4]; u8 qs[16] } = 24 bytes; x = q*d + m. */
function dequantQ5_1(src: Uint8Array, out: Float32Array): void {
  const t = halfTable();
  const nb = out.length / 32;
  for (let b = 0; b < nb; b++) {
    const p = b * 24;
    const d = t[src[p] | (src[p + 1] << 8)];
    const m = t[src[p + 2] | (src[p + 3] << 8)];
    const qh = (src[p + 4] | (src[p + 5] << 8) | (src[p + 6] << 16) | (src[p + 7] << 24)) >>> 0;
    const o = b * 32;
    for (let j = 0; j < 16; j++) {
      const q = src[p + 8 + j];
      const h0 = ((qh >>> j) << 4) & 0x10;
      const h1 = (qh >>> (j + 12)) & 0x10;
      out[o + j] = ((q & 0x0f) | h0) * d + m;
      out[o + j + 16] = ((q >> 4) | h1) * d + m;
    }
  }
}

// ---- the type table (ids from ggml.h enum ggml_type) ------------------------------------------

function t(
  id: number,
  name: string,
  blockSize: number,
  typeSize: number,
  dequantize?: (src: Uint8Array, out: Float32Array) => void,
): GgmlType {
  return { id, name, blockSize, typeSize, dequantize };
}

/**
 * Every type id a GGUF file may name, with its block geometry so that tensors of types we cannot
 * decode can still be located and bounds-checked (and reported by name). Ids 4, 5 (Q4_2/Q4_3) and
 * 31–33, 36–38 (repacked CPU layouts) were removed from ggml and never appear in files.
 */
const TYPES: GgmlType[] = [
  t(0, 'F32', 1, 4, dequantF32),
  t(1, 'F16', 1, 2, dequantF16),
  t(2, 'Q4_0', 32, 18, dequantQ4_0),
  t(3, 'Q4_1', 32, 20, dequantQ4_1),
  t(6, 'Q5_0', 32, 22, dequantQ5_0),
  t(7, 'Q5_1', 32, 24, dequantQ5_1),
  t(8, 'Q8_0', 32, 34, dequantQ8_0),
  t(9, 'Q8_1', 32, 36),
  t(10, 'Q2_K', 256, 84),
  t(11, 'Q3_K', 256, 110),
  t(12, 'Q4_K', 256, 144),
  t(13, 'Q5_K', 256, 176),
  t(14, 'Q6_K', 256, 210),
  t(15, 'Q8_K', 256, 292),
  t(16, 'IQ2_XXS', 256, 66),
  t(17, 'IQ2_XS', 256, 74),
  t(18, 'IQ3_XXS', 256, 98),
  t(19, 'IQ1_S', 256, 50),
  t(20, 'IQ4_NL', 32, 18),
  t(21, 'IQ3_S', 256, 110),
  t(22, 'IQ2_S', 256, 82),
  t(23, 'IQ4_XS', 256, 136),
  t(24, 'I8', 1, 1),
  t(25, 'I16', 1, 2),
  t(26, 'I32', 1, 4),
  t(27, 'I64', 1, 8),
  t(28, 'F64', 1, 8, dequantF64),
  t(29, 'IQ1_M', 256, 56),
  t(30, 'BF16', 1, 2, dequantBF16),
  t(34, 'TQ1_0', 256, 54),
  t(35, 'TQ2_0', 256, 66),
  t(39, 'MXFP4', 32, 17),
];

const BY_ID = new Map(TYPES.map((ty) => [ty.id, ty]));

/** The type with this ggml id, or undefined for ids ggml does not define. */
export function ggmlType(id: number): GgmlType | undefined {
  return BY_ID.get(id);
}

/** Names of the types `dequantizeGgml` accepts, for messages and docs. */
export const SUPPORTED_GGML_TYPES: readonly string[] = TYPES.filter((ty) => ty.dequantize).map(
  (ty) => ty.name,
);

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

// ---- k-quants: 256-element super-blocks (QK_K), ggml-quants.c dequantize_row_q*_K ------------

/** 6-bit scale and min j (0..7) of Q4_K/Q5_K, packed in 12 bytes at `p` (get_scale_min_k4). */
function scaleMinK4(src: Uint8Array, p: number, j: number): [number, number] {
  if (j < 4) return [src[p + j] & 63, src[p + j + 4] & 63];
  return [
    (src[p + j + 4] & 0x0f) | ((src[p + j - 4] >> 6) << 4),
    (src[p + j + 4] >> 4) | ((src[p + j] >> 6) << 4),
  ];
}

/** Q2_K: { u8 scales[16]; u8 qs[64]; f16 d; f16 dmin } = 84 bytes; x = d*sc*q - dmin*m per 16. */
function dequantQ2_K(src: Uint8Array, out: Float32Array): void {
  const t = halfTable();
  const nb = out.length / 256;
  for (let b = 0; b < nb; b++) {
    const p = b * 84;
    const d = t[src[p + 80] | (src[p + 81] << 8)];
    const dmin = t[src[p + 82] | (src[p + 83] << 8)];
    let o = b * 256;
    let is = 0;
    for (let n = 0; n < 2; n++) {
      const q = p + 16 + n * 32;
      for (let shift = 0; shift < 8; shift += 2) {
        for (let half = 0; half < 2; half++) {
          const sc = src[p + is++];
          const dl = d * (sc & 0x0f);
          const ml = dmin * (sc >> 4);
          for (let l = 0; l < 16; l++) out[o++] = dl * ((src[q + half * 16 + l] >> shift) & 3) - ml;
        }
      }
    }
  }
}

/** Q3_K: { u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d } = 110 bytes; 6-bit signed scales per 16. */
function dequantQ3_K(src: Uint8Array, out: Float32Array): void {
  const t = halfTable();
  const nb = out.length / 256;
  const scales = new Int8Array(16);
  for (let b = 0; b < nb; b++) {
    const p = b * 110;
    const sp = p + 96;
    const d = t[src[p + 108] | (src[p + 109] << 8)];
    // Unpack 16 6-bit scales: low 4 bits from bytes 0..7 (low then high nibble), high 2 bits from 8..11.
    for (let j = 0; j < 16; j++) {
      const low = j < 8 ? src[sp + j] & 0x0f : src[sp + j - 8] >> 4;
      const high = (src[sp + 8 + (j % 4)] >> (2 * Math.floor(j / 4))) & 3;
      scales[j] = (low | (high << 4)) - 32;
    }
    let o = b * 256;
    let is = 0;
    let m = 1;
    for (let n = 0; n < 2; n++) {
      const q = p + 32 + n * 32;
      for (let shift = 0; shift < 8; shift += 2) {
        for (let half = 0; half < 2; half++) {
          const dl = d * scales[is++];
          for (let l = 0; l < 16; l++) {
            const k = half * 16 + l;
            const v = ((src[q + k] >> shift) & 3) - (src[p + k] & m ? 0 : 4);
            out[o++] = dl * v;
          }
        }
        m <<= 1;
      }
    }
  }
}

/** Q4_K: { f16 d; f16 dmin; u8 scales[12]; u8 qs[128] } = 144 bytes; 8 sub-blocks of 32. */
function dequantQ4_K(src: Uint8Array, out: Float32Array): void {
  const t = halfTable();
  const nb = out.length / 256;
  for (let b = 0; b < nb; b++) {
    const p = b * 144;
    const d = t[src[p] | (src[p + 1] << 8)];
    const dmin = t[src[p + 2] | (src[p + 3] << 8)];
    let o = b * 256;
    for (let j = 0; j < 4; j++) {
      const q = p + 16 + j * 32;
      const [sc1, m1] = scaleMinK4(src, p + 4, 2 * j);
      const [sc2, m2] = scaleMinK4(src, p + 4, 2 * j + 1);
      const d1 = d * sc1;
      const mm1 = dmin * m1;
      const d2 = d * sc2;
      const mm2 = dmin * m2;
      for (let l = 0; l < 32; l++) out[o++] = d1 * (src[q + l] & 0x0f) - mm1;
      for (let l = 0; l < 32; l++) out[o++] = d2 * (src[q + l] >> 4) - mm2;
    }
  }
}

/** Q5_K: { f16 d; f16 dmin; u8 scales[12]; u8 qh[32]; u8 qs[128] } = 176 bytes. */
function dequantQ5_K(src: Uint8Array, out: Float32Array): void {
  const t = halfTable();
  const nb = out.length / 256;
  for (let b = 0; b < nb; b++) {
    const p = b * 176;
    const d = t[src[p] | (src[p + 1] << 8)];
    const dmin = t[src[p + 2] | (src[p + 3] << 8)];
    const qh = p + 16;
    let o = b * 256;
    for (let j = 0; j < 4; j++) {
      const ql = p + 48 + j * 32;
      const u1 = 1 << (2 * j);
      const u2 = 2 << (2 * j);
      const [sc1, m1] = scaleMinK4(src, p + 4, 2 * j);
      const [sc2, m2] = scaleMinK4(src, p + 4, 2 * j + 1);
      const d1 = d * sc1;
      const mm1 = dmin * m1;
      const d2 = d * sc2;
      const mm2 = dmin * m2;
      for (let l = 0; l < 32; l++) out[o++] = d1 * ((src[ql + l] & 0x0f) + (src[qh + l] & u1 ? 16 : 0)) - mm1;
      for (let l = 0; l < 32; l++) out[o++] = d2 * ((src[ql + l] >> 4) + (src[qh + l] & u2 ? 16 : 0)) - mm2;
    }
  }
}

/** Q6_K: { u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d } = 210 bytes; x = d*sc*(q-32). */
function dequantQ6_K(src: Uint8Array, out: Float32Array): void {
  const t = halfTable();
  const nb = out.length / 256;
  for (let b = 0; b < nb; b++) {
    const p = b * 210;
    const d = t[src[p + 208] | (src[p + 209] << 8)];
    for (let n = 0; n < 2; n++) {
      const ql = p + n * 64;
      const qh = p + 128 + n * 32;
      const sc = p + 192 + n * 8;
      const o = b * 256 + n * 128;
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const h = src[qh + l];
        const q1 = ((src[ql + l] & 0x0f) | ((h & 3) << 4)) - 32;
        const q2 = ((src[ql + l + 32] & 0x0f) | (((h >> 2) & 3) << 4)) - 32;
        const q3 = ((src[ql + l] >> 4) | (((h >> 4) & 3) << 4)) - 32;
        const q4 = ((src[ql + l + 32] >> 4) | (((h >> 6) & 3) << 4)) - 32;
        out[o + l] = d * ((src[sc + is] << 24) >> 24) * q1;
        out[o + l + 32] = d * ((src[sc + is + 2] << 24) >> 24) * q2;
        out[o + l + 64] = d * ((src[sc + is + 4] << 24) >> 24) * q3;
        out[o + l + 96] = d * ((src[sc + is + 6] << 24) >> 24) * q4;
      }
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
  t(10, 'Q2_K', 256, 84, dequantQ2_K),
  t(11, 'Q3_K', 256, 110, dequantQ3_K),
  t(12, 'Q4_K', 256, 144, dequantQ4_K),
  t(13, 'Q5_K', 256, 176, dequantQ5_K),
  t(14, 'Q6_K', 256, 210, dequantQ6_K),
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
  t(40, 'NVFP4', 64, 36),
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

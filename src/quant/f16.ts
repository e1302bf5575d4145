/**
 * IEEE binary16 helpers. The packs store f16 values as raw bits inside u32 words (low half first)
 * because `shader-f16` is not available everywhere; the kernels read them with `unpack2x16float`.
 * These functions are the CPU side of that contract.
 */

const f32Buf = new Float32Array(1);
const u32Buf = new Uint32Array(f32Buf.buffer);

/**
 * float32 → f16 bits, round to nearest, ties to even (the IEEE default, what a GPU's conversion
 * and numpy's astype(float16) do). Inputs that are not float32 are first rounded to float32.
 * Overflow gives ±Inf, NaN stays NaN (quiet), subnormals are produced exactly.
 */
export function f32ToF16Bits(x: number): number {
  f32Buf[0] = x;
  const b = u32Buf[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 112; // f16 biased exponent (127 - 15 = 112)
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // f16 subnormal (or zero): value = m · 2^-24, m = M · 2^(e - 14) with M the 24-bit significand.
    const shift = 14 - e;
    if (shift > 24) return sign; // below half the smallest subnormal: rounds to ±0
    const M = mant | 0x800000;
    let m = M >>> shift;
    const rem = M & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (m & 1) !== 0)) m++;
    return sign | m; // m may reach 0x400: that is exactly the smallest normal's encoding
  }
  let m = mant >>> 13;
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (m & 1) !== 0)) m++;
  // A mantissa carry propagates into the exponent; exponent 31 is exactly the Inf encoding.
  return sign | ((e << 10) + m);
}

function f16BitsToF32Slow(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant !== 0 ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

// All 65536 values, built on first use (256 KiB): decoding whole f16 tensors is then a lookup.
let table: Float32Array | null = null;

/** f16 bits → number (exactly representable as float32 and float64). */
export function f16BitsToF32(h: number): number {
  if (!table) {
    table = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) table[i] = f16BitsToF32Slow(i);
  }
  return table[h & 0xffff];
}

/** Round a number to the nearest f16 value (RNE), returned as a number. */
export function roundF16(x: number): number {
  return f16BitsToF32(f32ToF16Bits(x));
}

/** Next f16 toward −Inf (bits), for finite inputs. */
function f16NextDown(h: number): number {
  if (h === 0) return 0x8001;
  return h & 0x8000 ? h + 1 : h - 1;
}

/** Next f16 toward +Inf (bits), for finite inputs. */
function f16NextUp(h: number): number {
  if (h === 0x8000) return 0x0001;
  return h & 0x8000 ? h - 1 : h + 1;
}

const F16_MAX = 65504;

/**
 * Largest f16 ≤ x (bits). Used for the w4a16 group bias so that the grid provably starts at or
 * below the group minimum (no clipping from storing the bias in f16). Clamped to ±65504.
 */
export function f16FloorBits(x: number): number {
  const c = Math.min(F16_MAX, Math.max(-F16_MAX, x));
  let h = f32ToF16Bits(c);
  if (f16BitsToF32(h) > c) h = f16NextDown(h);
  return h;
}

/** Smallest f16 ≥ x (bits), clamped to ±65504. Used for w4a16 group scales (see f16FloorBits). */
export function f16CeilBits(x: number): number {
  const c = Math.min(F16_MAX, Math.max(-F16_MAX, x));
  let h = f32ToF16Bits(c);
  if (f16BitsToF32(h) < c) h = f16NextUp(h);
  return h;
}

/** WGSL `pack2x16float(vec2(a, b))`: a in the low half, b in the high half. */
export function pack2x16float(a: number, b: number): number {
  return (f32ToF16Bits(a) | (f32ToF16Bits(b) << 16)) >>> 0;
}

/** WGSL `unpack2x16float(w)`: [low half, high half]. */
export function unpack2x16float(w: number): [number, number] {
  return [f16BitsToF32(w & 0xffff), f16BitsToF32(w >>> 16)];
}

/** Convert a whole array to f16 bits (RNE). */
export function f32ArrayToF16Bits(src: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32ToF16Bits(src[i]);
  return out;
}

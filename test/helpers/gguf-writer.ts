/**
 * A small GGUF writer for tests: builds valid files in memory, plus knobs to break them on purpose
 * (wrong counts, raw type ids, misplaced offsets). Also f16 encoding and ggml's reference Q8_0 /
 * Q4_0 quantizers so tests can produce quantized tensors.
 */
import { GgufValueType } from '../../src/format/gguf';

export type MetaValue =
  | { type: number; value: number | bigint | boolean | string }
  | { type: typeof GgufValueType.ARRAY; elemType: number; values: unknown[] };

/** Typed metadata constructors: gv.u32(5), gv.str('llama'), gv.arr(GgufValueType.STRING, ['a']). */
export const gv = {
  u8: (v: number): MetaValue => ({ type: GgufValueType.UINT8, value: v }),
  i8: (v: number): MetaValue => ({ type: GgufValueType.INT8, value: v }),
  u16: (v: number): MetaValue => ({ type: GgufValueType.UINT16, value: v }),
  i16: (v: number): MetaValue => ({ type: GgufValueType.INT16, value: v }),
  u32: (v: number): MetaValue => ({ type: GgufValueType.UINT32, value: v }),
  i32: (v: number): MetaValue => ({ type: GgufValueType.INT32, value: v }),
  f32: (v: number): MetaValue => ({ type: GgufValueType.FLOAT32, value: v }),
  f64: (v: number): MetaValue => ({ type: GgufValueType.FLOAT64, value: v }),
  u64: (v: number | bigint): MetaValue => ({ type: GgufValueType.UINT64, value: v }),
  i64: (v: number | bigint): MetaValue => ({ type: GgufValueType.INT64, value: v }),
  bool: (v: boolean): MetaValue => ({ type: GgufValueType.BOOL, value: v }),
  str: (v: string): MetaValue => ({ type: GgufValueType.STRING, value: v }),
  /** For elemType ARRAY, `values` are MetaValues built with gv.arr. */
  arr: (elemType: number, values: unknown[]): MetaValue => ({ type: GgufValueType.ARRAY, elemType, values }),
};

export interface TensorSpec {
  name: string;
  /** ggml order (ne[0] first = row length). */
  dims: number[];
  /** ggml type id (0 = F32, 1 = F16, 2 = Q4_0, 8 = Q8_0, 30 = BF16, ...). */
  type: number;
  data: Uint8Array;
  /** Override the offset written in the tensor info (relative to the data section). */
  offset?: number;
}

export interface GgufSpec {
  version?: number;
  magic?: string;
  /** Written as general.alignment only if given in metadata; used for layout here. */
  alignment?: number;
  metadata?: [string, MetaValue][];
  tensors?: TensorSpec[];
  /** Override the counts written in the header. */
  tensorCount?: number | bigint;
  kvCount?: number | bigint;
}

class ByteWriter {
  private buf = new Uint8Array(1024);
  private view = new DataView(this.buf.buffer);
  length = 0;
  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.length + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  num(type: number, v: number | bigint): void {
    const size = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 }[type as 0];
    this.ensure(size);
    const at = this.length;
    const d = this.view;
    switch (type) {
      case GgufValueType.UINT8:
      case GgufValueType.BOOL:
        d.setUint8(at, Number(v));
        break;
      case GgufValueType.INT8:
        d.setInt8(at, Number(v));
        break;
      case GgufValueType.UINT16:
        d.setUint16(at, Number(v), true);
        break;
      case GgufValueType.INT16:
        d.setInt16(at, Number(v), true);
        break;
      case GgufValueType.UINT32:
        d.setUint32(at, Number(v), true);
        break;
      case GgufValueType.INT32:
        d.setInt32(at, Number(v), true);
        break;
      case GgufValueType.FLOAT32:
        d.setFloat32(at, Number(v), true);
        break;
      case GgufValueType.UINT64:
        d.setBigUint64(at, BigInt(v), true);
        break;
      case GgufValueType.INT64:
        d.setBigInt64(at, BigInt(v), true);
        break;
      case GgufValueType.FLOAT64:
        d.setFloat64(at, Number(v), true);
        break;
      default:
        throw new Error(`writer: not a numeric type ${type}`);
    }
    this.length += size;
  }
  u32(v: number): void {
    this.num(GgufValueType.UINT32, v);
  }
  u64(v: number | bigint): void {
    this.num(GgufValueType.UINT64, v);
  }
  str(s: string): void {
    const b = new TextEncoder().encode(s);
    this.u64(b.length);
    this.bytes(b);
  }
  pad(alignment: number): void {
    const n = (alignment - (this.length % alignment)) % alignment;
    this.bytes(new Uint8Array(n));
  }
  value(type: number, v: unknown): void {
    if (type === GgufValueType.STRING) this.str(v as string);
    else if (type === GgufValueType.BOOL) this.num(type, v ? 1 : 0);
    else if (type === GgufValueType.ARRAY) {
      const a = v as { elemType: number; values: unknown[] };
      this.u32(a.elemType);
      this.u64(a.values.length);
      for (const x of a.values) this.value(a.elemType, x);
    } else this.num(type, v as number);
  }
  result(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

/** Serializes a GGUF file; tensor data is laid out in order, each aligned, unless offsets are given. */
export function writeGguf(spec: GgufSpec): Uint8Array {
  const alignment = spec.alignment ?? 32;
  const metadata = spec.metadata ?? [];
  const tensors = spec.tensors ?? [];
  const w = new ByteWriter();
  w.bytes(new TextEncoder().encode(spec.magic ?? 'GGUF'));
  w.u32(spec.version ?? 3);
  w.u64(spec.tensorCount ?? tensors.length);
  w.u64(spec.kvCount ?? metadata.length);
  for (const [key, mv] of metadata) {
    w.str(key);
    w.u32(mv.type);
    w.value(mv.type, 'values' in mv ? mv : mv.value);
  }
  const offsets: number[] = [];
  let next = 0;
  for (const t of tensors) {
    offsets.push(t.offset ?? next);
    next = Math.ceil((next + t.data.length) / alignment) * alignment;
  }
  tensors.forEach((t, i) => {
    w.str(t.name);
    w.u32(t.dims.length);
    for (const d of t.dims) w.u64(d);
    w.u32(t.type);
    w.u64(offsets[i]);
  });
  w.pad(alignment);
  const dataStart = w.length;
  const end = tensors.reduce((m, t, i) => Math.max(m, offsets[i] + t.data.length), 0);
  const out = new Uint8Array(dataStart + Math.ceil(end / alignment) * alignment);
  out.set(w.result());
  tensors.forEach((t, i) => {
    out.set(t.data, dataStart + offsets[i]);
  });
  return out;
}

// ---- tensor encoders --------------------------------------------------------------------------

export function f32Bytes(values: ArrayLike<number>): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

/** number -> IEEE binary16 bits, round to nearest even (enough for test data). */
export function floatToHalf(v: number): number {
  const f = new Float32Array([v]);
  const x = new Uint32Array(f.buffer)[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = mant >>> 13;
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) {
    h++;
    if (h === 0x400) {
      h = 0;
      e++;
      if (e >= 31) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | h;
}

export function f16Bytes(values: ArrayLike<number>): Uint8Array {
  const h = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) h[i] = floatToHalf(values[i]);
  return new Uint8Array(h.buffer);
}

export function bf16Bytes(values: ArrayLike<number>): Uint8Array {
  const bits = new Uint32Array(Float32Array.from(values).buffer);
  const h = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) h[i] = bits[i] >>> 16; // truncation: exact for test data
  return new Uint8Array(h.buffer);
}

/** ggml quantize_row_q8_0_ref: d = amax/127, q = round(x/d). */
export function quantizeQ8_0(x: ArrayLike<number>): Uint8Array {
  const nb = x.length / 32;
  const out = new Uint8Array(nb * 34);
  const dv = new DataView(out.buffer);
  for (let b = 0; b < nb; b++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]));
    const d = amax / 127;
    const id = d ? 1 / d : 0;
    dv.setUint16(b * 34, floatToHalf(d), true);
    for (let j = 0; j < 32; j++) dv.setInt8(b * 34 + 2 + j, Math.round(x[b * 32 + j] * id));
  }
  return out;
}

/** ggml quantize_row_q4_0_ref: d = max/-8 (max = signed value of largest magnitude). */
export function quantizeQ4_0(x: ArrayLike<number>): Uint8Array {
  const nb = x.length / 32;
  const out = new Uint8Array(nb * 18);
  const dv = new DataView(out.buffer);
  for (let b = 0; b < nb; b++) {
    let amax = 0;
    let max = 0;
    for (let j = 0; j < 32; j++) {
      const v = x[b * 32 + j];
      if (Math.abs(v) > amax) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = max / -8;
    const id = d ? 1 / d : 0;
    dv.setUint16(b * 18, floatToHalf(d), true);
    for (let j = 0; j < 16; j++) {
      const x0 = x[b * 32 + j] * id;
      const x1 = x[b * 32 + 16 + j] * id;
      const q0 = Math.min(15, Math.trunc(x0 + 8.5));
      const q1 = Math.min(15, Math.trunc(x1 + 8.5));
      out[b * 18 + 2 + j] = q0 | (q1 << 4);
    }
  }
  return out;
}

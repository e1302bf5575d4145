import { describe, expect, it } from 'vitest';
import { memorySource } from '../../src/format/byte-source';
import type { ByteSource } from '../../src/format/checkpoint';
import { FormatError } from '../../src/format/errors';
import { ggmlType, halfToFloat } from '../../src/format/ggml-quants';
import { GgufValueType, readGguf, readGgufTensor } from '../../src/format/gguf';
import {
  bf16Bytes,
  f16Bytes,
  f32Bytes,
  floatToHalf,
  gv,
  quantizeQ4_0,
  quantizeQ8_0,
  type TensorSpec,
  writeGguf,
} from '../helpers/gguf-writer';

const T = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q4_1: 3,
  Q5_0: 6,
  Q5_1: 7,
  Q8_0: 8,
  Q2_K: 10,
  Q3_K: 11,
  Q4_K: 12,
  Q5_K: 13,
  Q6_K: 14,
  IQ2_XXS: 16,
  BF16: 30,
};

function src(bytes: Uint8Array, name = 'test.gguf'): ByteSource {
  return memorySource(name, bytes);
}

/** A source that records every read, to check what the reader fetches. */
function loggingSource(bytes: Uint8Array): { source: ByteSource; reads: [number, number][] } {
  const inner = memorySource('logged.gguf', bytes);
  const reads: [number, number][] = [];
  return {
    reads,
    source: {
      name: inner.name,
      size: inner.size,
      read: (o, l) => {
        reads.push([o, l]);
        return inner.read(o, l);
      },
    },
  };
}

async function formatError(p: Promise<unknown>): Promise<FormatError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(FormatError);
  return e as FormatError;
}

function seq<T = number>(n: number, f: (i: number) => T): T[] {
  return Array.from({ length: n }, (_, i) => f(i));
}

/** Deterministic pseudo-random numbers in [-1, 1). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  };
}

async function decode(type: number, dims: number[], data: Uint8Array): Promise<Float32Array> {
  const file = await readGguf(src(writeGguf({ tensors: [{ name: 't', dims, type, data }] })));
  return readGgufTensor(file, 't');
}

describe('GGUF header and metadata', () => {
  it('reads every metadata value type, including nested arrays and 64-bit values', async () => {
    const bytes = writeGguf({
      metadata: [
        ['u8', gv.u8(250)],
        ['i8', gv.i8(-5)],
        ['u16', gv.u16(65000)],
        ['i16', gv.i16(-30000)],
        ['u32', gv.u32(4_000_000_000)],
        ['i32', gv.i32(-2_000_000_000)],
        ['f32', gv.f32(1.5)],
        ['f64', gv.f64(Math.PI)],
        ['u64.small', gv.u64(12345)],
        ['u64.big', gv.u64(2n ** 63n + 7n)],
        ['i64.neg', gv.i64(-42)],
        ['i64.big', gv.i64(-(2n ** 62n))],
        ['bool.t', gv.bool(true)],
        ['bool.f', gv.bool(false)],
        ['str', gv.str('héllo ▁wörld 😀')],
        ['str.empty', gv.str('')],
        ['arr.str', gv.arr(GgufValueType.STRING, ['a', '', '<0x0A>'])],
        ['arr.f32', gv.arr(GgufValueType.FLOAT32, [0.25, -1])],
        ['arr.i32', gv.arr(GgufValueType.INT32, [1, -2, 3])],
        ['arr.empty', gv.arr(GgufValueType.UINT8, [])],
        [
          'arr.nested',
          gv.arr(GgufValueType.ARRAY, [
            gv.arr(GgufValueType.UINT16, [1, 2]),
            gv.arr(GgufValueType.STRING, ['x']),
            gv.arr(GgufValueType.ARRAY, [gv.arr(GgufValueType.BOOL, [true, false])]),
          ]),
        ],
      ],
    });
    const f = await readGguf(src(bytes));
    const m = Object.fromEntries(f.metadata);
    expect(m).toEqual({
      u8: 250,
      i8: -5,
      u16: 65000,
      i16: -30000,
      u32: 4_000_000_000,
      i32: -2_000_000_000,
      f32: 1.5,
      f64: Math.PI,
      'u64.small': 12345,
      'u64.big': 2n ** 63n + 7n,
      'i64.neg': -42,
      'i64.big': -(2n ** 62n),
      'bool.t': true,
      'bool.f': false,
      str: 'héllo ▁wörld 😀',
      'str.empty': '',
      'arr.str': ['a', '', '<0x0A>'],
      'arr.f32': [0.25, -1],
      'arr.i32': [1, -2, 3],
      'arr.empty': [],
      'arr.nested': [[1, 2], ['x'], [[true, false]]],
    });
    expect(f.version).toBe(3);
    expect(f.tensors).toEqual([]);
  });

  it('reads version 2 files', async () => {
    const f = await readGguf(src(writeGguf({ version: 2, metadata: [['k', gv.u32(1)]] })));
    expect(f.version).toBe(2);
    expect(f.metadata.get('k')).toBe(1);
  });

  it('converts ggml dims (innermost first) to PyTorch shapes, row-major data', async () => {
    const data = seq(6, (i) => i);
    const f = await readGguf(
      src(writeGguf({ tensors: [{ name: 'w', dims: [3, 2], type: T.F32, data: f32Bytes(data) }] })),
    );
    const t = f.tensors[0];
    expect(t.dims).toEqual([3, 2]);
    expect(t.shape).toEqual([2, 3]);
    expect(t.numElements).toBe(6);
    expect(Array.from(await readGgufTensor(f, 'w'))).toEqual(data);
  });

  it('honours general.alignment and the default of 32', async () => {
    const tensors: TensorSpec[] = [
      { name: 'a', dims: [3], type: T.F32, data: f32Bytes([1, 2, 3]) },
      { name: 'b', dims: [2], type: T.F32, data: f32Bytes([4, 5]) },
    ];
    const def = await readGguf(src(writeGguf({ tensors })));
    expect(def.alignment).toBe(32);
    expect(def.dataOffset % 32).toBe(0);
    expect(def.tensorByName.get('b')!.offset - def.dataOffset).toBe(32);

    const bytes = writeGguf({ alignment: 256, metadata: [['general.alignment', gv.u32(256)]], tensors });
    const f = await readGguf(src(bytes));
    expect(f.alignment).toBe(256);
    expect(f.dataOffset % 256).toBe(0);
    expect(f.tensorByName.get('b')!.offset - f.dataOffset).toBe(256);
    expect(Array.from(await readGgufTensor(f, 'b'))).toEqual([4, 5]);
  });

  it('fetches a large header in growing pieces, never the same bytes twice', async () => {
    // ~200k tokens: the header is well over the first 1 MiB read.
    const tokens = seq(200_000, (i) => `token_${i}`);
    const bytes = writeGguf({
      metadata: [['tokenizer.ggml.tokens', gv.arr(GgufValueType.STRING, tokens)]],
      tensors: [{ name: 'x', dims: [4], type: T.F32, data: f32Bytes([1, 2, 3, 4]) }],
    });
    const { source, reads } = loggingSource(bytes);
    const f = await readGguf(source);
    expect((f.metadata.get('tokenizer.ggml.tokens') as string[])[199_999]).toBe('token_199999');
    expect(reads.length).toBeGreaterThan(1);
    let end = 0;
    for (const [o, l] of reads) {
      expect(o).toBe(end); // contiguous, no re-reads
      end = o + l;
    }
    expect(end).toBeLessThanOrEqual(bytes.length);
    reads.length = 0;
    await readGgufTensor(f, 'x');
    expect(reads).toEqual([[f.tensors[0].offset, 16]]);
  });
});

describe('dequantization (ggml block layouts)', () => {
  it('F32, F16 (incl. subnormals) and BF16', async () => {
    expect(halfToFloat(0x3c00)).toBe(1);
    expect(halfToFloat(0xc000)).toBe(-2);
    expect(halfToFloat(0x0001)).toBe(2 ** -24);
    expect(halfToFloat(0x7bff)).toBe(65504);
    expect(halfToFloat(0x8000)).toBe(-0);
    const vals = [0, 1, -2, 0.5, 65504, 2 ** -24, -(2 ** -14), 3.140625];
    expect(Array.from(await decode(T.F16, [8], f16Bytes(vals)))).toEqual(vals);
    expect(Array.from(await decode(T.BF16, [4], bf16Bytes([1, -2, 0.5, 3.140625])))).toEqual([
      1, -2, 0.5, 3.140625,
    ]);
    expect(Array.from(await decode(T.F32, [2], f32Bytes([1.25, -7])))).toEqual([1.25, -7]);
  });

  it('Q8_0: f16 d then 32 int8', async () => {
    const block = new Uint8Array(34);
    new DataView(block.buffer).setUint16(0, floatToHalf(0.5), true);
    const q = seq(32, (j) => (j % 2 ? -1 : 1) * j * 4); // -124..124 incl. negatives
    q.forEach((v, j) => {
      block[2 + j] = v & 0xff;
    });
    expect(Array.from(await decode(T.Q8_0, [32], block))).toEqual(q.map((v) => v * 0.5));
  });

  it('Q4_0: low nibbles are elements 0..15, high nibbles 16..31, value (q-8)*d', async () => {
    const block = new Uint8Array(18);
    new DataView(block.buffer).setUint16(0, floatToHalf(2), true);
    for (let j = 0; j < 16; j++) block[2 + j] = j | ((15 - j) << 4);
    const expected = [...seq(16, (j) => (j - 8) * 2), ...seq(16, (j) => (15 - j - 8) * 2)];
    expect(Array.from(await decode(T.Q4_0, [32], block))).toEqual(expected);
  });

  it('Q4_1: value q*d + m', async () => {
    const block = new Uint8Array(20);
    const dv = new DataView(block.buffer);
    dv.setUint16(0, floatToHalf(0.5), true);
    dv.setUint16(2, floatToHalf(-1), true);
    for (let j = 0; j < 16; j++) block[4 + j] = (j % 16) | (((j * 7) % 16) << 4);
    const expected = [...seq(16, (j) => j * 0.5 - 1), ...seq(16, (j) => ((j * 7) % 16) * 0.5 - 1)];
    expect(Array.from(await decode(T.Q4_1, [32], block))).toEqual(expected);
  });

  /** Encodes 5-bit values q[0..31] the straightforward way: qh bit i = bit 4 of q[i]. */
  function q5Block(q: number[], header: number[]): Uint8Array {
    const block = new Uint8Array(header.length * 2 + 4 + 16);
    const dv = new DataView(block.buffer);
    header.forEach((h, i) => {
      dv.setUint16(2 * i, floatToHalf(h), true);
    });
    let qh = 0;
    for (let i = 0; i < 32; i++) qh |= ((q[i] >> 4) & 1) << i;
    dv.setUint32(header.length * 2, qh >>> 0, true);
    for (let j = 0; j < 16; j++) block[header.length * 2 + 4 + j] = (q[j] & 15) | ((q[j + 16] & 15) << 4);
    return block;
  }

  it('Q5_0 and Q5_1: fifth bits from qh', async () => {
    const q = seq(32, (i) => (i * 13 + 5) % 32);
    expect(Array.from(await decode(T.Q5_0, [32], q5Block(q, [0.25])))).toEqual(q.map((v) => (v - 16) * 0.25));
    expect(Array.from(await decode(T.Q5_1, [32], q5Block(q, [2, 0.5])))).toEqual(q.map((v) => v * 2 + 0.5));
  });

  it('round-trips ggml-quantized rows of several blocks within half a step', async () => {
    const r = rng(7);
    const x = seq(128, () => r() * 3);
    const q8 = await decode(T.Q8_0, [64, 2], quantizeQ8_0(x));
    const q4 = await decode(T.Q4_0, [64, 2], quantizeQ4_0(x));
    for (let b = 0; b < 4; b++) {
      const amax = Math.max(...x.slice(b * 32, b * 32 + 32).map(Math.abs));
      for (let j = b * 32; j < b * 32 + 32; j++) {
        expect(Math.abs(q8[j] - x[j])).toBeLessThanOrEqual((amax / 127) * 0.51);
        // The extreme opposite to the signed max clamps to 7d: up to one full step.
        expect(Math.abs(q4[j] - x[j])).toBeLessThanOrEqual((amax / 8) * 1.01);
      }
    }
  });

  it('knows the geometry of types it cannot decode', () => {
    expect(ggmlType(16)).toMatchObject({ name: 'IQ2_XXS', blockSize: 256, typeSize: 66 });
    expect(ggmlType(16)!.dequantize).toBeUndefined();
    expect(ggmlType(23)).toMatchObject({ name: 'IQ4_XS', blockSize: 256, typeSize: 136 });
    expect(ggmlType(4)).toBeUndefined();
  });
});

describe('k-quant dequantization (super-blocks of 256)', () => {
  // Each test packs chosen integer codes and scales exactly as ggml's reference quantizers
  // (quantize_row_q*_K_ref) lay them out, then checks the decoded values against the formula.
  const r = rng(99);
  const ints = (n: number, max: number) => seq(n, () => Math.floor(((r() + 1) / 2) * (max + 1)) % (max + 1));
  const setHalf = (b: Uint8Array, at: number, v: number) =>
    new DataView(b.buffer).setUint16(at, floatToHalf(v), true);

  /** 8 six-bit scales and mins in 12 bytes, as quantize_row_q4_K_ref / q5_K_ref store them. */
  function packScaleMin(sc: number[], mn: number[]): Uint8Array {
    const s = new Uint8Array(12);
    for (let j = 0; j < 8; j++) {
      if (j < 4) {
        s[j] = sc[j];
        s[j + 4] = mn[j];
      } else {
        s[j + 4] = (sc[j] & 0xf) | ((mn[j] & 0xf) << 4);
        s[j - 4] |= (sc[j] >> 4) << 6;
        s[j] |= (mn[j] >> 4) << 6;
      }
    }
    return s;
  }

  it('Q4_K', async () => {
    const [d, dmin] = [0.5, 0.25];
    const sc = ints(8, 63);
    const mn = ints(8, 63);
    const L = ints(256, 15);
    const b = new Uint8Array(144);
    setHalf(b, 0, d);
    setHalf(b, 2, dmin);
    b.set(packScaleMin(sc, mn), 4);
    for (let j = 0; j < 256; j += 64)
      for (let l = 0; l < 32; l++) b[16 + j / 2 + l] = L[j + l] | (L[j + l + 32] << 4);
    const want = L.map((q, i) => d * sc[i >> 5] * q - dmin * mn[i >> 5]);
    expect(Array.from(await decode(T.Q4_K, [256], b))).toEqual(want.map(Math.fround));
  });

  it('Q5_K', async () => {
    const [d, dmin] = [0.125, 2];
    const sc = ints(8, 63);
    const mn = ints(8, 63);
    const L = ints(256, 31);
    const b = new Uint8Array(176);
    setHalf(b, 0, d);
    setHalf(b, 2, dmin);
    b.set(packScaleMin(sc, mn), 4);
    let [m1, m2] = [1, 2];
    for (let n = 0; n < 256; n += 64) {
      for (let j = 0; j < 32; j++) {
        let l1 = L[n + j];
        let l2 = L[n + j + 32];
        if (l1 > 15) {
          l1 -= 16;
          b[16 + j] |= m1;
        }
        if (l2 > 15) {
          l2 -= 16;
          b[16 + j] |= m2;
        }
        b[48 + n / 2 + j] = l1 | (l2 << 4);
      }
      m1 <<= 2;
      m2 <<= 2;
    }
    const want = L.map((q, i) => d * sc[i >> 5] * q - dmin * mn[i >> 5]);
    expect(Array.from(await decode(T.Q5_K, [256], b))).toEqual(want.map(Math.fround));
  });

  it('Q6_K (signed 8-bit scales)', async () => {
    const d = 0.0625;
    const sc = ints(16, 255).map((v) => v - 128);
    const L = ints(256, 63);
    const b = new Uint8Array(210);
    setHalf(b, 208, d);
    sc.forEach((v, i) => {
      b[192 + i] = v & 0xff;
    });
    for (let j = 0; j < 256; j += 128) {
      const ql = j / 2;
      const qh = 128 + j / 4;
      for (let l = 0; l < 32; l++) {
        b[ql + l] = (L[j + l] & 0xf) | ((L[j + l + 64] & 0xf) << 4);
        b[ql + l + 32] = (L[j + l + 32] & 0xf) | ((L[j + l + 96] & 0xf) << 4);
        b[qh + l] =
          (L[j + l] >> 4) |
          ((L[j + l + 32] >> 4) << 2) |
          ((L[j + l + 64] >> 4) << 4) |
          ((L[j + l + 96] >> 4) << 6);
      }
    }
    const want = L.map((q, i) => d * sc[i >> 4] * (q - 32));
    expect(Array.from(await decode(T.Q6_K, [256], b))).toEqual(want.map(Math.fround));
  });

  /** Four 2-bit codes per byte, as the Q2_K/Q3_K quantizers pack them. */
  function pack2bit(L: number[], out: Uint8Array, at: number): void {
    for (let j = 0; j < 256; j += 128)
      for (let l = 0; l < 32; l++)
        out[at + j / 4 + l] = L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6);
  }

  it('Q2_K', async () => {
    const [d, dmin] = [0.5, 0.75];
    const sc = ints(16, 15);
    const mn = ints(16, 15);
    const L = ints(256, 3);
    const b = new Uint8Array(84);
    sc.forEach((s, j) => {
      b[j] = s | (mn[j] << 4);
    });
    pack2bit(L, b, 16);
    setHalf(b, 80, d);
    setHalf(b, 82, dmin);
    const want = L.map((q, i) => d * sc[i >> 4] * q - dmin * mn[i >> 4]);
    expect(Array.from(await decode(T.Q2_K, [256], b))).toEqual(want.map(Math.fround));
  });

  it('Q3_K (high bits in hmask, 6-bit signed scales)', async () => {
    const d = 0.25;
    const ls = ints(16, 63); // stored scale codes; value = code - 32
    const L = ints(256, 7); // value = code - 4
    const b = new Uint8Array(110);
    for (let j = 0; j < 16; j++) {
      let l = ls[j];
      if (j < 8) b[96 + j] = l & 0xf;
      else b[96 + j - 8] |= (l & 0xf) << 4;
      l >>= 4;
      b[96 + 8 + (j % 4)] |= l << (2 * Math.floor(j / 4));
    }
    setHalf(b, 108, d);
    const low = L.map((q, j) => {
      if (q > 3) b[j % 32] |= 1 << Math.floor(j / 32);
      return q > 3 ? q - 4 : q;
    });
    pack2bit(low, b, 32);
    const want = L.map((q, i) => d * (ls[i >> 4] - 32) * (q - 4));
    expect(Array.from(await decode(T.Q3_K, [256], b))).toEqual(want.map(Math.fround));
  });

  it('several super-blocks per row, several rows', async () => {
    const b = new Uint8Array(210 * 4);
    for (let k = 0; k < 4; k++) {
      setHalf(b, k * 210 + 208, k + 1);
      b.fill(1, k * 210 + 192, k * 210 + 208); // scales 1; all codes 0 -> value -32 * d
    }
    const out = await decode(T.Q6_K, [512, 2], b);
    expect(out.length).toBe(1024);
    for (let k = 0; k < 4; k++) expect(out[k * 256 + 7]).toBe(-32 * (k + 1));
  });
});

describe('GGUF validation: every bad input is a clear FormatError', () => {
  const good = () =>
    writeGguf({
      metadata: [
        ['general.architecture', gv.str('llama')],
        ['list', gv.arr(GgufValueType.STRING, ['a', 'b', 'c'])],
      ],
      tensors: [
        { name: 'a', dims: [32], type: T.F32, data: f32Bytes(seq(32, (i) => i)) },
        { name: 'b', dims: [32, 2], type: T.Q8_0, data: quantizeQ8_0(seq(64, (i) => i / 64)) },
      ],
    });

  it('truncated anywhere: header, metadata, tensor infos, data', async () => {
    const bytes = good();
    const f = await readGguf(src(bytes));
    const last = f.tensors[1];
    const cuts = [
      0,
      3,
      10,
      23,
      30,
      60,
      f.dataOffset - 40,
      f.dataOffset + 10,
      last.offset + last.byteLength - 1,
    ];
    for (const cut of cuts) {
      const e = await formatError(readGguf(src(bytes.slice(0, cut), 'cut.gguf')));
      expect(e.message).toMatch(/^cut\.gguf/);
      expect(e.message).toMatch(/truncated|not a GGUF|past the end/);
    }
  });

  it('bad magic, legacy ggml magic', async () => {
    const bytes = good();
    bytes.set(new TextEncoder().encode('PK\x03\x04'), 0);
    expect((await formatError(readGguf(src(bytes)))).message).toMatch(/not a GGUF file \(magic is "PK\?\?"/);
    const legacy = good();
    legacy.set(new TextEncoder().encode('ggjt'), 0);
    expect((await formatError(readGguf(src(legacy)))).message).toMatch(/legacy ggml file/);
  });

  it('version 1, unknown versions, big-endian files', async () => {
    const v1 = await formatError(readGguf(src(writeGguf({ version: 1 }))));
    expect(v1.message).toMatch(/unsupported GGUF version 1 \(only versions 2 and 3/);
    expect((await formatError(readGguf(src(writeGguf({ version: 4 }))))).message).toMatch(/version 4/);
    const be = writeGguf({});
    new DataView(be.buffer).setUint32(4, 3, false);
    expect((await formatError(readGguf(src(be)))).message).toMatch(/big-endian/);
  });

  it('garbage counts are rejected before allocating', async () => {
    const cases: [Partial<{ tensorCount: bigint; kvCount: bigint }>, RegExp][] = [
      [
        { tensorCount: 2n ** 40n },
        /truncated or corrupt file: 1099511627776 tensors and 0 metadata entries cannot fit/,
      ],
      [{ kvCount: 5_000_000n }, /cannot fit in \d+ bytes/],
      [{ tensorCount: 2n ** 63n }, /implausible tensor count/],
      [{ kvCount: 2n ** 64n - 1n }, /implausible metadata count/],
    ];
    for (const [spec, re] of cases) {
      expect((await formatError(readGguf(src(writeGguf(spec))))).message).toMatch(re);
    }
  });

  it('string and array lengths past the end of the file', async () => {
    const bytes = writeGguf({ metadata: [['key', gv.str('value')]] });
    new DataView(bytes.buffer).setBigUint64(24, 2n ** 40n, true); // length of the key string
    expect((await formatError(readGguf(src(bytes)))).message).toMatch(
      /metadata key at byte 24 claims 1099511627776 bytes/,
    );

    const arr = writeGguf({ metadata: [['k', gv.arr(GgufValueType.UINT32, [1, 2])]] });
    // key: 8 + 1 bytes, type u32, element type u32, then the count.
    new DataView(arr.buffer).setBigUint64(24 + 9 + 4 + 4, 10_000_000n, true);
    expect((await formatError(readGguf(src(arr)))).message).toMatch(/array of 10000000 UINT32 .* cannot fit/);
  });

  it('malformed metadata: unknown value type, invalid bool, duplicate key, bad alignment', async () => {
    const bad = writeGguf({ metadata: [['k', gv.u32(1)]] });
    new DataView(bad.buffer).setUint32(24 + 9, 77, true);
    expect((await formatError(readGguf(src(bad)))).message).toMatch(/metadata k: unknown value type 77/);

    const b = writeGguf({ metadata: [['flag', gv.u8(2)]] });
    new DataView(b.buffer).setUint32(24 + 12, GgufValueType.BOOL, true);
    expect((await formatError(readGguf(src(b)))).message).toMatch(/invalid bool byte 2/);

    const dup = writeGguf({
      metadata: [
        ['k', gv.u32(1)],
        ['k', gv.u32(2)],
      ],
    });
    expect((await formatError(readGguf(src(dup)))).message).toMatch(/duplicate metadata key k/);

    for (const a of [gv.u32(0), gv.u32(48), gv.str('32')]) {
      const e = await formatError(readGguf(src(writeGguf({ metadata: [['general.alignment', a]] }))));
      expect(e.message).toMatch(/general.alignment must be a power of two/);
    }
  });

  it('tensor data offset out of range, misaligned, overlapping', async () => {
    const data = f32Bytes(seq(8, (i) => i));
    // The writer places the data where the info says; cut the file before it.
    const far = writeGguf({ tensors: [{ name: 'w', dims: [8], type: T.F32, data, offset: 1 << 20 }] }).slice(
      0,
      4096,
    );
    const e1 = await formatError(readGguf(src(far)));
    expect(e1.tensor).toBe('w');
    expect(e1.message).toMatch(/\(tensor w\): tensor data .* lies past the end of the file/);

    const mis = writeGguf({ tensors: [{ name: 'w', dims: [8], type: T.F32, data, offset: 4 }] });
    expect((await formatError(readGguf(src(mis)))).message).toMatch(
      /offset 4 is not a multiple of the alignment 32/,
    );

    const overlap = writeGguf({
      tensors: [
        { name: 'first', dims: [16], type: T.F32, data: f32Bytes(seq(16, (i) => i)) },
        { name: 'second', dims: [8], type: T.F32, data, offset: 32 },
      ],
    });
    const e3 = await formatError(readGguf(src(overlap)));
    expect(e3.message).toMatch(/\(tensor second\): tensor data overlaps tensor first/);
  });

  it('bad tensor infos: dimensions, unknown type id, partial blocks, duplicate names', async () => {
    const data = f32Bytes([1, 2, 3, 4]);
    const dims0 = writeGguf({ tensors: [{ name: 'w', dims: [], type: T.F32, data }] });
    expect((await formatError(readGguf(src(dims0)))).message).toMatch(/\(tensor w\): 0 dimensions/);
    const dims5 = writeGguf({ tensors: [{ name: 'w', dims: [1, 1, 1, 1, 4], type: T.F32, data }] });
    expect((await formatError(readGguf(src(dims5)))).message).toMatch(/5 dimensions \(GGUF allows 1..4\)/);
    const unknown = writeGguf({ tensors: [{ name: 'w', dims: [4], type: 99, data }] });
    expect((await formatError(readGguf(src(unknown)))).message).toMatch(
      /\(tensor w\): unknown ggml type id 99 \(newer than this reader\?\)/,
    );
    const partial = writeGguf({
      tensors: [{ name: 'w', dims: [16], type: T.Q8_0, data: new Uint8Array(34) }],
    });
    expect((await formatError(readGguf(src(partial)))).message).toMatch(
      /row length 16 is not a multiple of the Q8_0 block size 32/,
    );
    const dup = writeGguf({
      tensors: [
        { name: 'w', dims: [4], type: T.F32, data },
        { name: 'w', dims: [4], type: T.F32, data },
      ],
    });
    expect((await formatError(readGguf(src(dup)))).message).toMatch(/\(tensor w\): duplicate tensor name/);
    const huge = writeGguf({
      tensors: [{ name: 'w', dims: [2 ** 30, 2 ** 30, 2 ** 30], type: T.F32, data }],
    });
    expect((await formatError(readGguf(src(huge)))).message).toMatch(/implausible shape/);
  });

  it('unsupported tensor type names the type and the tensor (the file still opens)', async () => {
    const bytes = writeGguf({
      tensors: [{ name: 'blk.0.ffn_up.weight', dims: [256], type: T.IQ2_XXS, data: new Uint8Array(66) }],
    });
    const f = await readGguf(src(bytes));
    expect(f.tensors[0].type.name).toBe('IQ2_XXS');
    const e = await formatError(readGgufTensor(f, 'blk.0.ffn_up.weight'));
    expect(e.tensor).toBe('blk.0.ffn_up.weight');
    expect(e.message).toMatch(/unsupported tensor type IQ2_XXS \(supported: F32, F16, Q4_0/);
  });

  it('NaN and Inf in data or in block scales', async () => {
    const nan = writeGguf({
      tensors: [{ name: 'w', dims: [4], type: T.F32, data: f32Bytes([1, 2, Number.NaN, 4]) }],
    });
    const e = await formatError(readGgufTensor(await readGguf(src(nan)), 'w'));
    expect(e.message).toMatch(/\(tensor w\): non-finite value NaN at element 2/);

    const inf = writeGguf({
      tensors: [{ name: 'h', dims: [2], type: T.F16, data: f16Bytes([1, Number.POSITIVE_INFINITY]) }],
    });
    expect((await formatError(readGgufTensor(await readGguf(src(inf)), 'h'))).message).toMatch(
      /Infinity at element 1/,
    );

    const q = quantizeQ8_0(seq(32, (i) => i));
    new DataView(q.buffer).setUint16(0, 0x7e00, true); // d = NaN
    const qnan = writeGguf({ tensors: [{ name: 'q', dims: [32], type: T.Q8_0, data: q }] });
    expect((await formatError(readGgufTensor(await readGguf(src(qnan)), 'q'))).message).toMatch(/non-finite/);
  });

  it('asking for a tensor that is not there', async () => {
    const f = await readGguf(src(good()));
    expect((await formatError(readGgufTensor(f, 'nope'))).message).toMatch(/\(tensor nope\): no such tensor/);
  });

  it('random corruption gives FormatError or a valid parse, never another exception', async () => {
    const base = good();
    const r = rng(1234);
    for (let trial = 0; trial < 300; trial++) {
      const bytes = base.slice();
      const flips = 1 + Math.floor(((r() + 1) / 2) * 4);
      for (let k = 0; k < flips; k++) {
        // Corrupt the header region mostly: that is where parsing decisions happen.
        const at = Math.floor(((r() + 1) / 2) * Math.min(bytes.length, 400));
        bytes[at] = Math.floor(((r() + 1) / 2) * 256);
      }
      try {
        const f = await readGguf(src(bytes));
        for (const t of f.tensors)
          await readGgufTensor(f, t.name).catch((e) => expect(e).toBeInstanceOf(FormatError));
      } catch (e) {
        expect(e).toBeInstanceOf(FormatError);
      }
    }
    // Pure garbage after a valid preamble.
    for (let trial = 0; trial < 50; trial++) {
      const bytes = new Uint8Array(2048).map(() => Math.floor(((r() + 1) / 2) * 256));
      bytes.set([0x47, 0x47, 0x55, 0x46, 3, 0, 0, 0]);
      await readGguf(src(bytes)).catch((e) => expect(e).toBeInstanceOf(FormatError));
    }
  });
});

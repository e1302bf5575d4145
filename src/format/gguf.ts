/**
 * GGUF (v2, v3) reader over a ByteSource: header, metadata, tensor infos, and tensors decoded to
 * fp32. Knows nothing about model architectures (see gguf-checkpoint.ts for LLaMA).
 *
 * Layout (ggml docs/gguf.md): magic "GGUF", u32 version, u64 tensor_count, u64 kv_count, the
 * metadata key/values, the tensor infos, padding to `general.alignment` (default 32), then the
 * data section; each tensor info's offset is relative to the data section.
 *
 * Everything read from the file is distrusted: counts and lengths are checked against the file
 * size before anything is allocated, so a corrupt or hostile file gives a FormatError, not a
 * multi-gigabyte allocation or a hang.
 */
import type { ByteSource } from './checkpoint';
import { FormatError } from './errors';
import { type GgmlType, ggmlType, SUPPORTED_GGML_TYPES } from './ggml-quants';

/** Metadata value types (gguf_type). */
export const GgufValueType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;

/** u64/i64 values become numbers when exactly representable, bigints otherwise. */
export type GgufValue = number | bigint | boolean | string | GgufValue[];

export interface GgufTensor {
  /** Name as stored in the file (e.g. 'blk.0.attn_q.weight'). */
  readonly name: string;
  readonly type: GgmlType;
  /** ggml order: dims[0] (ne[0]) is the innermost, contiguous dimension (the row length). */
  readonly dims: number[];
  /** PyTorch order, outermost first: a GGUF [cols, rows] matrix is [rows, cols] here. */
  readonly shape: number[];
  readonly numElements: number;
  /** Absolute byte offset in the file. */
  readonly offset: number;
  readonly byteLength: number;
}

export interface GgufFile {
  readonly source: ByteSource;
  readonly version: 2 | 3;
  readonly alignment: number;
  /** Absolute offset of the data section. */
  readonly dataOffset: number;
  readonly metadata: Map<string, GgufValue>;
  readonly tensors: GgufTensor[];
  readonly tensorByName: Map<string, GgufTensor>;
}

const MAGIC = 0x46554747; // "GGUF" read as little-endian u32
const DEFAULT_ALIGNMENT = 32;
const GGML_MAX_DIMS = 4;
const MAX_NESTING = 8;
/** Smallest possible encodings, used to reject counts that cannot fit in the file. */
const MIN_KV_BYTES = 8 + 4 + 1; // empty key, type, one-byte value
const MIN_TENSOR_INFO_BYTES = 8 + 4 + 8 + 4 + 8; // empty name, n_dims=1, one dim, type, offset
/**
 * First read of the header, doubled until the header fits. Small enough that a remote file costs
 * little beyond its header; a 32k-token vocabulary (~0.7 MB of metadata) takes 3 reads, a 128k
 * one (~5 MB with merges) 6.
 */
const INITIAL_HEADER_BYTES = 256 << 10;

/** Thrown by the cursor when the header runs past the bytes fetched so far. */
class NeedMoreBytes extends Error {}

const utf8 = new TextDecoder('utf-8');

/**
 * Synchronous little-endian cursor over the fetched prefix of the file. `fileSize` is the real
 * size: lengths beyond it are corruption (FormatError); lengths beyond the prefix only mean the
 * caller must fetch more (NeedMoreBytes).
 */
class Cursor {
  pos = 0;
  private readonly view: DataView;
  constructor(
    private readonly bytes: Uint8Array,
    private readonly fileSize: number,
    private readonly file: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  fail(reason: string): never {
    throw new FormatError(this.file, reason);
  }

  private need(n: number, what: string): number {
    const at = this.pos;
    if (at + n > this.fileSize) {
      this.fail(`truncated file: ${what} at byte ${at} needs ${n} bytes, but the file has ${this.fileSize}`);
    }
    if (at + n > this.bytes.length) throw new NeedMoreBytes();
    this.pos = at + n;
    return at;
  }

  /** Bytes left in the whole file after the cursor. */
  remaining(): number {
    return this.fileSize - this.pos;
  }

  u8(): number {
    return this.view.getUint8(this.need(1, 'u8'));
  }
  i8(): number {
    return this.view.getInt8(this.need(1, 'i8'));
  }
  u16(): number {
    return this.view.getUint16(this.need(2, 'u16'), true);
  }
  i16(): number {
    return this.view.getInt16(this.need(2, 'i16'), true);
  }
  u32(what = 'u32'): number {
    return this.view.getUint32(this.need(4, what), true);
  }
  i32(): number {
    return this.view.getInt32(this.need(4, 'i32'), true);
  }
  f32(): number {
    return this.view.getFloat32(this.need(4, 'f32'), true);
  }
  f64(): number {
    return this.view.getFloat64(this.need(8, 'f64'), true);
  }
  u64Value(): number | bigint {
    const v = this.view.getBigUint64(this.need(8, 'u64'), true);
    return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }
  i64Value(): number | bigint {
    const v = this.view.getBigInt64(this.need(8, 'i64'), true);
    return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v;
  }
  /** A u64 used as a count, length or offset: must be a safe integer. */
  size64(what: string): number {
    const at = this.pos;
    const v = this.view.getBigUint64(this.need(8, what), true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`implausible ${what} ${v} at byte ${at}`);
    return Number(v);
  }
  string(what: string): string {
    const at = this.pos;
    const len = this.size64(`${what} length`);
    if (len > this.remaining()) {
      this.fail(`${what} at byte ${at} claims ${len} bytes, past the end of the file`);
    }
    const start = this.need(len, what);
    return utf8.decode(this.bytes.subarray(start, start + len));
  }
}

function typeNameOf(t: number): string {
  const name = Object.entries(GgufValueType).find(([, v]) => v === t)?.[0];
  return name ?? `unknown(${t})`;
}

/** Smallest encoding of one value of type `t`, to bound array counts by the file size. */
function minValueBytes(t: number): number {
  switch (t) {
    case GgufValueType.UINT8:
    case GgufValueType.INT8:
    case GgufValueType.BOOL:
      return 1;
    case GgufValueType.UINT16:
    case GgufValueType.INT16:
      return 2;
    case GgufValueType.UINT32:
    case GgufValueType.INT32:
    case GgufValueType.FLOAT32:
      return 4;
    case GgufValueType.STRING:
    case GgufValueType.UINT64:
    case GgufValueType.INT64:
    case GgufValueType.FLOAT64:
      return 8;
    case GgufValueType.ARRAY:
      return 12;
    default:
      return 1;
  }
}

function readValue(c: Cursor, type: number, key: string, depth: number): GgufValue {
  switch (type) {
    case GgufValueType.UINT8:
      return c.u8();
    case GgufValueType.INT8:
      return c.i8();
    case GgufValueType.UINT16:
      return c.u16();
    case GgufValueType.INT16:
      return c.i16();
    case GgufValueType.UINT32:
      return c.u32();
    case GgufValueType.INT32:
      return c.i32();
    case GgufValueType.FLOAT32:
      return c.f32();
    case GgufValueType.FLOAT64:
      return c.f64();
    case GgufValueType.UINT64:
      return c.u64Value();
    case GgufValueType.INT64:
      return c.i64Value();
    case GgufValueType.BOOL: {
      const b = c.u8();
      if (b > 1) c.fail(`metadata ${key}: invalid bool byte ${b}`);
      return b === 1;
    }
    case GgufValueType.STRING:
      return c.string(`metadata ${key} string`);
    case GgufValueType.ARRAY: {
      if (depth >= MAX_NESTING) c.fail(`metadata ${key}: arrays nested deeper than ${MAX_NESTING}`);
      const elemType = c.u32();
      if (typeNameOf(elemType).startsWith('unknown')) {
        c.fail(`metadata ${key}: unknown array element type ${elemType}`);
      }
      const at = c.pos;
      const count = c.size64(`metadata ${key} array count`);
      if (count * minValueBytes(elemType) > c.remaining()) {
        c.fail(
          `metadata ${key}: array of ${count} ${typeNameOf(elemType)} at byte ${at} cannot fit in the file`,
        );
      }
      const out: GgufValue[] = new Array(count);
      for (let i = 0; i < count; i++) out[i] = readValue(c, elemType, key, depth + 1);
      return out;
    }
    default:
      return c.fail(`metadata ${key}: unknown value type ${type}`);
  }
}

interface RawTensorInfo {
  name: string;
  dims: number[];
  typeId: number;
  relOffset: number;
}

interface ParsedHeader {
  version: 2 | 3;
  metadata: Map<string, GgufValue>;
  infos: RawTensorInfo[];
  /** End of the tensor infos (before padding). */
  end: number;
}

function parseHeader(bytes: Uint8Array, fileSize: number, file: string): ParsedHeader {
  const c = new Cursor(bytes, fileSize, file);
  if (fileSize < 4) c.fail(`not a GGUF file: only ${fileSize} bytes`);
  const magic = c.u32('magic');
  if (magic !== MAGIC) {
    const text = String.fromCharCode(...bytes.subarray(0, 4)).replace(/[^\x20-\x7e]/g, '?');
    const legacy = ['ggml', 'ggmf', 'ggjt', 'ggla'].includes(text.toLowerCase());
    c.fail(
      legacy
        ? `legacy ggml file (magic "${text}"); only GGUF v2/v3 is supported`
        : `not a GGUF file (magic is "${text}", expected "GGUF")`,
    );
  }
  const version = c.u32('version');
  if (version !== 2 && version !== 3) {
    const swapped =
      (((version & 0xff) << 24) |
        ((version & 0xff00) << 8) |
        ((version >>> 8) & 0xff00) |
        (version >>> 24)) >>>
      0;
    if (swapped === 2 || swapped === 3) c.fail('big-endian GGUF files are not supported');
    c.fail(`unsupported GGUF version ${version} (only versions 2 and 3 are supported)`);
  }
  const tensorCount = c.size64('tensor count');
  const kvCount = c.size64('metadata count');
  if (tensorCount * MIN_TENSOR_INFO_BYTES + kvCount * MIN_KV_BYTES > c.remaining()) {
    c.fail(
      `truncated or corrupt file: ${tensorCount} tensors and ${kvCount} metadata entries cannot fit in ${fileSize} bytes`,
    );
  }

  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < kvCount; i++) {
    const key = c.string('metadata key');
    const type = c.u32();
    if (metadata.has(key)) c.fail(`duplicate metadata key ${key}`);
    metadata.set(key, readValue(c, type, key, 0));
  }

  const infos: RawTensorInfo[] = [];
  for (let i = 0; i < tensorCount; i++) {
    const name = c.string('tensor name');
    const nDims = c.u32();
    if (nDims < 1 || nDims > GGML_MAX_DIMS) {
      throw new FormatError(file, `${nDims} dimensions (GGUF allows 1..${GGML_MAX_DIMS})`, name);
    }
    const dims: number[] = [];
    for (let d = 0; d < nDims; d++) dims.push(c.size64(`tensor ${name} dimension`));
    const typeId = c.u32();
    const relOffset = c.size64(`tensor ${name} offset`);
    infos.push({ name, dims, typeId, relOffset });
  }
  return { version: version as 2 | 3, metadata, infos, end: c.pos };
}

/** Parses the header, fetching a growing prefix of the source until it fits. */
async function fetchAndParseHeader(src: ByteSource, fileSize: number): Promise<ParsedHeader> {
  let prefix = await src.read(0, Math.min(fileSize, INITIAL_HEADER_BYTES));
  for (;;) {
    try {
      return parseHeader(prefix, fileSize, src.name);
    } catch (e) {
      if (!(e instanceof NeedMoreBytes)) throw e;
      // Fetch only the missing part, so a remote source never downloads the same bytes twice.
      const want = Math.min(fileSize, prefix.length * 2);
      const more = await src.read(prefix.length, want - prefix.length);
      const grown = new Uint8Array(want);
      grown.set(prefix);
      grown.set(more, prefix.length);
      prefix = grown;
    }
  }
}

function checkAlignment(metadata: Map<string, GgufValue>, file: string): number {
  const a = metadata.get('general.alignment');
  if (a === undefined) return DEFAULT_ALIGNMENT;
  if (typeof a !== 'number' || !Number.isInteger(a) || a <= 0 || (a & (a - 1)) !== 0) {
    throw new FormatError(file, `general.alignment must be a power of two, got ${String(a)}`);
  }
  return a;
}

/** Resolves raw infos to absolute, bounds-checked, non-overlapping tensors. */
function buildTensors(
  infos: RawTensorInfo[],
  dataOffset: number,
  alignment: number,
  fileSize: number,
  file: string,
): GgufTensor[] {
  const tensors: GgufTensor[] = [];
  const seen = new Set<string>();
  for (const info of infos) {
    const { name, dims } = info;
    if (seen.has(name)) throw new FormatError(file, 'duplicate tensor name', name);
    seen.add(name);
    const type = ggmlType(info.typeId);
    if (!type)
      throw new FormatError(file, `unknown ggml type id ${info.typeId} (newer than this reader?)`, name);
    let numElements = 1;
    for (const d of dims) {
      numElements *= d;
      if (numElements > Number.MAX_SAFE_INTEGER) {
        throw new FormatError(file, `implausible shape [${dims.join(', ')}]`, name);
      }
    }
    if (dims[0] % type.blockSize !== 0) {
      throw new FormatError(
        file,
        `row length ${dims[0]} is not a multiple of the ${type.name} block size ${type.blockSize}`,
        name,
      );
    }
    const byteLength = (numElements / type.blockSize) * type.typeSize;
    if (info.relOffset % alignment !== 0) {
      throw new FormatError(
        file,
        `data offset ${info.relOffset} is not a multiple of the alignment ${alignment}`,
        name,
      );
    }
    const offset = dataOffset + info.relOffset;
    if (offset + byteLength > fileSize) {
      throw new FormatError(
        file,
        `tensor data [${offset}, ${offset + byteLength}) lies past the end of the file (${fileSize} bytes; truncated?)`,
        name,
      );
    }
    tensors.push({ name, type, dims, shape: [...dims].reverse(), numElements, offset, byteLength });
  }
  const byOffset = [...tensors].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < byOffset.length; i++) {
    const prev = byOffset[i - 1];
    const cur = byOffset[i];
    if (prev.offset + prev.byteLength > cur.offset) {
      throw new FormatError(file, `tensor data overlaps tensor ${prev.name}`, cur.name);
    }
  }
  return tensors;
}

/** Reads and validates a GGUF header. Tensor data is read lazily by readGgufTensor. */
export async function readGguf(src: ByteSource): Promise<GgufFile> {
  const fileSize = await src.size();
  const header = await fetchAndParseHeader(src, fileSize);
  const alignment = checkAlignment(header.metadata, src.name);
  const dataOffset = Math.ceil(header.end / alignment) * alignment;
  if (header.infos.length > 0 && dataOffset > fileSize) {
    throw new FormatError(
      src.name,
      `truncated file: data section starts at ${dataOffset}, past the end (${fileSize})`,
    );
  }
  const tensors = buildTensors(header.infos, dataOffset, alignment, fileSize, src.name);
  return {
    source: src,
    version: header.version,
    alignment,
    dataOffset,
    metadata: header.metadata,
    tensors,
    tensorByName: new Map(tensors.map((t) => [t.name, t])),
  };
}

/**
 * Decodes a tensor's raw bytes to fp32 and rejects NaN/Inf (a corrupt or badly quantized file
 * must fail here, not as garbage text much later). `label` names the tensor in errors.
 */
export function decodeGgufTensor(file: string, tensor: GgufTensor, bytes: Uint8Array, label = tensor.name) {
  const { type } = tensor;
  if (!type.dequantize) {
    throw new FormatError(
      file,
      `unsupported tensor type ${type.name} (supported: ${SUPPORTED_GGML_TYPES.join(', ')})`,
      label,
    );
  }
  if (bytes.length !== tensor.byteLength) {
    throw new FormatError(file, `expected ${tensor.byteLength} bytes of data, got ${bytes.length}`, label);
  }
  const out = new Float32Array(tensor.numElements);
  type.dequantize(bytes, out);
  for (let i = 0; i < out.length; i++) {
    const v = out[i];
    if (v - v !== 0) {
      // v - v is NaN exactly when v is NaN or ±Inf.
      throw new FormatError(file, `non-finite value ${v} at element ${i}`, label);
    }
  }
  return out;
}

/** Reads one tensor (only its byte range) and decodes it to fp32, row-major in `shape` order. */
export async function readGgufTensor(file: GgufFile, name: string, label = name): Promise<Float32Array> {
  const tensor = file.tensorByName.get(name);
  if (!tensor) throw new FormatError(file.source.name, 'no such tensor in the file', label);
  const bytes = await file.source.read(tensor.offset, tensor.byteLength);
  return decodeGgufTensor(file.source.name, tensor, bytes, label);
}

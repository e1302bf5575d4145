import { joinName, readAllJson } from './byte-source';
import type { ByteSource, SourceDirectory } from './checkpoint';
import { FormatError } from './errors';

/**
 * safetensors reader (https://github.com/huggingface/safetensors): an 8-byte little-endian header
 * length N, N bytes of JSON `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?}`,
 * then the tensor bytes; offsets are relative to the end of the header.
 * Everything is validated up front so a bad file fails with a message, not with garbage weights.
 */

/** Larger headers are refused before allocating anything (the reference implementation uses 100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;

/** Bytes per element of the dtypes pagelm can convert; anything else is rejected at parse time. */
const ITEM_SIZE: Record<string, number> = { F32: 4, F16: 2, BF16: 2 };

export interface SafetensorsTensor {
  name: string;
  dtype: 'F32' | 'F16' | 'BF16';
  shape: number[];
  /** Absolute byte offset of the data in the file (header included). */
  offset: number;
  byteLength: number;
}

export interface SafetensorsFile {
  source: ByteSource;
  tensors: Map<string, SafetensorsTensor>;
  /** The `__metadata__` string map ({} when absent). */
  metadata: Record<string, string>;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Parses and validates the header of one .safetensors file. Reads only the header bytes. */
export async function parseSafetensors(src: ByteSource): Promise<SafetensorsFile> {
  const file = src.name;
  const fileSize = await src.size();
  if (fileSize < 8) throw new FormatError(file, `truncated: ${fileSize} bytes, no header length`);
  const lenBytes = await src.read(0, 8);
  const headerLen64 = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLen64 > BigInt(MAX_HEADER_BYTES) || Number(headerLen64) > fileSize - 8) {
    throw new FormatError(file, `header too large: ${headerLen64} bytes (file has ${fileSize})`);
  }
  const headerLen = Number(headerLen64);
  const dataStart = 8 + headerLen;
  const dataSize = fileSize - dataStart;

  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(await src.read(8, headerLen)));
  } catch (e) {
    if (e instanceof FormatError) throw e;
    throw new FormatError(file, `invalid header JSON: ${(e as Error).message}`);
  }
  if (!isRecord(header)) throw new FormatError(file, 'invalid header JSON: not an object');

  const metadata: Record<string, string> = {};
  const tensors = new Map<string, SafetensorsTensor>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isRecord(entry)) throw new FormatError(file, '__metadata__ is not an object');
      for (const [k, v] of Object.entries(entry)) {
        if (typeof v !== 'string') throw new FormatError(file, `__metadata__.${k} is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    tensors.set(name, parseEntry(file, name, entry, dataStart, dataSize));
  }
  checkNoOverlap(file, [...tensors.values()]);
  return { source: src, tensors, metadata };
}

function parseEntry(
  file: string,
  name: string,
  entry: unknown,
  dataStart: number,
  dataSize: number,
): SafetensorsTensor {
  if (!isRecord(entry)) throw new FormatError(file, 'header entry is not an object', name);
  const { dtype, shape, data_offsets: offsets } = entry;
  if (typeof dtype !== 'string') throw new FormatError(file, 'missing dtype', name);
  const itemSize = ITEM_SIZE[dtype];
  if (itemSize === undefined) {
    throw new FormatError(file, `unsupported dtype ${dtype} (supported: F32, F16, BF16)`, name);
  }
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    throw new FormatError(file, `invalid shape ${JSON.stringify(shape)}`, name);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
    throw new FormatError(file, `invalid data_offsets ${JSON.stringify(offsets)}`, name);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) throw new FormatError(file, `data_offsets [${begin}, ${end}]: end before start`, name);
  if (end > dataSize) {
    throw new FormatError(
      file,
      `data_offsets [${begin}, ${end}] out of range: data section has ${dataSize} bytes (file truncated?)`,
      name,
    );
  }
  const elements = (shape as number[]).reduce((a, b) => a * b, 1);
  if (elements * itemSize !== end - begin) {
    throw new FormatError(
      file,
      `data_offsets [${begin}, ${end}] hold ${end - begin} bytes but shape [${shape}] ${dtype} needs ${elements * itemSize}`,
      name,
    );
  }
  return {
    name,
    dtype: dtype as SafetensorsTensor['dtype'],
    shape: shape as number[],
    offset: dataStart + begin,
    byteLength: end - begin,
  };
}

/** Two tensors sharing bytes would silently alias; the format forbids it, so do we. */
function checkNoOverlap(file: string, list: SafetensorsTensor[]): void {
  const sorted = list.filter((t) => t.byteLength > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    const cur = sorted[i];
    if (cur.offset < prev.offset + prev.byteLength) {
      throw new FormatError(file, `data overlaps tensor ${prev.name}`, cur.name);
    }
  }
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** IEEE binary16 -> number (exact; handles subnormals, Inf, NaN). */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Decodes raw little-endian tensor bytes to fp32. BF16 is the top half of an fp32, so it is a shift. */
export function decodeToF32(dtype: string, bytes: Uint8Array): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'F32': {
      if (littleEndian) return new Float32Array(bytes.slice().buffer); // slice(): aligned copy
      const out = new Float32Array(bytes.byteLength / 4);
      for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true);
      return out;
    }
    case 'F16': {
      const out = new Float32Array(bytes.byteLength / 2);
      for (let i = 0; i < out.length; i++) out[i] = f16ToF32(view.getUint16(2 * i, true));
      return out;
    }
    case 'BF16': {
      const out = new Float32Array(bytes.byteLength / 2);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < out.length; i++) bits[i] = view.getUint16(2 * i, true) << 16;
      // The Uint32 view writes host order; on a big-endian host that is still the right float.
      return out;
    }
    default:
      throw new Error(`decodeToF32: unsupported dtype ${dtype}`);
  }
}

/** Reads one tensor of a parsed file as fp32. */
export async function readSafetensor(file: SafetensorsFile, name: string): Promise<Float32Array> {
  const t = file.tensors.get(name);
  if (!t) throw new FormatError(file.source.name, 'no such tensor', name);
  return decodeToF32(t.dtype, await file.source.read(t.offset, t.byteLength));
}

/** One tensor of a (possibly sharded) set, with the file it lives in. */
export interface StoredTensor extends SafetensorsTensor {
  file: SafetensorsFile;
}

/** All tensors of a checkpoint: a single model.safetensors or the shards of an index. */
export interface SafetensorsSet {
  /** The file errors about the set as a whole are reported against (the index or the single file). */
  name: string;
  tensors: Map<string, StoredTensor>;
  /** __metadata__ of every shard merged (plus the index's own string metadata). */
  metadata: Record<string, string>;
  read(name: string): Promise<Float32Array>;
}

export const SINGLE_FILE = 'model.safetensors';
export const INDEX_FILE = 'model.safetensors.index.json';

/**
 * Opens the weights of a Hugging Face checkpoint directory: the sharded form (index json with a
 * weight_map from tensor name to shard file) when present, else model.safetensors.
 * The index must agree exactly with the shards: a tensor mapped to a shard that lacks it, or
 * stored in a shard the map doesn't point to, is an error rather than a guess.
 */
export async function openSafetensorsSet(dir: SourceDirectory): Promise<SafetensorsSet> {
  const index = await dir.open(INDEX_FILE);
  if (index) return openSharded(dir, index);
  const single = await dir.open(SINGLE_FILE);
  if (!single) {
    throw new FormatError(dir.name, `no ${SINGLE_FILE} or ${INDEX_FILE}`);
  }
  const file = await parseSafetensors(single);
  const tensors = new Map<string, StoredTensor>();
  for (const t of file.tensors.values()) tensors.set(t.name, { ...t, file });
  return makeSet(single.name, tensors, { ...file.metadata });
}

async function openSharded(dir: SourceDirectory, index: ByteSource): Promise<SafetensorsSet> {
  const json = await readAllJson(index);
  if (!isRecord(json) || !isRecord(json.weight_map)) {
    throw new FormatError(index.name, 'no weight_map object');
  }
  const weightMap = json.weight_map;
  const metadata: Record<string, string> = {};
  if (isRecord(json.metadata)) {
    for (const [k, v] of Object.entries(json.metadata)) if (typeof v === 'string') metadata[k] = v;
  }
  const shardNames = new Set<string>();
  for (const [name, shard] of Object.entries(weightMap)) {
    if (typeof shard !== 'string')
      throw new FormatError(index.name, 'weight_map entry is not a string', name);
    shardNames.add(shard);
  }
  const shards = new Map<string, SafetensorsFile>();
  for (const shard of shardNames) {
    const src = await dir.open(shard);
    if (!src) throw new FormatError(joinName(dir.name, shard), 'shard listed in the index is missing');
    const file = await parseSafetensors(src);
    shards.set(shard, file);
    Object.assign(metadata, file.metadata);
  }
  const tensors = new Map<string, StoredTensor>();
  for (const [name, shard] of Object.entries(weightMap) as [string, string][]) {
    const file = shards.get(shard)!;
    const t = file.tensors.get(name);
    if (!t)
      throw new FormatError(file.source.name, `tensor listed in ${INDEX_FILE} is not in this shard`, name);
    tensors.set(name, { ...t, file });
  }
  for (const [shard, file] of shards) {
    for (const name of file.tensors.keys()) {
      if (weightMap[name] !== shard) {
        throw new FormatError(file.source.name, `tensor is not mapped to this shard in ${INDEX_FILE}`, name);
      }
    }
  }
  return makeSet(index.name, tensors, metadata);
}

function makeSet(
  name: string,
  tensors: Map<string, StoredTensor>,
  metadata: Record<string, string>,
): SafetensorsSet {
  return {
    name,
    tensors,
    metadata,
    read: async (tensorName) => {
      const t = tensors.get(tensorName);
      if (!t) throw new FormatError(name, 'no such tensor', tensorName);
      return decodeToF32(t.dtype, await t.file.source.read(t.offset, t.byteLength));
    },
  };
}

import { dequantize, kOrderToSlotOrder } from '../quant/layouts';
import type { Components } from '../quant/types';
import { joinName, readAllJson } from './byte-source';
import type { ByteSource, SourceDirectory, TokenizerFiles } from './checkpoint';
import { sha256Hex } from './digest';
import { FormatError } from './errors';
import {
  COMPONENT_ALIGN,
  type ComponentRef,
  MANIFEST_FILE,
  PACK_FORMAT,
  PACK_VERSION,
  type PackFile,
  type PackManifest,
  type PackTensor,
} from './pack';
import { componentSpec, isScheme } from './pack-layout';

/**
 * Opens a pack (docs/FORMAT.md "Manifest") from any SourceDirectory: a local directory (Node), a
 * folder the user picked, a URL prefix, IndexedDB. Opening validates everything that can be
 * checked without reading the weights — format and version, every shard present with the size
 * the manifest states, every component a 256-byte aligned range inside its shard with exactly
 * the size its scheme implies — so that loading is a plain copy into GPU buffers. Checksums cost
 * a full read, so they are checked on demand (verifyShard / verifyAll, or `verify: true`).
 */

export interface OpenPackOptions {
  /** Also SHA-256 every shard at open (reads the whole pack). Default false. */
  verify?: boolean;
}

export interface Pack {
  readonly manifest: PackManifest;
  readonly source: SourceDirectory;
  /** The manifest entry of a tensor; FormatError if the pack has none. */
  tensor(name: string): PackTensor;
  /**
   * The typed array of one component as stored (a fresh copy, 4-byte aligned): a version-1 pack's
   * w2-4-16 qweight in K order. readTensorComponents gives what the kernels read.
   */
  readComponent(ref: ComponentRef): Promise<Uint32Array | Float32Array>;
  /** All components of one row piece of a tensor. */
  readTensorComponents(name: string, piece: number): Promise<Components>;
  /** The tensor as f32 in its full shape ([N, K] or [K]), pieces joined, exactly as the kernels compute it. */
  dequantizeTensor(name: string): Promise<Float32Array>;
  /** SHA-256 of shard i against the manifest; FormatError naming the shard on mismatch. */
  verifyShard(index: number): Promise<void>;
  verifyAll(): Promise<void>;
  /** tokenizer.json (+ tokenizer_config.json), size and checksum verified. */
  readTokenizer(): Promise<TokenizerFiles>;
}

type Json = Record<string, unknown>;

function isRecord(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const SHA256 = /^[0-9a-f]{64}$/;
/** Pack file names are plain names: no directories, nothing hidden, nothing that escapes. */
const FILE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

function checkPackFile(v: unknown, what: string, file: string): PackFile {
  if (
    !isRecord(v) ||
    typeof v.file !== 'string' ||
    !FILE_NAME.test(v.file) ||
    !isCount(v.bytes) ||
    typeof v.sha256 !== 'string' ||
    !SHA256.test(v.sha256)
  ) {
    throw new FormatError(file, `bad ${what} entry ${JSON.stringify(v)?.slice(0, 200)}`);
  }
  return v as unknown as PackFile;
}

/**
 * Validates the JSON of manifest.json (structure, version, tensor/piece/component geometry).
 * Readers reject a newer version rather than misread it: the version is bumped exactly when an
 * old reader would compute wrong results from a new pack.
 */
export function parseManifest(json: unknown, file: string): PackManifest {
  if (!isRecord(json)) throw new FormatError(file, 'not a JSON object');
  if (json.format !== PACK_FORMAT) {
    throw new FormatError(file, `not a pagelm pack (format ${JSON.stringify(json.format)})`);
  }
  const version = json.version;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) {
    throw new FormatError(file, `bad pack version ${JSON.stringify(version)}`);
  }
  if (version > PACK_VERSION) {
    throw new FormatError(
      file,
      `pack format version ${version} is newer than this pagelm reads (version ${PACK_VERSION}); upgrade pagelm or re-convert the model`,
    );
  }
  if (!isScheme(json.scheme)) throw new FormatError(file, `unknown scheme ${JSON.stringify(json.scheme)}`);
  if (!isRecord(json.config) || json.config.architecture !== 'llama') {
    throw new FormatError(file, 'missing or unsupported model config');
  }
  if (!isRecord(json.tokenizer)) throw new FormatError(file, 'missing tokenizer');
  checkPackFile(json.tokenizer.json, 'tokenizer.json', file);
  if (json.tokenizer.config !== null) checkPackFile(json.tokenizer.config, 'tokenizer config', file);
  if (!Array.isArray(json.shards)) throw new FormatError(file, 'missing shards');
  const shards = json.shards.map((s, i) => checkPackFile(s, `shard ${i}`, file));
  if (!Array.isArray(json.tensors)) throw new FormatError(file, 'missing tensors');
  const seen = new Set<string>();
  for (const t of json.tensors) {
    checkTensor(t, shards, file);
    const name = (t as PackTensor).name;
    if (seen.has(name)) throw new FormatError(file, 'tensor listed twice', name);
    seen.add(name);
  }
  return json as unknown as PackManifest;
}

function checkTensor(t: unknown, shards: PackFile[], file: string): void {
  if (!isRecord(t) || typeof t.name !== 'string') throw new FormatError(file, 'bad tensor entry');
  const name = t.name;
  const fail = (reason: string): never => {
    throw new FormatError(file, reason, name);
  };
  const shape = t.shape;
  if (
    !Array.isArray(shape) ||
    shape.length < 1 ||
    shape.length > 2 ||
    !shape.every((d) => isCount(d) && d > 0)
  ) {
    fail(`bad shape ${JSON.stringify(shape)}`);
  }
  if (!isScheme(t.scheme)) fail(`unknown scheme ${JSON.stringify(t.scheme)}`);
  if (t.groupSize !== undefined && !(isCount(t.groupSize) && t.groupSize > 0)) fail('bad groupSize');
  const [N, K] = (shape as number[]).length === 2 ? (shape as number[]) : [1, (shape as number[])[0]];
  if (!Array.isArray(t.pieces) || t.pieces.length === 0) fail('no pieces');
  let next = 0;
  for (const p of t.pieces as unknown[]) {
    if (!isRecord(p) || !Array.isArray(p.rows) || !isRecord(p.components)) fail('bad piece');
    const piece = p as Json;
    const [r0, r1] = piece.rows as unknown[];
    if (r0 !== next || !isCount(r1) || r1 <= r0 || r1 > N) {
      fail(`pieces do not tile rows [0, ${N}): got ${JSON.stringify(piece.rows)} after row ${next}`);
    }
    next = r1 as number;
    let spec: ReturnType<typeof componentSpec> = {};
    try {
      spec = componentSpec(t.scheme as PackTensor['scheme'], next - (r0 as number), K, t.groupSize as number);
    } catch (e) {
      fail((e as Error).message);
    }
    const comps = piece.components as Json;
    const names = Object.keys(comps);
    const wanted = Object.keys(spec);
    if (names.length !== wanted.length || !wanted.every((w) => Object.hasOwn(comps, w))) {
      fail(`components [${names}] do not match scheme ${t.scheme} ([${wanted}])`);
    }
    for (const c of wanted) {
      const ref = comps[c];
      if (!isRecord(ref) || !isCount(ref.shard) || !isCount(ref.offset) || !isCount(ref.bytes)) {
        fail(`component ${c}: bad byte range ${JSON.stringify(ref)}`);
      }
      const r = ref as unknown as ComponentRef;
      if (r.dtype !== spec[c].dtype) fail(`component ${c}: dtype ${r.dtype}, expected ${spec[c].dtype}`);
      const expected = spec[c].bytes;
      if (expected !== null ? r.bytes !== expected : r.bytes % 4 !== 0) {
        fail(`component ${c}: ${r.bytes} bytes, expected ${expected ?? 'a multiple of 4'}`);
      }
      if (r.shard >= shards.length) fail(`component ${c}: shard ${r.shard} does not exist`);
      if (r.offset % COMPONENT_ALIGN !== 0)
        fail(`component ${c}: offset ${r.offset} is not 256-byte aligned`);
      if (r.offset + r.bytes > shards[r.shard].bytes) {
        fail(
          `component ${c}: bytes [${r.offset}, ${r.offset + r.bytes}) lie outside ${shards[r.shard].file} (${shards[r.shard].bytes} bytes)`,
        );
      }
    }
  }
  if (next !== N) fail(`pieces cover rows [0, ${next}) of ${N}`);
}

/** Opens a file of the pack and checks that it has the size the manifest states. */
async function openSized(dir: SourceDirectory, entry: PackFile): Promise<ByteSource> {
  const name = joinName(dir.name, entry.file);
  const src = await dir.open(entry.file);
  if (!src) throw new FormatError(name, 'missing (listed in the pack manifest)');
  const size = await src.size();
  if (size < entry.bytes)
    throw new FormatError(name, `truncated: ${size} bytes, the manifest says ${entry.bytes}`);
  if (size > entry.bytes)
    throw new FormatError(name, `size mismatch: ${size} bytes, the manifest says ${entry.bytes}`);
  return src;
}

async function verifyFile(src: ByteSource, entry: PackFile): Promise<Uint8Array> {
  const bytes = await src.read(0, entry.bytes);
  const sha = await sha256Hex(bytes);
  if (sha !== entry.sha256) {
    throw new FormatError(src.name, `checksum mismatch: SHA-256 ${sha}, the manifest says ${entry.sha256}`);
  }
  return bytes;
}

export async function openPack(dir: SourceDirectory, opts: OpenPackOptions = {}): Promise<Pack> {
  const manifestSrc = await dir.open(MANIFEST_FILE);
  if (!manifestSrc) {
    throw new FormatError(
      joinName(dir.name, MANIFEST_FILE),
      'missing (not a pagelm pack, or an unfinished one)',
    );
  }
  const manifestName = manifestSrc.name;
  const manifest = parseManifest(await readAllJson(manifestSrc), manifestName);
  const shardSources = await Promise.all(manifest.shards.map((s) => openSized(dir, s)));
  const byName = new Map(manifest.tensors.map((t) => [t.name, t]));

  const tensor = (name: string): PackTensor => {
    const t = byName.get(name);
    if (!t) throw new FormatError(manifestName, 'no such tensor in the pack', name);
    return t;
  };

  const readComponent = async (ref: ComponentRef): Promise<Uint32Array | Float32Array> => {
    const src = shardSources[ref.shard];
    if (!src) throw new FormatError(manifestName, `component refers to missing shard ${ref.shard}`);
    // Copy: sources may return views into shared or unaligned memory.
    const bytes = new Uint8Array(await src.read(ref.offset, ref.bytes));
    return ref.dtype === 'f32' ? new Float32Array(bytes.buffer) : new Uint32Array(bytes.buffer);
  };

  const readTensorComponents = async (name: string, piece: number): Promise<Components> => {
    const t = tensor(name);
    const p = t.pieces[piece];
    if (!p) throw new FormatError(manifestName, `no piece ${piece} (tensor has ${t.pieces.length})`, name);
    const out: Components = {};
    for (const [key, ref] of Object.entries(p.components)) out[key] = await readComponent(ref);
    if (manifest.version === 1 && t.scheme === 'w2-4-16') {
      // Version 1 stored each row's groups in K order; everything past the reader sees version 2.
      try {
        const [r0, r1] = p.rows;
        const K = t.shape[t.shape.length - 1]; // [N, K], or [K] for a one-row tensor
        out.qweight = kOrderToSlotOrder(out.qweight as Uint32Array, out.mask as Uint32Array, r1 - r0, K);
      } catch (e) {
        throw new FormatError(manifestName, `piece ${piece}: ${(e as Error).message}`, name);
      }
    }
    return out;
  };

  const verifyShard = async (index: number): Promise<void> => {
    const entry = manifest.shards[index];
    if (!entry) throw new FormatError(manifestName, `no shard ${index}`);
    await verifyFile(shardSources[index], entry);
  };

  const pack: Pack = {
    manifest,
    source: dir,
    tensor,
    readComponent,
    readTensorComponents,
    async dequantizeTensor(name) {
      const t = tensor(name);
      const [N, K] = t.shape.length === 2 ? t.shape : [1, t.shape[0]];
      const out = new Float32Array(N * K);
      for (let i = 0; i < t.pieces.length; i++) {
        const [r0, r1] = t.pieces[i].rows;
        const comps = await readTensorComponents(name, i);
        try {
          out.set(dequantize(t.scheme, comps, r1 - r0, K), r0 * K);
        } catch (e) {
          throw new FormatError(manifestName, `piece ${i}: ${(e as Error).message}`, name);
        }
      }
      return out;
    },
    verifyShard,
    async verifyAll() {
      for (let i = 0; i < manifest.shards.length; i++) await verifyShard(i);
    },
    async readTokenizer() {
      const decode = (b: Uint8Array, file: string) => {
        try {
          return new TextDecoder('utf-8', { fatal: true }).decode(b);
        } catch {
          throw new FormatError(file, 'not valid UTF-8 text');
        }
      };
      const read = async (entry: PackFile) => {
        const src = await openSized(dir, entry);
        return decode(await verifyFile(src, entry), src.name);
      };
      return {
        tokenizerJson: await read(manifest.tokenizer.json),
        tokenizerConfigJson: manifest.tokenizer.config ? await read(manifest.tokenizer.config) : null,
      };
    },
  };
  if (opts.verify) await pack.verifyAll();
  return pack;
}

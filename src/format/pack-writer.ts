import type { Components, Scheme } from '../quant/types';
import type { TokenizerFiles } from './checkpoint';
import { sha256Hex } from './digest';
import {
  COMPONENT_ALIGN,
  type ComponentRef,
  MANIFEST_FILE,
  PACK_FORMAT,
  PACK_VERSION,
  type PackFile,
  type PackManifest,
  type PackTensor,
  PIECE_MAX_BYTES,
  SHARD_TARGET_BYTES,
  type ShardInfo,
  type TensorPiece,
} from './pack';
import { planPieces, sliceRows } from './pieces';

/**
 * Writes a pack (docs/FORMAT.md, "Manifest") through a PackSink, one tensor at a time. Browser
 * safe: no Node APIs, SHA-256 through WebCrypto. Memory stays bounded by one shard buffer plus
 * the tensor being added: every shard is hashed and handed to the sink as soon as it closes, and
 * the writer keeps only the manifest entries.
 */

/** Where the files of a pack go (a directory, IndexedDB, memory). */
export interface PackSink {
  /**
   * Stores one file of the pack under `name` (no directories). The writer never touches `bytes`
   * again after the promise resolves, and never writes a name twice.
   */
  writeFile(name: string, bytes: Uint8Array): Promise<void>;
  /** All files are written: make the pack visible (e.g. rename a temp directory into place). */
  commit(): Promise<void>;
  /** The conversion failed: remove everything written so far. Must not throw for a half-written pack. */
  abort(): Promise<void>;
}

export interface PackWriterOptions {
  /** Max bytes of one component of one row piece (tests use a tiny value to force pieces). */
  pieceMaxBytes?: number;
  /** Shards close once adding the next component would pass this size. */
  shardTargetBytes?: number;
}

/** What the caller supplies to finish(); the writer fills format, version, tensors, shards and sizes. */
export interface ManifestFields {
  name: string;
  config: PackManifest['config'];
  scheme: PackManifest['scheme'];
  method: PackManifest['method'];
  smoothQuant?: PackManifest['smoothQuant'];
  generation: PackManifest['generation'];
  tokenizer: TokenizerFiles;
  chatTemplate: string | null;
  provenance: Omit<PackManifest['provenance'], 'totalBytes'>;
}

export const TOKENIZER_FILE = 'tokenizer.json';
export const TOKENIZER_CONFIG_FILE = 'tokenizer_config.json';

export function shardFileName(index: number): string {
  return `shard-${String(index).padStart(5, '0')}.bin`;
}

function roundUp(x: number, m: number): number {
  return Math.ceil(x / m) * m;
}

function bytesOf(arr: Uint32Array | Float32Array): Uint8Array {
  return new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength);
}

function dtypeOf(name: string, tensor: string, arr: unknown): ComponentRef['dtype'] {
  if (arr instanceof Uint32Array) return 'u32';
  if (arr instanceof Float32Array) return 'f32';
  throw new Error(`pack writer: component ${name} of ${tensor} is neither a Uint32Array nor a Float32Array`);
}

export class PackWriter {
  private readonly pieceMax: number;
  private readonly target: number;
  private readonly tensors: PackTensor[] = [];
  private readonly names = new Set<string>();
  private readonly shards: ShardInfo[] = [];
  /** The open shard: buf[0, used) holds its bytes (grown by doubling up to the target size). */
  private buf: Uint8Array | null = null;
  private used = 0;
  private state: 'open' | 'finished' | 'failed' = 'open';

  constructor(
    private readonly sink: PackSink,
    opts: PackWriterOptions = {},
  ) {
    this.pieceMax = opts.pieceMaxBytes ?? PIECE_MAX_BYTES;
    this.target = opts.shardTargetBytes ?? SHARD_TARGET_BYTES;
    if (!(this.pieceMax >= 4) || !(this.target >= COMPONENT_ALIGN)) {
      throw new Error(
        `pack writer: bad options pieceMaxBytes=${this.pieceMax} shardTargetBytes=${this.target}`,
      );
    }
  }

  /** Bytes of the shards written so far (closed shards only). */
  get shardBytes(): number {
    return this.shards.reduce((s, x) => s + x.bytes, 0);
  }

  /**
   * Adds one tensor: [N, K] (a linear weight, in `scheme`'s layout) or [K] (a norm, 'f32').
   * Components larger than pieceMaxBytes are split into row pieces. The component arrays are
   * copied into the shard buffer (or written straight through when one fills a shard on its own),
   * so the caller may drop them once this resolves.
   */
  async addTensor(
    name: string,
    shape: number[],
    scheme: Scheme,
    groupSize: number | undefined,
    components: Components,
  ): Promise<PackTensor> {
    this.checkOpen();
    if (this.names.has(name)) throw new Error(`pack writer: tensor ${name} added twice`);
    if (shape.length < 1 || shape.length > 2 || !shape.every((d) => Number.isSafeInteger(d) && d > 0)) {
      throw new Error(`pack writer: tensor ${name} has bad shape [${shape}]`);
    }
    const keys = Object.keys(components);
    if (keys.length === 0) throw new Error(`pack writer: tensor ${name} has no components`);
    for (const k of keys) dtypeOf(k, name, components[k]);
    const N = shape.length === 2 ? shape[0] : 1;

    const ranges = planPieces(components, N, this.pieceMax);
    const pieces: TensorPiece[] = [];
    try {
      for (const [r0, r1] of ranges) {
        const part = ranges.length === 1 ? components : sliceRows(scheme, components, N, r0, r1);
        const refs: Record<string, ComponentRef> = {};
        for (const key of keys) {
          const arr = part[key];
          if (arr.byteLength > this.pieceMax) {
            throw new Error(
              `pack writer: tensor ${name} component ${key} needs ${arr.byteLength} bytes for rows [${r0}, ${r1}), more than the piece limit ${this.pieceMax}`,
            );
          }
          refs[key] = { ...(await this.place(bytesOf(arr))), dtype: dtypeOf(key, name, arr) };
        }
        pieces.push({ rows: [r0, r1], components: refs });
      }
    } catch (e) {
      this.state = 'failed';
      throw e;
    }
    const tensor: PackTensor = { name, shape: [...shape], scheme, pieces };
    if (groupSize !== undefined) tensor.groupSize = groupSize;
    this.tensors.push(tensor);
    this.names.add(name);
    return tensor;
  }

  /**
   * Closes the last shard, writes the tokenizer files and manifest.json (last, so a pack with a
   * manifest is complete), then commits the sink. Returns the manifest written.
   */
  async finish(fields: ManifestFields): Promise<PackManifest> {
    this.checkOpen();
    try {
      if (this.used > 0) await this.closeShard();
      const json = await this.writeText(TOKENIZER_FILE, fields.tokenizer.tokenizerJson);
      const config =
        fields.tokenizer.tokenizerConfigJson === null
          ? null
          : await this.writeText(TOKENIZER_CONFIG_FILE, fields.tokenizer.tokenizerConfigJson);
      const totalBytes = this.shardBytes + json.bytes + (config?.bytes ?? 0);
      const manifest: PackManifest = {
        format: PACK_FORMAT,
        version: PACK_VERSION,
        name: fields.name,
        config: fields.config,
        scheme: fields.scheme,
        method: fields.method,
        ...(fields.smoothQuant ? { smoothQuant: fields.smoothQuant } : {}),
        generation: fields.generation,
        tokenizer: { json, config },
        chatTemplate: fields.chatTemplate,
        tensors: this.tensors,
        shards: this.shards,
        provenance: { ...fields.provenance, totalBytes },
      };
      await this.sink.writeFile(
        MANIFEST_FILE,
        new TextEncoder().encode(`${JSON.stringify(manifest, null, 1)}\n`),
      );
      await this.sink.commit();
      this.state = 'finished';
      return manifest;
    } catch (e) {
      this.state = 'failed';
      throw e;
    }
  }

  /** Gives up: the sink removes what was written. Safe to call more than once, and after a failure. */
  async abort(): Promise<void> {
    if (this.state === 'finished') return;
    this.state = 'failed';
    this.buf = null;
    await this.sink.abort();
  }

  private checkOpen(): void {
    if (this.state !== 'open') throw new Error(`pack writer: already ${this.state}`);
  }

  /** Places one component's bytes, 256-byte aligned, in the open shard (or a shard of its own). */
  private async place(bytes: Uint8Array): Promise<{ shard: number; offset: number; bytes: number }> {
    const len = bytes.byteLength;
    let offset = roundUp(this.used, COMPONENT_ALIGN);
    if (this.used > 0 && offset + len > this.target) {
      await this.closeShard();
      offset = 0;
    }
    if (this.used === 0 && len >= this.target) {
      // A component that fills a shard alone is written as-is: no copy, no buffer growth.
      const shard = this.shards.length;
      await this.writeShard(bytes);
      return { shard, offset: 0, bytes: len };
    }
    this.reserve(offset + len);
    this.buf!.set(bytes, offset);
    this.used = offset + len;
    const ref = { shard: this.shards.length, offset, bytes: len };
    if (this.used >= this.target) await this.closeShard();
    return ref;
  }

  private reserve(size: number): void {
    const cap = this.buf?.byteLength ?? 0;
    if (size <= cap) return;
    let next = Math.max(cap * 2, 1 << 20);
    while (next < size) next *= 2;
    const grown = new Uint8Array(Math.min(Math.max(next, size), Math.max(this.target, size)));
    if (this.buf) grown.set(this.buf.subarray(0, this.used));
    this.buf = grown;
  }

  private async closeShard(): Promise<void> {
    const bytes = this.buf!.subarray(0, this.used);
    this.buf = null; // the next shard gets a fresh buffer: a sink may keep this one (memory sinks do)
    this.used = 0;
    await this.writeShard(bytes);
  }

  private async writeShard(bytes: Uint8Array): Promise<void> {
    const file = shardFileName(this.shards.length);
    const sha256 = await sha256Hex(bytes);
    await this.sink.writeFile(file, bytes);
    this.shards.push({ file, bytes: bytes.byteLength, sha256 });
  }

  private async writeText(file: string, text: string): Promise<PackFile> {
    const bytes = new TextEncoder().encode(text);
    const sha256 = await sha256Hex(bytes);
    await this.sink.writeFile(file, bytes);
    return { file, bytes: bytes.byteLength, sha256 };
  }
}

/** A sink that keeps the files in memory (tests, and packs built in a page before storing them). */
export class MemoryPackSink implements PackSink {
  readonly files = new Map<string, Uint8Array>();
  committed = false;
  aborted = false;

  async writeFile(name: string, bytes: Uint8Array): Promise<void> {
    if (this.committed || this.aborted) throw new Error('memory pack sink: already closed');
    this.files.set(name, bytes);
  }

  async commit(): Promise<void> {
    this.committed = true;
  }

  async abort(): Promise<void> {
    this.aborted = true;
    this.files.clear();
  }
}

/**
 * A stored model opened for loading: the records of one model seen as a SourceDirectory, opened
 * with the ordinary pack reader (so the same manifest validation applies), which makes it a Pack:
 * a WeightSource for GpuModel.load plus readTokenizer().
 *
 * Memory: a component is read by loading its whole shard out of IndexedDB (the checksum needs
 * every byte anyway), verifying it, and slicing. A small cache (default one file) keeps the
 * current shard; GpuModel.load reads tensors in manifest order, which is shard order, so each
 * shard is loaded once and at most one shard's bytes are held at a time. `stats` records it.
 */
import { checkRange, memorySource } from '../format/byte-source';
import type { ByteSource, SourceDirectory } from '../format/checkpoint';
import { sha256Hex } from '../format/digest';
import { MANIFEST_FILE } from '../format/pack';
import { openPack, type Pack } from '../format/pack-reader';
import { IntegrityError, NotFoundError, NotReadyError } from './errors';
import { type PackFileEntry, packFiles } from './pack-files';
import type { FileRecord, Records } from './records';

export interface StoredPackStats {
  /** Files read out of IndexedDB (each one verified). */
  fileLoads: number;
  bytesLoaded: number;
  /** File bytes the cache holds now, and the most it held at once. */
  heldBytes: number;
  peakHeldBytes: number;
}

export interface StoredPack extends Pack {
  readonly id: string;
  readonly stats: StoredPackStats;
  /** Drops the cached shard (after GpuModel.load the pack may be kept for readTokenizer only). */
  release(): void;
}

export interface OpenStoredOptions {
  /** Files kept in memory after loading (default 1: the current shard). */
  cacheFiles?: number;
}

/** At most `capacity` verified files, least recently used evicted first. */
class FileCache {
  private readonly entries = new Map<string, { bytes: number; data: Promise<Uint8Array> }>();

  constructor(
    private readonly capacity: number,
    private readonly stats: StoredPackStats,
  ) {}

  clear(): void {
    this.entries.clear();
    this.stats.heldBytes = 0;
  }

  get(name: string, bytes: number, load: () => Promise<Uint8Array>): Promise<Uint8Array> {
    const hit = this.entries.get(name);
    if (hit) {
      this.entries.delete(name);
      this.entries.set(name, hit);
      return hit.data;
    }
    // Evict before loading, so the old shard and the new one are not both held.
    while (this.entries.size >= this.capacity) {
      const [oldest, e] = this.entries.entries().next().value!;
      this.entries.delete(oldest);
      this.stats.heldBytes -= e.bytes;
    }
    const entry = {
      bytes,
      data: load().catch((e) => {
        if (this.entries.get(name) === entry) {
          this.entries.delete(name);
          this.stats.heldBytes -= bytes;
        }
        throw e;
      }),
    };
    this.entries.set(name, entry);
    this.stats.heldBytes += bytes;
    this.stats.peakHeldBytes = Math.max(this.stats.peakHeldBytes, this.stats.heldBytes);
    return entry.data;
  }
}

/** The bytes of a file record's data (Blob as written; ArrayBuffer/view also read), or null. */
export async function recordBytes(data: unknown): Promise<Uint8Array | null> {
  if (data instanceof Blob) return new Uint8Array(await data.arrayBuffer());
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return null;
}

function recordSize(data: unknown): number | null {
  if (data instanceof Blob) return data.size;
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return data.byteLength;
  return null;
}

/** The model's records as a SourceDirectory; every file is size-checked on open and verified on load. */
function storedDirectory(
  records: Records,
  id: string,
  manifestJson: string,
  files: Map<string, PackFileEntry>,
  cache: FileCache,
  stats: StoredPackStats,
): SourceDirectory {
  const corrupt = async (f: PackFileEntry, reason: string): Promise<never> => {
    // Remove the bad record and mark it, so listings say 'broken' and repair refetches it.
    await records.markBad(id, f.file).catch(() => {});
    throw new IntegrityError(id, f.file, f.shard, reason);
  };

  const load = async (f: PackFileEntry, rec: FileRecord): Promise<Uint8Array> => {
    let bytes: Uint8Array | null;
    try {
      bytes = await recordBytes(rec.data);
    } catch (e) {
      // Not marked bad: an unreadable blob may be a transient I/O error, not corrupt bytes.
      throw new IntegrityError(id, f.file, f.shard, `unreadable: ${(e as Error)?.message ?? e}`);
    }
    if (!bytes) return corrupt(f, 'the record holds no bytes');
    stats.fileLoads++;
    stats.bytesLoaded += bytes.length;
    if (bytes.length !== f.bytes)
      return corrupt(f, `${bytes.length} bytes stored, the manifest says ${f.bytes}`);
    const sha = await sha256Hex(bytes);
    if (sha !== f.sha256)
      return corrupt(f, `checksum mismatch: SHA-256 ${sha}, the manifest says ${f.sha256}`);
    return bytes;
  };

  return {
    name: `idb:${id}`,
    async open(relativePath): Promise<ByteSource | null> {
      if (relativePath === MANIFEST_FILE)
        return memorySource(`idb:${id}/${MANIFEST_FILE}`, new TextEncoder().encode(manifestJson));
      const f = files.get(relativePath);
      if (!f) return null;
      const rec = await records.file(id, f.file);
      if (!rec) throw new IntegrityError(id, f.file, f.shard, 'not in the store');
      const size = recordSize(rec.data);
      if (size === null) return corrupt(f, 'the record holds no bytes');
      if (size !== f.bytes || rec.sha256 !== f.sha256) {
        return corrupt(
          f,
          size !== f.bytes
            ? `${size} bytes stored, the manifest says ${f.bytes}`
            : 'the record is for another version of the file',
        );
      }
      const name = `idb:${id}/${f.file}`;
      return {
        name,
        size: async () => f.bytes,
        async read(offset, length) {
          checkRange(name, offset, length, f.bytes);
          const bytes = await cache.get(f.file, f.bytes, () => load(f, rec));
          return bytes.subarray(offset, offset + length);
        },
      };
    },
  };
}

/**
 * Opens a completely stored model for loading. NotFoundError without such a model, NotReadyError
 * while files are missing, IntegrityError when a file was found corrupt (now or earlier).
 */
export async function openPackRecords(
  records: Records,
  id: string,
  opts: OpenStoredOptions = {},
): Promise<StoredPack> {
  const rec = await records.model(id);
  if (!rec) throw new NotFoundError(id);
  const files = new Map(packFiles(rec.manifest).map((f) => [f.file, f]));
  if (rec.bad.length > 0) {
    const f = files.get(rec.bad[0]);
    throw new IntegrityError(id, rec.bad[0], f?.shard ?? null, 'found corrupt and removed; repair the model');
  }
  const stored = new Set(await records.fileNames(id));
  const missing = [...files.keys()].filter((f) => !stored.has(f));
  if (missing.length > 0) throw new NotReadyError(id, missing);
  const stats: StoredPackStats = { fileLoads: 0, bytesLoaded: 0, heldBytes: 0, peakHeldBytes: 0 };
  const cache = new FileCache(Math.max(1, opts.cacheFiles ?? 1), stats);
  const pack = await openPack(
    storedDirectory(records, id, JSON.stringify(rec.manifest), files, cache, stats),
  );
  return Object.assign(pack, { id, stats, release: () => cache.clear() });
}

/**
 * Where a pack's files come from when they are stored: an http(s) URL prefix, a folder the user
 * chose (a FileList from `<input webkitdirectory>` / an array of File, or a File System Access
 * FileSystemDirectoryHandle), or the files map of a MemoryPackSink (a pack converted in the page).
 * Each origin only reads bytes; checking them against the manifest is ingest.ts's job, the same
 * for every origin.
 */
import { MANIFEST_FILE } from '../format/pack';
import { IntegrityError, StoreError } from './errors';
import { fetchBytes, type HttpFetchOptions } from './http-fetch';
import type { PackFileEntry } from './pack-files';
import type { StoredSource } from './records';

export interface PackOrigin {
  /** What the store remembers, so a URL model can be repaired without asking again. */
  readonly source: StoredSource;
  /** Files read at once (network: a few, to hide latency; local disk: fewer). */
  readonly concurrency: number;
  readManifest(signal: AbortSignal): Promise<Uint8Array>;
  /**
   * One file's bytes. `onBytes(delta)` reports progress as it arrives (a negative delta when a
   * transfer restarts). A file the origin does not have is an IntegrityError ('source').
   */
  readFile(
    entry: PackFileEntry,
    modelId: string,
    onBytes: (delta: number) => void,
    signal: AbortSignal,
  ): Promise<Uint8Array>;
}

export interface UrlOriginOptions extends HttpFetchOptions {
  /** Shards downloaded in parallel. Default 3. */
  concurrency?: number;
}

/** A pack directory on a web server: `<base>/manifest.json`, `<base>/shard-00000.bin`, … */
export function urlOrigin(url: string, options: UrlOriginOptions = {}): PackOrigin {
  // Accept the manifest's own URL as well as the directory's.
  const base = url.replace(/manifest\.json([?#].*)?$/, '').replace(/\/?$/, '/');
  const fileUrl = (file: string) => new URL(encodeURIComponent(file), base).href;
  return {
    source: { kind: 'url', url: base },
    concurrency: options.concurrency ?? 3,
    readManifest: (signal) => fetchBytes(fileUrl(MANIFEST_FILE), null, () => {}, signal, options),
    readFile: (entry, _modelId, onBytes, signal) =>
      fetchBytes(fileUrl(entry.file), entry.bytes, onBytes, signal, options),
  };
}

/** Reads a Blob whole, reporting its size as progress once read. */
async function readBlob(blob: Blob, onBytes: (delta: number) => void): Promise<Uint8Array> {
  const bytes = new Uint8Array(await blob.arrayBuffer());
  onBytes(bytes.length);
  return bytes;
}

/** An origin over name → Blob lookups (the local cases differ only in how a name is found). */
function blobOrigin(
  source: StoredSource,
  lookup: (file: string) => Promise<Blob | null>,
  concurrency = 2,
): PackOrigin {
  return {
    source,
    concurrency,
    async readManifest() {
      const blob = await lookup(MANIFEST_FILE);
      if (!blob) {
        throw new StoreError(
          `${source.kind === 'url' ? source.url : source.name}: no ${MANIFEST_FILE} (not a pagelm pack directory)`,
        );
      }
      return new Uint8Array(await blob.arrayBuffer());
    },
    async readFile(entry, modelId, onBytes) {
      const blob = await lookup(entry.file);
      if (!blob)
        throw new IntegrityError(modelId, entry.file, entry.shard, 'missing from the chosen files', 'source');
      return readBlob(blob, onBytes);
    },
  };
}

/** The path a File had inside the chosen folder (`<input webkitdirectory>` sets webkitRelativePath). */
function relativePath(f: File): string {
  return f.webkitRelativePath || f.name;
}

/**
 * Files of a chosen folder. The pack is the directory holding manifest.json (the user may pick
 * the pack folder itself or its parent); other packs in the selection are an error rather than a guess.
 */
export function filesOrigin(files: FileList | Iterable<File>): PackOrigin {
  const byPath = new Map<string, File>();
  for (const f of Array.from(files as Iterable<File>)) byPath.set(relativePath(f), f);
  const manifests = [...byPath.keys()].filter((p) => p === MANIFEST_FILE || p.endsWith(`/${MANIFEST_FILE}`));
  if (manifests.length === 0) {
    throw new StoreError(
      `none of the ${byPath.size} chosen files is a ${MANIFEST_FILE}: not a pagelm pack directory`,
    );
  }
  if (manifests.length > 1) {
    throw new StoreError(
      `the chosen folder holds several packs (${manifests.join(', ')}): choose one pack directory`,
    );
  }
  const dir = manifests[0].slice(0, -MANIFEST_FILE.length);
  const name = dir.replace(/\/$/, '') || 'chosen files';
  return blobOrigin({ kind: 'files', name }, async (file) => byPath.get(dir + file) ?? null);
}

/** A folder from showDirectoryPicker() (or any FileSystemDirectoryHandle, e.g. OPFS). */
export function directoryHandleOrigin(handle: FileSystemDirectoryHandle): PackOrigin {
  return blobOrigin({ kind: 'files', name: handle.name }, async (file) => {
    try {
      return await (await handle.getFileHandle(file)).getFile();
    } catch (e) {
      if (
        (e as DOMException)?.name === 'NotFoundError' ||
        (e as DOMException)?.name === 'TypeMismatchError'
      ) {
        return null;
      }
      throw e;
    }
  });
}

/** A pack already in memory: MemoryPackSink.files, or any name → bytes map. */
export function memoryOrigin(
  files: ReadonlyMap<string, Uint8Array | Blob> | Readonly<Record<string, Uint8Array | Blob>>,
  name = 'pack built in the page',
): PackOrigin {
  const map: ReadonlyMap<string, Uint8Array | Blob> =
    files instanceof Map ? files : new Map(Object.entries(files as Record<string, Uint8Array | Blob>));
  return {
    source: { kind: 'memory', name },
    concurrency: 1,
    async readManifest() {
      const v = map.get(MANIFEST_FILE);
      if (!v) throw new StoreError(`${name}: no ${MANIFEST_FILE} (an unfinished pack?)`);
      return v instanceof Blob ? new Uint8Array(await v.arrayBuffer()) : v;
    },
    async readFile(entry, modelId, onBytes) {
      const v = map.get(entry.file);
      if (!v)
        throw new IntegrityError(modelId, entry.file, entry.shard, 'missing from the pack files', 'source');
      if (v instanceof Blob) return readBlob(v, onBytes);
      onBytes(v.length);
      return v;
    },
  };
}

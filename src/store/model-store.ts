/**
 * The offline model store: packs kept in IndexedDB (records.ts), added from a URL, a folder the
 * user chose or a pack built in the page (origins.ts + ingest.ts), listed with their state
 * (status.ts), verified and repaired shard by shard, and opened for GpuModel.load
 * (stored-pack.ts). docs/store.md describes the layout and the policies.
 */
import type { UseStore } from 'idb-keyval';
import { sha256Hex } from '../format/digest';
import { NotFoundError, StoreError } from './errors';
import { type IngestOptions, ingest, type StoreContext, type StoreResult, storeFiles } from './ingest';
import { withModelLock } from './lock';
import {
  directoryHandleOrigin,
  filesOrigin,
  memoryOrigin,
  type PackOrigin,
  type UrlOriginOptions,
  urlOrigin,
} from './origins';
import { packFiles } from './pack-files';
import { defaultStorage, type StorageLike } from './quota';
import { DEFAULT_DB_NAME, Records } from './records';
import { describeModel, type StoredModelInfo } from './status';
import { type OpenStoredOptions, openPackRecords, recordBytes, type StoredPack } from './stored-pack';

export interface ModelStoreOptions {
  /** IndexedDB database name (default "pagelm-models"). */
  dbName?: string;
  /** navigator.storage or a stand-in (tests simulate a full disk); null: no quota checks. */
  storage?: StorageLike | null;
  /** Replaces the idb-keyval store (tests wrap it to make writes fail). */
  useStore?: UseStore;
  /** Defaults for every URL download (fetch, headers, retries, concurrency). */
  http?: UrlOriginOptions;
}

/** Anything a pack can be read from again (repair of a model that did not come from a URL). */
export type PackInput =
  | string
  | FileList
  | readonly File[]
  | FileSystemDirectoryHandle
  | ReadonlyMap<string, Uint8Array | Blob>;

export interface RepairOptions extends IngestOptions {
  /** Where to read the files again; default the model's URL (required for folder/in-page models). */
  from?: PackInput;
  /** repairModel: hash every stored file first (a full read) to find silent corruption. Default true. */
  verify?: boolean;
}

export class ModelStore {
  readonly records: Records;
  private readonly ctx: StoreContext;

  constructor(private readonly opts: ModelStoreOptions = {}) {
    this.records = opts.useStore ? new Records(opts.useStore) : Records.open(opts.dbName ?? DEFAULT_DB_NAME);
    this.ctx = {
      records: this.records,
      storage: opts.storage === undefined ? defaultStorage() : opts.storage,
    };
  }

  /** Every stored model, complete or not, oldest first. */
  async list(): Promise<StoredModelInfo[]> {
    const models = await this.records.models();
    const infos = await Promise.all(
      models.map(async (m) => describeModel(m, await this.records.fileNames(m.id))),
    );
    return infos.sort((a, b) => a.added.localeCompare(b.added));
  }

  async info(id: string): Promise<StoredModelInfo> {
    const rec = await this.records.model(id);
    if (!rec) throw new NotFoundError(id);
    return describeModel(rec, await this.records.fileNames(id));
  }

  /** Bytes stored for all models (what the store itself occupies, without IndexedDB overhead). */
  async totalBytes(): Promise<number> {
    return (await this.list()).reduce((n, m) => n + m.storedBytes, 0);
  }

  /** Removes a model and all its records in one transaction (waits for a download of it to stop). */
  async delete(id: string): Promise<void> {
    await withModelLock(id, async () => {
      if (!(await this.records.model(id))) throw new NotFoundError(id);
      await this.records.deleteModel(id);
    });
  }

  /**
   * Downloads the pack at `url` (the directory holding manifest.json, or manifest.json itself),
   * several shards at once. Calling it again for the same pack resumes: stored files are skipped.
   */
  download(url: string, opts: IngestOptions & { http?: UrlOriginOptions } = {}): Promise<StoreResult> {
    return ingest(this.ctx, urlOrigin(url, { ...this.opts.http, ...opts.http }), opts);
  }

  /** A folder chosen with `<input webkitdirectory>` (its FileList) or any File[] with relative paths. */
  importFiles(files: FileList | readonly File[], opts: IngestOptions = {}): Promise<StoreResult> {
    return ingest(this.ctx, filesOrigin(files), opts);
  }

  /** A folder from showDirectoryPicker() (File System Access API). */
  importDirectory(handle: FileSystemDirectoryHandle, opts: IngestOptions = {}): Promise<StoreResult> {
    return ingest(this.ctx, directoryHandleOrigin(handle), opts);
  }

  /** A pack produced in the page: MemoryPackSink.files (or any name → bytes map). */
  importPack(files: ReadonlyMap<string, Uint8Array | Blob>, opts: IngestOptions = {}): Promise<StoreResult> {
    return ingest(this.ctx, memoryOrigin(files), opts);
  }

  /** Opens a completely stored model for GpuModel.load (+ readTokenizer), shard by shard. */
  open(id: string, opts?: OpenStoredOptions): Promise<StoredPack> {
    return openPackRecords(this.records, id, opts);
  }

  /**
   * Hashes every stored file of a model (reads it all, one file at a time); a corrupt one is removed
   * and marked bad. Returns the names of the bad files (also those marked earlier).
   */
  async verify(id: string): Promise<string[]> {
    const rec = await this.records.model(id);
    if (!rec) throw new NotFoundError(id);
    const stored = new Set(await this.records.fileNames(id));
    for (const f of packFiles(rec.manifest)) {
      if (!stored.has(f.file)) continue;
      const r = await this.records.file(id, f.file);
      let ok = false;
      try {
        const bytes = await recordBytes(r?.data);
        ok = bytes !== null && bytes.length === f.bytes && (await sha256Hex(bytes)) === f.sha256;
      } catch {
        ok = false; // unreadable: refetching it is the only cure
      }
      if (!ok) await this.records.markBad(id, f.file);
    }
    return (await this.records.model(id))?.bad ?? [];
  }

  /** Reads one shard again from its origin and replaces the stored one, whatever its state. */
  async repairShard(id: string, shard: number, opts: RepairOptions = {}): Promise<StoreResult> {
    const rec = await this.records.model(id);
    if (!rec) throw new NotFoundError(id);
    const entry = rec.manifest.shards[shard];
    if (!entry)
      throw new StoreError(`model ${id} has no shard ${shard} (it has ${rec.manifest.shards.length})`);
    const target = { id, manifest: rec.manifest, manifestSha256: rec.manifestSha256 };
    return storeFiles(this.ctx, this.originFor(rec.source, opts.from), target, {
      ...opts,
      only: [entry.file],
    });
  }

  /**
   * Makes a model whole: finds corrupt files (verify, unless `verify: false`) and refetches exactly
   * those and the missing ones. Nothing else is read from the origin.
   */
  async repairModel(id: string, opts: RepairOptions = {}): Promise<StoreResult> {
    if (opts.verify !== false) await this.verify(id);
    const info = await this.info(id);
    const rec = (await this.records.model(id))!;
    const todo = [...new Set([...info.missingFiles, ...info.badFiles])];
    const target = { id, manifest: rec.manifest, manifestSha256: rec.manifestSha256 };
    if (todo.length === 0)
      return { id, fetched: [], skipped: packFiles(rec.manifest).map((f) => f.file), persisted: false, info };
    return storeFiles(this.ctx, this.originFor(rec.source, opts.from), target, { ...opts, only: todo });
  }

  private originFor(source: StoredModelInfo['source'], from: PackInput | undefined): PackOrigin {
    if (from === undefined) {
      if (source.kind === 'url') return urlOrigin(source.url, this.opts.http);
      throw new StoreError(
        `model was stored from ${source.kind === 'files' ? `the folder ${source.name}` : source.name}: choose the pack files again to repair it`,
      );
    }
    if (typeof from === 'string') return urlOrigin(from, this.opts.http);
    if (from instanceof Map) return memoryOrigin(from);
    if (typeof FileList !== 'undefined' && from instanceof FileList) return filesOrigin(from);
    if (Array.isArray(from)) return filesOrigin(from);
    return directoryHandleOrigin(from as FileSystemDirectoryHandle);
  }
}

let shared: ModelStore | null = null;

/** The page's default store (database "pagelm-models", navigator.storage). */
export function defaultModelStore(): ModelStore {
  shared ??= new ModelStore();
  return shared;
}

/**
 * Opens a stored model for `GpuModel.load(gpu, pack)` and `pack.readTokenizer()`; shards are read
 * out of IndexedDB one at a time and verified on first load.
 */
export function openStoredPack(
  id: string,
  store: ModelStore = defaultModelStore(),
  opts?: OpenStoredOptions,
): Promise<StoredPack> {
  return store.open(id, opts);
}

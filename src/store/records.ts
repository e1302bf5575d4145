/**
 * The IndexedDB layout of the model store (docs/store.md): one idb-keyval store (its own
 * database, default "pagelm-models", object store "records") holding two kinds of records
 * under array keys, so that one transaction can touch a model's metadata and its files
 * together (storing a repaired shard and clearing its "bad" mark is atomic):
 *
 *   ['model', id]        → ModelRecord (manifest, where it came from, shards known to be bad)
 *   ['file', id, name]   → FileRecord (one shard or tokenizer file, as a Blob)
 *
 * Files are Blobs: Chromium keeps large IndexedDB values out of the JS heap as blob files, and
 * reading a record returns a handle whose bytes are only read on demand.
 */
import { createStore, promisifyRequest, type UseStore } from 'idb-keyval';
import type { PackManifest } from '../format/pack';

export const DEFAULT_DB_NAME = 'pagelm-models';
export const STORE_NAME = 'records';

/** Where a stored model came from: a URL can be re-fetched on its own; local files must be given again. */
export type StoredSource =
  | { kind: 'url'; url: string }
  | { kind: 'files'; name: string }
  | { kind: 'memory'; name: string };

export interface ModelRecord {
  id: string;
  manifest: PackManifest;
  /** SHA-256 of manifest.json as fetched: the same pack from another source has the same digest. */
  manifestSha256: string;
  source: StoredSource;
  /** ISO date of the first write. */
  added: string;
  /** Files found corrupt (checksum/size) and deleted, awaiting repair. */
  bad: string[];
}

export interface FileRecord {
  id: string;
  file: string;
  bytes: number;
  sha256: string;
  data: Blob;
}

type Key = [string, string] | [string, string, string];

export const modelKey = (id: string): Key => ['model', id];
export const fileKey = (id: string, file: string): Key => ['file', id, file];

/** All ['file', id, *] keys: arrays sort after strings, so [..., []] is above every file name. */
const filesOf = (id: string) => IDBKeyRange.bound(['file', id], ['file', id, []]);
const allModels = () => IDBKeyRange.bound(['model'], ['model', []]);

/** Typed access to the records; every method is one transaction. */
export class Records {
  constructor(readonly use: UseStore) {}

  static open(dbName = DEFAULT_DB_NAME): Records {
    return new Records(createStore(dbName, STORE_NAME));
  }

  model(id: string): Promise<ModelRecord | undefined> {
    return this.use('readonly', (s) => promisifyRequest(s.get(modelKey(id))));
  }

  models(): Promise<ModelRecord[]> {
    return this.use('readonly', (s) => promisifyRequest(s.getAll(allModels())));
  }

  putModel(rec: ModelRecord): Promise<void> {
    return this.use('readwrite', (s) => {
      s.put(rec, modelKey(rec.id));
      return promisifyRequest(s.transaction);
    });
  }

  /** Names of the files stored for a model (keys only: no Blob is touched). */
  async fileNames(id: string): Promise<string[]> {
    const keys = await this.use('readonly', (s) => promisifyRequest(s.getAllKeys(filesOf(id))));
    return (keys as Key[]).map((k) => k[2] as string);
  }

  file(id: string, file: string): Promise<FileRecord | undefined> {
    return this.use('readonly', (s) => promisifyRequest(s.get(fileKey(id, file))));
  }

  /** Stores one verified file and, in the same transaction, clears its "bad" mark. */
  putFile(rec: FileRecord): Promise<void> {
    return this.use('readwrite', (s) => {
      s.put(rec, fileKey(rec.id, rec.file));
      const req = s.get(modelKey(rec.id));
      req.onsuccess = () => {
        const m = req.result as ModelRecord | undefined;
        if (m?.bad.includes(rec.file))
          s.put({ ...m, bad: m.bad.filter((f) => f !== rec.file) }, modelKey(m.id));
      };
      return promisifyRequest(s.transaction);
    });
  }

  /** Deletes a corrupt file and marks it bad, atomically: the model then lists as 'broken'. */
  markBad(id: string, file: string): Promise<void> {
    return this.use('readwrite', (s) => {
      s.delete(fileKey(id, file));
      const req = s.get(modelKey(id));
      req.onsuccess = () => {
        const m = req.result as ModelRecord | undefined;
        if (m && !m.bad.includes(file)) s.put({ ...m, bad: [...m.bad, file] }, modelKey(id));
      };
      return promisifyRequest(s.transaction);
    });
  }

  /** Every record of a model, in one transaction: a model is never half deleted. */
  deleteModel(id: string): Promise<void> {
    return this.use('readwrite', (s) => {
      s.delete(filesOf(id));
      s.delete(modelKey(id));
      return promisifyRequest(s.transaction);
    });
  }
}

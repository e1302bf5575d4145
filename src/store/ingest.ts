/**
 * Storing a pack from any origin (URL, chosen folder, in-page pack): read and validate the
 * manifest, then store every file not already stored, several at once, each checked against the
 * manifest's size and SHA-256 before it is written as one record. Because a file record is only
 * ever written whole and verified, "resume" needs no journal: run the same call again and it
 * skips what is stored. Repair is the same call restricted to the files to replace.
 */
import { memorySource, readAllJson } from '../format/byte-source';
import { sha256Hex } from '../format/digest';
import type { PackManifest } from '../format/pack';
import { parseManifest } from '../format/pack-reader';
import { IntegrityError, isQuotaExceeded, QuotaError, StoreError } from './errors';
import { withModelLock } from './lock';
import { TransferMeter } from './meter';
import type { PackOrigin } from './origins';
import { defaultModelId, type PackFileEntry, packFiles } from './pack-files';
import { runPool } from './pool';
import { availableBytes, checkSpace, requestPersistence, type StorageLike } from './quota';
import type { Records } from './records';
import { describeModel, type StoredModelInfo } from './status';

export interface StoreContext {
  records: Records;
  storage: StorageLike | null;
}

export interface StoreProgress {
  id: string;
  /** Bytes of the pack stored or received so far (files stored by earlier sessions included). */
  bytesDone: number;
  bytesTotal: number;
  /** Over the last few seconds. */
  bytesPerSecond: number;
  filesDone: number;
  filesTotal: number;
  /** The file that advanced, when the event is about one. */
  file?: string;
  done: boolean;
}

export interface IngestOptions {
  /** Model id; default `<name>-<scheme>-<manifest hash>` (defaultModelId). */
  id?: string;
  /** Files read at once; default the origin's (3 for a URL). */
  concurrency?: number;
  onProgress?(p: StoreProgress): void;
  /** Stops cleanly: in-flight reads are cancelled, stored files stay (resume later). */
  signal?: AbortSignal;
  /**
   * Ask for persistent storage first (default true). Chromium decides silently; Firefox may show
   * a permission prompt, so a page can turn this off and ask at a moment of its choosing.
   */
  persist?: boolean;
}

export interface StoreResult {
  id: string;
  /** Files read from the origin and stored by this call. */
  fetched: string[];
  /** Files that were already stored and not read again. */
  skipped: string[];
  /** Whether the browser keeps this origin's storage persistently (not evicted under pressure). */
  persisted: boolean;
  info: StoredModelInfo;
}

export interface PackTarget {
  id: string;
  manifest: PackManifest;
  manifestSha256: string;
}

/** Reads and validates an origin's manifest.json; the id defaults to one derived from its content. */
export async function resolvePack(
  origin: PackOrigin,
  id?: string,
  signal?: AbortSignal,
): Promise<PackTarget> {
  const bytes = await origin.readManifest(signal ?? new AbortController().signal);
  const where =
    origin.source.kind === 'url'
      ? `${origin.source.url}manifest.json`
      : `${origin.source.name}/manifest.json`;
  const manifest = parseManifest(await readAllJson(memorySource(where, bytes)), where);
  const manifestSha256 = await sha256Hex(bytes);
  return { id: id ?? defaultModelId(manifest, manifestSha256), manifest, manifestSha256 };
}

/** Stores a whole pack from an origin, skipping files already stored (this is also "resume"). */
export async function ingest(
  ctx: StoreContext,
  origin: PackOrigin,
  opts: IngestOptions = {},
): Promise<StoreResult> {
  const target = await resolvePack(origin, opts.id, opts.signal);
  return storeFiles(ctx, origin, target, opts);
}

/**
 * Stores the files of `target` that are missing, or exactly `only` (read again even if stored:
 * repair). Holds the model's lock throughout.
 */
export function storeFiles(
  ctx: StoreContext,
  origin: PackOrigin,
  target: PackTarget,
  opts: IngestOptions & { only?: readonly string[] } = {},
): Promise<StoreResult> {
  return withModelLock(target.id, () => storeLocked(ctx, origin, target, opts));
}

async function storeLocked(
  ctx: StoreContext,
  origin: PackOrigin,
  { id, manifest, manifestSha256 }: PackTarget,
  opts: IngestOptions & { only?: readonly string[] },
): Promise<StoreResult> {
  const { records, storage } = ctx;
  const existing = await records.model(id);
  if (existing && existing.manifestSha256 !== manifestSha256) {
    throw new StoreError(
      `model ${id} already holds a different pack (manifest SHA-256 ${existing.manifestSha256.slice(0, 12)}…, this one ${manifestSha256.slice(0, 12)}…): delete it first or store this one under another id`,
    );
  }
  const all = packFiles(manifest);
  const stored = new Set(await records.fileNames(id));
  const only = opts.only ? new Set(opts.only) : null;
  const todo = all.filter((f) => (only ? only.has(f.file) : !stored.has(f.file)));
  const kept = all.filter((f) => stored.has(f.file) && !todo.includes(f));

  let remaining = todo.reduce((n, f) => n + f.bytes, 0);
  const persisted = opts.persist === false ? false : await requestPersistence(storage);
  // Refuse before anything is written: a model that cannot fit should not leave half of itself behind.
  await checkSpace(storage, remaining, id);

  const quotaError = async () => new QuotaError(remaining, await availableBytes(storage), id);
  const write = async (fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (e) {
      throw isQuotaExceeded(e) ? await quotaError() : e;
    }
  };

  // The model record goes first, so an interrupted store is listed (as 'downloading') and resumable.
  if (!existing || JSON.stringify(existing.source) !== JSON.stringify(origin.source)) {
    const rec = existing
      ? { ...existing, source: origin.source }
      : { id, manifest, manifestSha256, source: origin.source, added: new Date().toISOString(), bad: [] };
    await write(() => records.putModel(rec));
  }

  const bytesTotal = all.reduce((n, f) => n + f.bytes, 0);
  const filesTotal = all.length;
  let filesDone = kept.length;
  let bytesDone = kept.reduce((n, f) => n + f.bytes, 0);
  const meter = new TransferMeter();
  let lastEmit = 0;
  const emit = (file: string | undefined, force: boolean, done = false) => {
    if (!opts.onProgress) return;
    const now = performance.now();
    if (!force && now - lastEmit < 100) return;
    lastEmit = now;
    opts.onProgress({
      id,
      bytesDone,
      bytesTotal,
      bytesPerSecond: meter.rate(now),
      filesDone,
      filesTotal,
      file,
      done,
    });
  };
  emit(undefined, true);

  const fetched: string[] = [];
  const storeOne = async (f: PackFileEntry, signal: AbortSignal) => {
    const bytes = await origin.readFile(
      f,
      id,
      (delta) => {
        bytesDone += delta;
        meter.add(delta);
        emit(f.file, false);
      },
      signal,
    );
    await verifyFromSource(id, f, bytes);
    if (signal.aborted) throw signal.reason; // another file failed: write nothing more
    const data = new Blob([bytes as Uint8Array<ArrayBuffer>]);
    await write(() => records.putFile({ id, file: f.file, bytes: f.bytes, sha256: f.sha256, data }));
    remaining -= f.bytes;
    filesDone++;
    fetched.push(f.file);
    emit(f.file, true);
  };
  try {
    await runPool(todo, opts.concurrency ?? origin.concurrency, storeOne, opts.signal);
  } catch (e) {
    // Other files may have been stored after the failing write: count what is still missing
    // once every worker has settled.
    if (e instanceof QuotaError) throw await quotaError();
    throw e;
  }
  emit(undefined, true, true);

  const rec = await records.model(id);
  return {
    id,
    fetched,
    skipped: kept.map((f) => f.file),
    persisted,
    info: describeModel(rec!, await records.fileNames(id)),
  };
}

/** The check every file passes before it is written: exactly the manifest's size and SHA-256. */
async function verifyFromSource(id: string, f: PackFileEntry, bytes: Uint8Array): Promise<void> {
  if (bytes.length !== f.bytes) {
    throw new IntegrityError(
      id,
      f.file,
      f.shard,
      `${bytes.length} bytes, the manifest says ${f.bytes}`,
      'source',
    );
  }
  const sha = await sha256Hex(bytes);
  if (sha !== f.sha256) {
    throw new IntegrityError(id, f.file, f.shard, `SHA-256 ${sha}, the manifest says ${f.sha256}`, 'source');
  }
}

// Browser checks of the offline model store (e2e/store.test.ts drives it): each step is a
// function on window.storeTest that the test calls with page.evaluate; errors come back as plain
// objects ({ name, message, ...fields }) because typed errors do not cross page.evaluate.
import { createStore, promisifyRequest, type UseStore } from 'idb-keyval';
import { convertCheckpoint } from '../../src/convert/convert';
import { openHfCheckpoint } from '../../src/format/hf-checkpoint';
import { MemoryPackSink } from '../../src/format/pack-writer';
import { urlDirectory } from '../../src/format/url-source';
import { acquireDevice, type GpuContext } from '../../src/gpu/device';
import { GpuModel } from '../../src/model/gpu-model';
import { ModelStore, type ModelStoreOptions, type StoreProgress } from '../../src/store';
import { type FileRecord, fileKey, STORE_NAME } from '../../src/store/records';
import { TextTokenizer } from '../../src/tokenizer/tokenizer';

export type PlainError = { name: string; message: string } & Record<string, unknown>;
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: PlainError };

function plainError(e: unknown): PlainError {
  const err = e as Error;
  const out: PlainError = { name: err?.name ?? 'Error', message: err?.message ?? String(e) };
  for (const [k, v] of Object.entries(err ?? {})) if (typeof v !== 'function') out[k] = v;
  return out;
}

async function outcome<T>(fn: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await fn() };
  } catch (e) {
    console.error(e);
    return { ok: false, error: plainError(e) };
  }
}

/** Makes the Nth put() (counting from 1) of this store fail the way a full disk does. */
function failingPuts(db: string, failAt: number): UseStore {
  const base = createStore(db, STORE_NAME);
  let puts = 0;
  return (mode, cb) =>
    base(mode, (store) =>
      cb(
        new Proxy(store, {
          get(target, prop) {
            if (prop === 'put') {
              return (value: unknown, key?: IDBValidKey) => {
                if (++puts >= failAt) throw new DOMException('simulated full disk', 'QuotaExceededError');
                return target.put(value, key);
              };
            }
            const v = Reflect.get(target, prop, target);
            return typeof v === 'function' ? v.bind(target) : v;
          },
        }),
      ),
    );
}

interface StoreSetup {
  /** Pretend quota − usage is this many bytes. */
  quotaBytes?: number;
  /** The Nth put fails with QuotaExceededError. */
  failPutAt?: number;
}

function store(db: string, setup: StoreSetup = {}): ModelStore {
  const opts: ModelStoreOptions = { dbName: db };
  if (setup.quotaBytes !== undefined) {
    const quota = setup.quotaBytes;
    opts.storage = { estimate: async () => ({ usage: 0, quota }), persist: async () => false };
  }
  if (setup.failPutAt !== undefined) opts.useStore = failingPuts(db, setup.failPutAt);
  return new ModelStore(opts);
}

let gpu: GpuContext | null = null;
const progress: StoreProgress[] = [];
let background: Outcome<unknown> | null = null;

const heap = () =>
  (performance as unknown as { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize ?? null;

/** Loads a stored model on the GPU and generates greedily from BOS. */
async function loadAndGenerate(db: string, id: string, tokens: number) {
  const pack = await store(db).open(id);
  gpu ??= await acquireDevice();
  const before = heap();
  let peak = before;
  const model = await GpuModel.load(gpu, pack, () => {
    const h = heap();
    if (h !== null && (peak === null || h > peak)) peak = h;
  });
  try {
    const session = await model.createSession({ maxContext: 64 });
    const tok = TextTokenizer.fromFiles(await pack.readTokenizer());
    const ids: number[] = [];
    let next = await session.prefill([pack.manifest.config.bosTokenId ?? 1]);
    while (ids.length < tokens) {
      ids.push(next);
      if (ids.length < tokens) next = await session.decode();
    }
    return {
      text: tok.decode(ids),
      ids,
      stats: { ...pack.stats },
      heap: { before, peak },
    };
  } finally {
    model.destroy();
  }
}

async function fetchPackFiles(url: string): Promise<Map<string, Uint8Array>> {
  const get = async (f: string) => new Uint8Array(await (await fetch(url + f)).arrayBuffer());
  const manifestBytes = await get('manifest.json');
  const m = JSON.parse(new TextDecoder().decode(manifestBytes));
  const names: string[] = [m.tokenizer.json.file, ...(m.tokenizer.config ? [m.tokenizer.config.file] : [])];
  for (const s of m.shards) names.push(s.file);
  const files = new Map<string, Uint8Array>([['manifest.json', manifestBytes]]);
  for (const n of names) files.set(n, await get(n));
  return files;
}

/** File objects as `<input webkitdirectory>` gives them: webkitRelativePath "<folder>/<name>". */
function asChosenFiles(files: Map<string, Uint8Array>, folder: string): File[] {
  const out: File[] = [];
  const add = (path: string, bytes: Uint8Array | string) => {
    const f = new File([bytes as BlobPart], path.split('/').pop()!);
    Object.defineProperty(f, 'webkitRelativePath', { value: path });
    out.push(f);
  };
  for (const [name, bytes] of files) add(`${folder}/${name}`, bytes);
  add(`${folder}/README.txt`, 'not part of the pack');
  return out;
}

const api = {
  progress: () => ({ count: progress.length, last: progress.at(-1) ?? null, all: progress }),
  background: () => background,

  /** Starts a download and returns at once (the test reloads the page in the middle). */
  startDownload(db: string, url: string) {
    progress.length = 0;
    background = null;
    store(db)
      .download(url, { onProgress: (p) => progress.push(p) })
      .then(
        (value) => (background = { ok: true, value }),
        (e) => (background = { ok: false, error: plainError(e) }),
      );
  },

  download: (db: string, url: string, opts: { id?: string; setup?: StoreSetup } = {}) =>
    outcome(() => {
      progress.length = 0;
      return store(db, opts.setup).download(url, { id: opts.id, onProgress: (p) => progress.push(p) });
    }),

  list: (db: string) => outcome(() => store(db).list()),
  totalBytes: (db: string) => outcome(() => store(db).totalBytes()),
  delete: (db: string, id: string) => outcome(() => store(db).delete(id)),
  verify: (db: string, id: string) => outcome(() => store(db).verify(id)),
  repairModel: (db: string, id: string, fromUrl?: string) =>
    outcome(async () =>
      store(db).repairModel(
        id,
        fromUrl ? { from: asChosenFiles(await fetchPackFiles(fromUrl), 'again') } : {},
      ),
    ),
  repairShard: (db: string, id: string, shard: number) => outcome(() => store(db).repairShard(id, shard)),
  loadAndGenerate: (db: string, id: string, tokens: number) => outcome(() => loadAndGenerate(db, id, tokens)),
  readTokenizer: (db: string, id: string) =>
    outcome(async () => {
      const t = await (await store(db).open(id)).readTokenizer();
      return { jsonBytes: t.tokenizerJson.length, hasConfig: t.tokenizerConfigJson !== null };
    }),

  /** Overwrites a stored file's record from the page: 'garbage' keeps the size, 'truncate' halves it. */
  corrupt: (db: string, id: string, file: string, mode: 'garbage' | 'truncate') =>
    outcome(async () => {
      const use = createStore(db, STORE_NAME);
      const rec = (await use('readonly', (s) => promisifyRequest(s.get(fileKey(id, file))))) as FileRecord;
      const bytes = new Uint8Array(await rec.data.arrayBuffer());
      const bad =
        mode === 'garbage'
          ? bytes.map((b, i) => (i % 4096 === 7 ? b ^ 0x5a : b))
          : bytes.slice(0, bytes.length >> 1);
      await use('readwrite', (s) => {
        s.put({ ...rec, data: new Blob([bad]) }, fileKey(id, file));
        return promisifyRequest(s.transaction);
      });
    }),

  /** Every key left in the database (all models). */
  recordCount: (db: string) =>
    outcome(() => createStore(db, STORE_NAME)('readonly', (s) => promisifyRequest(s.count()))),

  /** The pack fetched over HTTP, then imported as the File list of a chosen folder. */
  importFiles: (db: string, url: string) =>
    outcome(async () => store(db).importFiles(asChosenFiles(await fetchPackFiles(url), 'tiny-pack'))),

  /** The pack written into the origin-private file system, then imported through its directory handle. */
  importDirectory: (db: string, url: string) =>
    outcome(async () => {
      const root = await navigator.storage.getDirectory();
      const dir = await root.getDirectoryHandle('tiny-pack', { create: true });
      for (const [name, bytes] of await fetchPackFiles(url)) {
        const w = await (await dir.getFileHandle(name, { create: true })).createWritable();
        await w.write(bytes as BlobPart);
        await w.close();
      }
      return store(db).importDirectory(dir);
    }),

  /** A checkpoint converted in the page into a MemoryPackSink, then stored from its files map. */
  convertAndImport: (db: string, checkpointUrl: string) =>
    outcome(async () => {
      const sink = new MemoryPackSink();
      await convertCheckpoint(await openHfCheckpoint(urlDirectory(checkpointUrl)), sink, {
        scheme: 'f32',
        writer: { shardTargetBytes: 256 << 10 },
      });
      return store(db).importPack(sink.files);
    }),
};

(window as unknown as { storeTest: typeof api }).storeTest = api;
export type StoreTestApi = typeof api;

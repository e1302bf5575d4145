/**
 * ModelSource → an opened model: the weights (a WeightSource GpuModel.load reads tensor by
 * tensor), the tokenizer files, and the bits of the manifest the engine uses. 'url' and 'memory'
 * are pack readers over urlDirectory / memoryDirectory; 'stored' goes through an injectable
 * opener, so the engine does not depend on how (or whether) a store exists.
 */

import { memoryDirectory } from '../format/byte-source';
import type { GenerationDefaults, TokenizerFiles } from '../format/checkpoint';
import type { PackManifest } from '../format/pack';
import { openPack } from '../format/pack-reader';
import { urlDirectory } from '../format/url-source';
import type { WeightSource } from '../model/gpu-model';
import { InvalidRequestError } from './errors';
import type { ModelSource } from './types';

/** What opening a stored pack must give: a Pack (src/format/pack-reader.ts) is one, src/store's StoredPack too. */
export interface StoredPackLike extends WeightSource {
  manifest: WeightSource['manifest'] & Partial<Pick<PackManifest, 'name' | 'generation'>>;
  readTokenizer(): Promise<TokenizerFiles>;
  /** Drops cached file bytes once the weights are on the GPU (src/store keeps the current shard). */
  release?(): void;
}

/** Opens a pack kept by the page's store, by id (src/store's openStoredPack has this shape). */
export type StoredPackOpener = (id: string) => Promise<StoredPackLike>;

export interface OpenedModel {
  name: string;
  weights: WeightSource;
  generation: GenerationDefaults;
  readTokenizer(): Promise<TokenizerFiles>;
  /** Frees what the source caches after a load (nothing for URL and memory packs). */
  release(): void;
}

export interface OpenOptions {
  openStored?: StoredPackOpener;
  verify?: boolean;
}

/** The model's name: the caller's if given, else the manifest's, else where it came from. */
function fromPack(p: StoredPackLike, name: { given?: string; fallback: string }): OpenedModel {
  return {
    name: name.given ?? p.manifest.name ?? name.fallback,
    weights: p,
    generation: p.manifest.generation ?? {},
    readTokenizer: () => p.readTokenizer(),
    release: () => p.release?.(),
  };
}

export async function openModelSource(source: ModelSource, opts: OpenOptions = {}): Promise<OpenedModel> {
  switch (source?.kind) {
    case 'url': {
      if (typeof source.url !== 'string')
        throw new InvalidRequestError('source.url', 'source.url: give a URL');
      // Relative URLs are resolved against the page (or the worker's script) like fetch would.
      const base = (globalThis as { location?: { href: string } }).location?.href;
      const url = base ? new URL(source.url, base).href : source.url;
      const pack = await openPack(urlDirectory(url, { headers: source.headers }), { verify: opts.verify });
      return fromPack(pack, { fallback: url });
    }
    case 'memory': {
      const files =
        source.files instanceof Map ? Object.fromEntries(source.files) : { ...(source.files ?? {}) };
      const pack = await openPack(memoryDirectory(source.name ?? 'memory', files), { verify: opts.verify });
      return fromPack(pack, { given: source.name, fallback: 'memory' });
    }
    case 'stored': {
      if (typeof source.id !== 'string' || source.id === '') {
        throw new InvalidRequestError('source.id', 'source.id: give the id of a stored model');
      }
      if (!opts.openStored) {
        throw new InvalidRequestError(
          'source',
          "source 'stored': this engine has no store to open packs from (pass openStoredPack to createEngine)",
        );
      }
      const pack = await opts.openStored(source.id);
      if (opts.verify && 'verifyAll' in pack && typeof pack.verifyAll === 'function') await pack.verifyAll();
      return fromPack(pack, { fallback: source.id });
    }
    default:
      throw new InvalidRequestError('source', "source.kind must be 'url', 'memory' or 'stored'");
  }
}

/** Total bytes and tensor count of the weights (for progress). */
export function weightTotals(w: WeightSource): { bytes: number; tensors: number } {
  let bytes = 0;
  for (const t of w.manifest.tensors) {
    for (const p of t.pieces) for (const c of Object.values(p.components)) bytes += c.bytes;
  }
  return { bytes, tensors: w.manifest.tensors.length };
}

/** The same weights, reporting the bytes of every piece as it is read. */
export function countingWeights(w: WeightSource, onBytes: (bytes: number) => void): WeightSource {
  return {
    manifest: w.manifest,
    tensor: (name) => w.tensor(name),
    async readTensorComponents(name, piece) {
      const comps = await w.readTensorComponents(name, piece);
      let bytes = 0;
      for (const a of Object.values(comps)) bytes += a.byteLength;
      onBytes(bytes);
      return comps;
    },
  };
}

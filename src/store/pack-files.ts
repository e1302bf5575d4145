/**
 * What a pack consists of, as the store sees it: every file the manifest lists (tokenizer files
 * and shards) with its size and checksum, and the default id a stored pack gets.
 */
import type { PackManifest } from '../format/pack';

export interface PackFileEntry {
  file: string;
  bytes: number;
  sha256: string;
  /** Shard index, or null for a tokenizer file. */
  shard: number | null;
}

/** Tokenizer files first (small: a listing shows them stored early), then the shards in order. */
export function packFiles(manifest: PackManifest): PackFileEntry[] {
  const out: PackFileEntry[] = [{ ...manifest.tokenizer.json, shard: null }];
  if (manifest.tokenizer.config) out.push({ ...manifest.tokenizer.config, shard: null });
  manifest.shards.forEach((s, i) => {
    out.push({ file: s.file, bytes: s.bytes, sha256: s.sha256, shard: i });
  });
  return out;
}

export function packBytes(manifest: PackManifest): number {
  return packFiles(manifest).reduce((n, f) => n + f.bytes, 0);
}

/**
 * `<name>-<scheme>-<first 8 hex of the manifest's SHA-256>`: content-addressed, so downloading the
 * same URL again after a reload finds the half-stored model (resume), the same pack imported from
 * a folder is the same model, and a re-converted pack at the same URL becomes a new model rather
 * than mixing its shards with the old ones.
 */
export function defaultModelId(manifest: PackManifest, manifestSha256: string): string {
  const slug =
    manifest.name
      .toLowerCase()
      .replace(/[^a-z0-9._-]+/g, '-')
      .replace(/^[-.]+|-+$/g, '')
      .slice(0, 48) || 'model';
  return `${slug}-${manifest.scheme}-${manifestSha256.slice(0, 8)}`;
}

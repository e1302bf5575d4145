/**
 * A stored model's state, derived from its records rather than kept in a flag, so it cannot go
 * stale when a page dies mid-write: a model is 'ready' exactly when every file the manifest lists
 * has a (verified-on-write) record, 'broken' when a file was found corrupt and not yet repaired,
 * and 'downloading' otherwise (an interrupted download or import: resume it).
 */

import { packFiles } from './pack-files';
import type { ModelRecord, StoredSource } from './records';

export type ModelStatus = 'downloading' | 'ready' | 'broken';

export interface StoredModelInfo {
  id: string;
  name: string;
  scheme: string;
  method: string;
  /** Bytes of the whole pack (shards + tokenizer files). */
  bytes: number;
  /** Bytes stored so far. */
  storedBytes: number;
  status: ModelStatus;
  shards: { total: number; present: number[]; missing: number[]; bad: number[] };
  /** Files (shards and tokenizer files) not stored, and those found corrupt. */
  missingFiles: string[];
  badFiles: string[];
  source: StoredSource;
  added: string;
}

export function describeModel(rec: ModelRecord, storedFiles: Iterable<string>): StoredModelInfo {
  const stored = new Set(storedFiles);
  const bad = new Set(rec.bad);
  const files = packFiles(rec.manifest);
  const present: number[] = [];
  const missing: number[] = [];
  const badShards: number[] = [];
  let bytes = 0;
  let storedBytes = 0;
  for (const f of files) {
    bytes += f.bytes;
    if (stored.has(f.file)) storedBytes += f.bytes;
    if (f.shard === null) continue;
    if (stored.has(f.file)) present.push(f.shard);
    else missing.push(f.shard);
    if (bad.has(f.file)) badShards.push(f.shard);
  }
  const missingFiles = files.filter((f) => !stored.has(f.file)).map((f) => f.file);
  const status: ModelStatus = bad.size > 0 ? 'broken' : missingFiles.length === 0 ? 'ready' : 'downloading';
  return {
    id: rec.id,
    name: rec.manifest.name,
    scheme: rec.manifest.scheme,
    method: rec.manifest.method,
    bytes,
    storedBytes,
    status,
    shards: { total: rec.manifest.shards.length, present, missing, bad: badShards },
    missingFiles,
    badFiles: [...rec.bad],
    source: rec.source,
    added: rec.added,
  };
}

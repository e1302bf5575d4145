/**
 * Storage space policy: before storing, compare the bytes still missing with quota − usage from
 * navigator.storage.estimate() and refuse up front (QuotaError) rather than fill the disk and fail
 * half way; ask once for persistent storage so the browser does not evict a multi-GB model under
 * storage pressure. The estimate is only an estimate, so writes still map QuotaExceededError to
 * QuotaError (ingest.ts). The StorageManager is injectable so tests can simulate a full disk.
 */
import { QuotaError } from './errors';

/** The part of navigator.storage the store uses. */
export interface StorageLike {
  estimate(): Promise<{ usage?: number; quota?: number }>;
  persist?(): Promise<boolean>;
  persisted?(): Promise<boolean>;
}

export function defaultStorage(): StorageLike | null {
  // navigator.storage is missing outside secure contexts (plain http on a non-local host).
  return typeof navigator !== 'undefined' && navigator.storage ? navigator.storage : null;
}

/** quota − usage, or null when the browser gives no estimate. */
export async function availableBytes(storage: StorageLike | null): Promise<number | null> {
  if (!storage) return null;
  try {
    const { usage, quota } = await storage.estimate();
    if (quota === undefined) return null;
    return Math.max(0, quota - (usage ?? 0));
  } catch {
    return null;
  }
}

/** Throws QuotaError when `needed` bytes clearly do not fit. Unknown space is not a refusal. */
export async function checkSpace(
  storage: StorageLike | null,
  needed: number,
  modelId?: string,
): Promise<void> {
  if (needed <= 0) return;
  const available = await availableBytes(storage);
  if (available !== null && needed > available) throw new QuotaError(needed, available, modelId);
}

/**
 * Asks for persistent storage (no prompt in Chromium: granted by engagement heuristics, often
 * false in a fresh profile). Returns whether storage is persistent; never throws.
 */
export async function requestPersistence(storage: StorageLike | null): Promise<boolean> {
  try {
    if (await storage?.persisted?.()) return true;
    return (await storage?.persist?.()) ?? false;
  } catch {
    return false;
  }
}

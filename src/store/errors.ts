/**
 * Typed errors of the offline model store. Each carries the fields a page needs to act on it
 * (which shard to repair, how many bytes to free, which URL failed) so the UI never parses
 * messages. All extend StoreError, and every `name` is stable (errors cross postMessage and
 * page.evaluate as plain objects, where instanceof no longer works).
 */

export class StoreError extends Error {
  override name = 'StoreError';
}

/**
 * A stored or fetched file does not match the manifest: wrong SHA-256, wrong size, missing or
 * unreadable. `shard` is the shard index, or null for a tokenizer file. `where` says whether the
 * bytes came out of IndexedDB ('stored': repair it) or from the source while storing ('source':
 * the server or folder holds a different pack than its manifest says).
 */
export class IntegrityError extends StoreError {
  override name = 'IntegrityError';
  constructor(
    readonly modelId: string,
    readonly file: string,
    readonly shard: number | null,
    readonly reason: string,
    readonly where: 'stored' | 'source' = 'stored',
  ) {
    super(
      `model ${modelId}: ${file}${shard === null ? '' : ` (shard ${shard})`}${where === 'source' ? ' from the source' : ''}: ${reason}`,
    );
  }
}

/**
 * Not enough storage for the bytes still to be stored. Raised before anything is fetched when the
 * estimate says it cannot fit, or when a write fails with QuotaExceededError; in both cases every
 * record already stored (this model's finished shards, other models) is kept.
 */
export class QuotaError extends StoreError {
  override name = 'QuotaError';
  constructor(
    readonly neededBytes: number,
    /** quota − usage from navigator.storage.estimate(), or null when the browser gives no estimate. */
    readonly availableBytes: number | null,
    readonly modelId?: string,
  ) {
    super(
      `not enough storage${modelId ? ` for model ${modelId}` : ''}: ${neededBytes} more bytes needed, ${
        availableBytes === null ? 'available space unknown' : `${availableBytes} available`
      }`,
    );
  }
}

/** A download failed for good (after retries). status is the HTTP status, or 0 for a network error. */
export class DownloadError extends StoreError {
  override name = 'DownloadError';
  constructor(
    readonly url: string,
    readonly status: number,
    readonly reason: string,
  ) {
    super(`cannot download ${url}: ${reason}`);
  }
}

/** No model with this id in the store. */
export class NotFoundError extends StoreError {
  override name = 'NotFoundError';
  constructor(readonly modelId: string) {
    super(`no stored model ${modelId}`);
  }
}

/** The model exists but some of its files are not stored yet (an interrupted download or import). */
export class NotReadyError extends StoreError {
  override name = 'NotReadyError';
  constructor(
    readonly modelId: string,
    readonly missing: string[],
  ) {
    super(
      `model ${modelId} is not completely stored: ${missing.length} file(s) missing (${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', …' : ''}); resume the download or import`,
    );
  }
}

/** A DOMException (or the newer QuotaExceededError class) that says storage is full. */
export function isQuotaExceeded(e: unknown): boolean {
  const err = e as { name?: string; code?: number } | null;
  return err?.name === 'QuotaExceededError' || err?.code === 22;
}

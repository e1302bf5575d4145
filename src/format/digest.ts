/**
 * SHA-256 through WebCrypto (globalThis.crypto.subtle): the same code hashes shards in Node 20,
 * a page and a worker, with no dependency. subtle.digest is one-shot, so callers hash whole
 * shards (bounded by SHARD_TARGET_BYTES, or one oversized component).
 */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) throw new Error('SHA-256 needs WebCrypto (crypto.subtle): a secure context or Node ≥ 20');
  // digest() accepts any BufferSource; a view of a SharedArrayBuffer is not one, so copy in that rare case.
  const input = bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : bytes.slice();
  const digest = new Uint8Array(await subtle.digest('SHA-256', input));
  let hex = '';
  for (const b of digest) hex += b.toString(16).padStart(2, '0');
  return hex;
}

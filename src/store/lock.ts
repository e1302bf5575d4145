/**
 * One writer per model across tabs and reloads (Web Locks API): a second tab downloading the same
 * model waits for the first and then finds its shards stored; a reloaded page's lock is released
 * with the old document. Without navigator.locks (old browsers) writes simply are not serialized:
 * every record is still verified and written whole, so the worst case is a shard fetched twice.
 */
export async function withModelLock<T>(id: string, fn: () => Promise<T>): Promise<T> {
  const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined;
  if (!locks) return fn();
  return locks.request(`pagelm-store:${id}`, fn) as Promise<T>;
}

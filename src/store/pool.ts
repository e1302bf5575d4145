/**
 * Runs `work` over `items` with at most `concurrency` in flight. The first failure aborts the
 * signal handed to the others (so their fetches stop at once), every worker is awaited (nothing
 * keeps writing after the call returns), and that first failure is thrown.
 */
export async function runPool<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T, signal: AbortSignal) => Promise<void>,
  outer?: AbortSignal,
): Promise<void> {
  const ctl = new AbortController();
  const onOuter = () => ctl.abort(outer?.reason);
  if (outer?.aborted) onOuter();
  outer?.addEventListener('abort', onOuter);
  let next = 0;
  let failure: { error: unknown } | null = null;
  const worker = async () => {
    while (!ctl.signal.aborted && next < items.length) {
      const item = items[next++];
      try {
        await work(item, ctl.signal);
      } catch (e) {
        // Keep the first real failure, not the aborts it caused in the other workers.
        failure ??= { error: e };
        ctl.abort(e);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
  } finally {
    outer?.removeEventListener('abort', onOuter);
  }
  if (failure) throw (failure as { error: unknown }).error;
  if (ctl.signal.aborted) throw ctl.signal.reason;
}

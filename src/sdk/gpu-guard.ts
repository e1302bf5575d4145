/**
 * Turning GPU trouble into typed errors. WebGPU reports a failed allocation not by throwing but
 * through error scopes (an invalid buffer is returned), except mapped-at-creation buffers whose
 * staging memory cannot be had, which throw RangeError. Device loss surfaces as rejected
 * promises (mapAsync) and, separately, as the device's `lost` promise; which comes first is not
 * specified, so a failure is blamed on device loss if `lost` settles shortly after it.
 */
import { OutOfMemoryError } from './errors';

/** Runs `fn` inside an 'out-of-memory' error scope; an OOM (scoped or thrown) becomes OutOfMemoryError. */
export async function withOutOfMemoryScope<T>(
  device: Pick<GPUDevice, 'pushErrorScope' | 'popErrorScope'>,
  what: string,
  fn: () => Promise<T>,
): Promise<T> {
  device.pushErrorScope('out-of-memory');
  let failure: { error: unknown } | null = null;
  let result: T | undefined;
  try {
    result = await fn();
  } catch (e) {
    failure = { error: e };
  }
  // The scope must be popped whatever happened; a lost device rejects the pop, which says nothing.
  const scoped = await device.popErrorScope().catch(() => null);
  if (scoped) {
    throw new OutOfMemoryError(
      `${what}: the GPU ran out of memory (${scoped.message || 'allocation failed'}). ` +
        'Try a smaller model, a smaller contextSize, or close other GPU-heavy tabs.',
    );
  }
  if (failure) {
    const e = failure.error;
    if (e instanceof RangeError && /alloc|memory|map/i.test(e.message)) {
      throw new OutOfMemoryError(
        `${what}: the GPU (or its staging memory) ran out of memory (${e.message}).`,
      );
    }
    throw e;
  }
  return result as T;
}

/** True if `lost` settles within `ms`: the failure just seen was the device going away. */
export function settlesSoon(lost: Promise<unknown>, ms = 100): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    void lost.then(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

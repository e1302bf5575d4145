import { describe, expect, test } from 'vitest';
import { OutOfMemoryError } from '../../src/sdk/errors';
import { settlesSoon, withOutOfMemoryScope } from '../../src/sdk/gpu-guard';

/** The two methods of a GPUDevice the guard uses, with a scripted scope result. */
function fakeDevice(scoped: { message: string } | null) {
  const log: string[] = [];
  return {
    log,
    pushErrorScope: (filter: GPUErrorFilter) => void log.push(`push:${filter}`),
    popErrorScope: async () => {
      log.push('pop');
      return scoped as GPUError | null;
    },
  };
}

describe('withOutOfMemoryScope', () => {
  test('passes the result through when nothing went wrong', async () => {
    const d = fakeDevice(null);
    expect(await withOutOfMemoryScope(d, 'x', async () => 42)).toBe(42);
    expect(d.log).toEqual(['push:out-of-memory', 'pop']);
  });

  test('an out-of-memory error in the scope becomes OutOfMemoryError', async () => {
    const d = fakeDevice({ message: 'Not enough memory left' });
    await expect(withOutOfMemoryScope(d, 'Allocating the KV cache', async () => 1)).rejects.toThrow(
      OutOfMemoryError,
    );
    await expect(withOutOfMemoryScope(d, 'Allocating the KV cache', async () => 1)).rejects.toThrow(
      /Allocating the KV cache: the GPU ran out of memory \(Not enough memory left\)/,
    );
  });

  test('a RangeError from a mapped allocation is OOM too; other errors pass unchanged; the scope is always popped', async () => {
    const d = fakeDevice(null);
    await expect(
      withOutOfMemoryScope(d, 'x', async () => {
        throw new RangeError('Failed to allocate memory for the mapping');
      }),
    ).rejects.toThrow(OutOfMemoryError);
    const boom = new Error('boom');
    await expect(
      withOutOfMemoryScope(d, 'x', async () => {
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(d.log.filter((l) => l === 'pop')).toHaveLength(2);
  });
});

describe('settlesSoon', () => {
  test('true when the promise settles in time, false otherwise', async () => {
    expect(await settlesSoon(Promise.resolve(), 50)).toBe(true);
    expect(await settlesSoon(new Promise(() => {}), 10)).toBe(false);
  });
});

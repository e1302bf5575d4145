import { describe, expect, test } from 'vitest';
import { Channel } from '../../src/sdk/channel';

describe('Channel', () => {
  test('items pushed before and during iteration arrive in order, then the end', async () => {
    const c = new Channel<number>();
    c.push(1);
    const got: number[] = [];
    const consumer = (async () => {
      for await (const x of c) got.push(x);
    })();
    await Promise.resolve();
    c.push(2);
    c.push(3);
    c.close();
    await consumer;
    expect(got).toEqual([1, 2, 3]);
  });

  test('fail: queued items first, then the error, once', async () => {
    const c = new Channel<number>();
    c.push(1);
    c.fail(new Error('boom'));
    const it = c[Symbol.asyncIterator]();
    expect(await it.next()).toEqual({ value: 1, done: false });
    await expect(it.next()).rejects.toThrow('boom');
    expect(await it.next()).toEqual({ value: undefined, done: true });
  });

  test('leaving the loop early cancels the producer', async () => {
    let cancelled = 0;
    const c = new Channel<number>(() => cancelled++);
    c.push(1);
    c.push(2);
    for await (const _ of c) break;
    expect(cancelled).toBe(1);
    c.push(3); // ignored
    expect(await c[Symbol.asyncIterator]().next()).toEqual({ value: undefined, done: true });
  });

  test('no cancel callback when the stream already ended', async () => {
    let cancelled = 0;
    const c = new Channel<number>(() => cancelled++);
    c.push(1);
    c.close();
    for await (const _ of c) break;
    expect(cancelled).toBe(0);
  });
});

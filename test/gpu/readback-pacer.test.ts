import { describe, expect, test } from 'vitest';
import { ReadbackPacer } from '../../src/gpu/readback-pacer';

describe('ReadbackPacer', () => {
  test('has no estimate before a step of the kind was read', () => {
    const p = new ReadbackPacer();
    expect(p.submitted(0, 1)).toBeUndefined();
    p.read(0, 10, 1);
    // Decode steps are known now; prefill steps (several tokens) are not.
    expect(p.submitted(20, 1)).toBe(30);
    expect(p.submitted(20, 64)).toBeUndefined();
  });

  test('queues steps behind each other: the expected end follows the GPU, not the submit', () => {
    const p = new ReadbackPacer();
    p.submitted(0, 1);
    p.read(0, 4, 1); // 4 ms a step
    // Two steps submitted at once (lookahead): the second ends a step after the first.
    expect(p.submitted(10, 1)).toBe(14);
    expect(p.submitted(10.5, 1)).toBe(18);
    // The first is read at 14: it ran 10 → 14. The second started when the first was done.
    p.read(10, 14, 1);
    p.read(10.5, 18, 1);
    expect(p.submitted(18, 1)).toBe(22);
  });

  test('converges on the true step time from a long or a short first estimate', () => {
    for (const first of [1, 30]) {
      const p = new ReadbackPacer();
      p.submitted(0, 1);
      p.read(0, first, 1);
      // Simulate steps of 5 ms read at max(done, when the pacer would have slept to).
      let now = 100;
      let expected = 0;
      for (let i = 0; i < 40; i++) {
        const done = p.submitted(now, 1) as number;
        const woke = now + ReadbackPacer.FRACTION * (done - now);
        const read = Math.max(now + 5, woke);
        p.read(now, read, 1);
        expected = done - now;
        now = read;
      }
      // Settles between the true time and true / FRACTION, never above it.
      expect(expected).toBeGreaterThan(5 * 0.999);
      expect(expected).toBeLessThanOrEqual(5 / ReadbackPacer.FRACTION + 1e-9);
    }
  });

  test('prefill steps are estimated per token', () => {
    const p = new ReadbackPacer();
    p.submitted(0, 100);
    p.read(0, 50, 100); // 0.5 ms a token
    expect(p.submitted(60, 200)).toBe(160);
  });

  test('wait sleeps most of the way to the expected end, and not at all when it is near', async () => {
    const p = new ReadbackPacer();
    let t = performance.now();
    await p.wait(t + 40);
    const slept = performance.now() - t;
    expect(slept).toBeGreaterThanOrEqual(ReadbackPacer.FRACTION * 40 - 2);
    expect(slept).toBeLessThan(40);
    t = performance.now();
    await p.wait(t + 0.5);
    expect(performance.now() - t).toBeLessThan(1);
  });
});

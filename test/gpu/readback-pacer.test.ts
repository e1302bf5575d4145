import { describe, expect, test } from 'vitest';
import { PACE_FRACTION, ReadbackPacer, settle, sleepMs } from '../../src/gpu/readback-pacer';

describe('readback pacing', () => {
  test('settle: down at once, up gradually', () => {
    expect(settle(undefined, 7)).toBe(7);
    expect(settle(10, 4)).toBe(4);
    expect(settle(4, 8)).toBe(5);
  });

  test('a stream pacer does not wait until it has seen an interval', () => {
    const p = new ReadbackPacer();
    expect(p.arrived(100)).toBe(0);
    expect(p.arrived(104)).toBe(PACE_FRACTION * 4);
  });

  test('a stream pacer converges on the GPU interval from a long or a short first one, never reading late', () => {
    for (const first of [1.5, 30]) {
      const p = new ReadbackPacer();
      p.arrived(0);
      let now = first;
      let sleep = p.arrived(now);
      let late = 0;
      // Steps of 5 ms: an id is read when the GPU has it and the pacer's sleep is over.
      for (let i = 0; i < 60; i++) {
        const done = now + 5;
        const read = Math.max(done, now + sleep);
        if (i >= 12) late = Math.max(late, read - done);
        now = read;
        sleep = p.arrived(now);
      }
      expect(p.interval).toBeGreaterThan(5 * 0.999);
      expect(p.interval).toBeLessThan(5 * 1.001);
      expect(late).toBeLessThan(0.01);
      // It sleeps most of the step, so the binding polls only for the rest.
      expect(sleep).toBeCloseTo(PACE_FRACTION * 5, 2);
    }
  });

  test('sleeps under a millisecond are skipped', () => {
    const p = new ReadbackPacer();
    p.arrived(0);
    expect(p.arrived(1)).toBe(0);
  });

  test('ReadbackPacer.next() sleeps for the fraction of the learned interval', async () => {
    const p = new ReadbackPacer();
    p.arrived(performance.now() - 40);
    const t = performance.now();
    await p.next();
    const slept = performance.now() - t;
    expect(slept).toBeGreaterThanOrEqual(PACE_FRACTION * 40 - 2);
    expect(slept).toBeLessThan(40 + 15);
    const t2 = performance.now();
    await sleepMs(0);
    expect(performance.now() - t2).toBeLessThan(5);
  });
});

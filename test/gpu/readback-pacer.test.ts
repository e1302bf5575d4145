import { describe, expect, test } from 'vitest';
import { PACE_FRACTION, ReadbackPacer, settle, sleepMs, TIMER_SLACK_MS } from '../../src/gpu/readback-pacer';

describe('readback pacing', () => {
  test('settle: down at once, up gradually', () => {
    expect(settle(undefined, 7)).toBe(7);
    expect(settle(10, 4)).toBe(4);
    expect(settle(4, 8)).toBe(5);
  });

  test('a stream pacer does not wait until it has seen an interval', () => {
    const p = new ReadbackPacer();
    expect(p.arrived(100)).toBe(0);
    expect(p.arrived(104)).toBe(PACE_FRACTION * 4 - TIMER_SLACK_MS);
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
      expect(sleep).toBeCloseTo(PACE_FRACTION * 5 - TIMER_SLACK_MS, 2);
    }
  });

  /**
   * Steps of `step` ms read through timers that fire like Node's: the delay counted in whole
   * milliseconds from the event loop's last tick, so up to ~1 ms after the time asked for (here
   * the worst case, always). Returns the mean time a read was requested after its step ended.
   */
  function lateReads(step: number, pacer: ReadbackPacer): number {
    const timer = (ms: number) => (ms > 0 ? Math.floor(ms) + 1 : 0);
    pacer.arrived(0);
    let now = step;
    let sleep = pacer.arrived(now);
    let gpuDone = now;
    let late = 0;
    for (let i = 0; i < 64; i++) {
      // The next step is already queued, but the one after waits for this id (lookahead 1).
      gpuDone = Math.max(gpuDone, now - step) + step;
      const requested = now + timer(sleep);
      late += Math.max(0, requested - gpuDone);
      now = Math.max(gpuDone, requested);
      sleep = pacer.arrived(now);
    }
    return late / 64;
  }

  test('with the timer slack, late-firing timers never make a read late; without it they do', () => {
    // Short steps (Llama-3.2-1B: 0.9 ms) are not paced at all, the 7B's (2.8 ms) are, in time.
    for (const step of [0.9, 1.5, 2.8, 5]) expect(lateReads(step, new ReadbackPacer())).toBe(0);
    // Session 15's pacer: its 1.1 ms sleeps for a 1.5 ms step fire after the step is done.
    expect(lateReads(1.5, new ReadbackPacer(0))).toBeGreaterThan(0.2);
    // …and its 2.1 ms sleeps for the 7B's 2.8 ms step (paced in both) wake after it too.
    expect(lateReads(2.8, new ReadbackPacer(0))).toBeGreaterThan(0);
  });

  test('sleeps under a millisecond are skipped', () => {
    const p = new ReadbackPacer();
    p.arrived(0);
    // 0.75 · 2 − 1 = 0.5 ms: under the minimum, skipped.
    expect(p.arrived(2)).toBe(0);
    const q = new ReadbackPacer();
    q.arrived(0);
    expect(q.arrived(2.7)).toBeCloseTo(PACE_FRACTION * 2.7 - TIMER_SLACK_MS, 9);
  });

  test('ReadbackPacer.next() sleeps for the fraction of the learned interval', async () => {
    const p = new ReadbackPacer();
    p.arrived(performance.now() - 40);
    const t = performance.now();
    await p.next();
    const slept = performance.now() - t;
    expect(slept).toBeGreaterThanOrEqual(PACE_FRACTION * 40 - TIMER_SLACK_MS - 2);
    expect(slept).toBeLessThan(40 + 15);
    const t2 = performance.now();
    await sleepMs(0);
    expect(performance.now() - t2).toBeLessThan(5);
  });
});

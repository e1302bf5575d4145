import { describe, expect, test } from 'vitest';
import { type StepTimes, streamTimeline } from '../../bench/stream-timeline';

/**
 * A made-up stream: the GPU clock is the host clock minus `skew`; steps take `busy` ms back to
 * back after the first submit; each id reaches JS `poll` ms after its pass ends; readbacks are
 * requested `ask` ms relative to the pass's end.
 */
function stream(n: number, opts: { skew: number; busy: number; poll: number; ask: number; t0: number }) {
  const steps: StepTimes[] = [];
  const start = opts.t0 + 2; // first pass begins 2 ms after the call
  for (let k = 0; k < n; k++) {
    const beginHost = start + k * opts.busy;
    const endHost = beginHost + opts.busy;
    const submitting = k === 0 ? start - 0.01 : beginHost - 1.5;
    steps.push({
      encoded: submitting - 0.5,
      submitting,
      submitted: submitting + 0.05,
      mapRequested: endHost + opts.ask,
      read: endHost + opts.poll,
      begin: beginHost - opts.skew,
      end: endHost - opts.skew,
    });
  }
  return steps;
}

describe('streamTimeline', () => {
  test('recovers the clocks offset and splits the wall time into start + span + end', () => {
    const t0 = 5000;
    const steps = stream(32, { skew: 123_456.789, busy: 2.8, poll: 0.1, ask: -0.4, t0 });
    const t = streamTimeline(t0, steps);
    // Tight bounds: the first submit 0.01 ms before its pass, reads 0.1 ms after the ends.
    expect(t.alignMs).toBeCloseTo(0.11, 6);
    expect(Math.abs(t.offsetMs - 123_456.789)).toBeLessThanOrEqual(t.alignMs / 2 + 1e-9);
    expect(Math.abs(t.startMs - 2)).toBeLessThanOrEqual(t.alignMs / 2 + 1e-9);
    expect(Math.abs(t.lateMs - 0.1)).toBeLessThanOrEqual(t.alignMs / 2 + 1e-9);
    expect(t.requestedAfterEnd).toBe(0);
    // The GPU span on the host clock: 32 steps back to back.
    const last = t.steps[t.steps.length - 1];
    expect(last.end - t.steps[0].begin).toBeCloseTo(32 * 2.8, 9);
    expect(Math.abs(t.endMs - 0.1)).toBeLessThanOrEqual(t.alignMs / 2 + 1e-9);
  });

  test('counts readbacks requested after their pass ended (a late pacer), beyond the alignment', () => {
    const steps = stream(8, { skew: -40, busy: 1, poll: 0.1, ask: -0.4, t0: 0 });
    // Every other readback asked 0.9 ms after its pass ended (and read 0.1 ms after that).
    for (let k = 1; k < steps.length; k += 2) {
      steps[k].mapRequested += 1.3;
      steps[k].read += 0.9;
    }
    const t = streamTimeline(0, steps);
    expect(t.alignMs).toBeLessThan(0.2);
    expect(t.requestedAfterEnd).toBe(4);
    expect(t.requestLateMs).toBeGreaterThan((4 * 0.9 + 4 * -0.4) / 8 - t.alignMs / 2 - 1e-9);
  });

  test('a negative width when no offset fits both bounds', () => {
    const steps = stream(4, { skew: 0, busy: 1, poll: 0.1, ask: 0, t0: 0 });
    steps[2].read -= 0.5; // an id "read" before its pass ended on the host clock
    expect(streamTimeline(0, steps).alignMs).toBeLessThan(0);
  });

  test('rejects an empty stream', () => {
    expect(() => streamTimeline(0, [])).toThrow(/no steps/);
  });
});

/**
 * A traced decode stream on one clock. The host's times (performance.now()) and the GPU's pass
 * timestamps come from two clocks with an unknown offset; causality pins it: a step's pass cannot
 * begin before its submit call starts, and its id cannot reach JS before its pass ends. So
 *   max_k (submitting_k − begin_k) ≤ offset ≤ min_k (read_k − end_k)
 * and the width of that interval is how well the two are lined up. With the GPU's times moved
 * onto the host clock, the stream's wall time splits exactly into
 *   start (call → first pass begins) + GPU span (busy + idle) + end (last pass ends → last id),
 * and each read shows whether it was requested before its step finished or after (a late pacer).
 * A negative width means no single offset satisfies both (the clocks disagree: a finding, not a
 * rounding).
 */

/** One step's host times (ms, performance.now()) and GPU pass times (ms, GPU clock). */
export interface StepTimes {
  encoded: number;
  submitting: number;
  submitted: number;
  mapRequested: number;
  read: number;
  begin: number;
  end: number;
}

/** Per step, on the host clock, ms relative to the stream's call. */
export interface TimelineStep {
  encoded: number;
  submitted: number;
  begin: number;
  end: number;
  mapRequested: number;
  read: number;
}

export interface StreamTimeline {
  /** Added to a GPU time to get the host time (ms), the middle of the feasible interval. */
  offsetMs: number;
  /** Width of the feasible interval (ms): every host-vs-GPU figure below is ± half of it. */
  alignMs: number;
  /** From the stream's call to the first step's pass beginning. */
  startMs: number;
  /** From the last step's pass ending to its id in JS. */
  endMs: number;
  /** Mean and largest time from a step's pass ending to its id in JS. */
  lateMs: number;
  lateMaxMs: number;
  /** Mean time from a step's pass ending to its readback being requested (> 0: asked late). */
  requestLateMs: number;
  /** Steps whose readback was requested after their pass had ended (by more than alignMs / 2). */
  requestedAfterEnd: number;
  /** Mean time a submitted step waited before its pass began (GPU busy with the one before). */
  queuedMs: number;
  steps: TimelineStep[];
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

/** Lines up a stream's steps (in submit order) called at host time `t0`. */
export function streamTimeline(t0: number, steps: StepTimes[]): StreamTimeline {
  if (steps.length === 0) throw new Error('streamTimeline: no steps');
  const lo = Math.max(...steps.map((s) => s.submitting - s.begin));
  const hi = Math.min(...steps.map((s) => s.read - s.end));
  const offset = (lo + hi) / 2;
  const on = steps.map((s) => ({
    encoded: s.encoded - t0,
    submitted: s.submitted - t0,
    begin: s.begin + offset - t0,
    end: s.end + offset - t0,
    mapRequested: s.mapRequested - t0,
    read: s.read - t0,
  }));
  const late = on.map((s) => s.read - s.end);
  const requestLate = on.map((s) => s.mapRequested - s.end);
  const last = on[on.length - 1];
  return {
    offsetMs: offset,
    alignMs: hi - lo,
    startMs: on[0].begin,
    endMs: last.read - last.end,
    lateMs: mean(late),
    lateMaxMs: Math.max(...late),
    requestLateMs: mean(requestLate),
    requestedAfterEnd: requestLate.filter((x) => x > (hi - lo) / 2).length,
    queuedMs: mean(on.map((s) => s.begin - s.submitted)),
    steps: on,
  };
}

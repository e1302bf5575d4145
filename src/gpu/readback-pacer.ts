/**
 * When to ask for a step's id, in Node. Dawn's Node binding (npm `webgpu`) delivers a mapAsync
 * by polling: while any map is pending it re-arms setImmediate with a new finalizable function
 * every turn. A readback requested as soon as its step is submitted spins a core for the whole
 * GPU time and allocates ~50 KB per millisecond of waiting (tinystories on lavapipe: 438 KB of
 * garbage per decode step, 6 KB paced); the functions outlive the young generation, and the
 * collections and finalizers that follow stall the host for tens of milliseconds (on the H100
 * a stall's window held a GC pause of about half its length: docs/benchmarks.md, session 8).
 *
 * The pacer sleeps on a timer for PACE_FRACTION of a learned time, less a timer's lateness
 * (TIMER_SLACK_MS), before the readback is requested. Only a fraction: a read that waited on the timer shows a shorter time than the wait
 * was based on, and a shorter time is taken at once (settle), so the estimate settles on the
 * GPU's true time within a few steps and reads land when the GPU is done. Browsers deliver map
 * callbacks as events; their sessions do not pace. Prefill chunks are not paced either: pacing
 * them (learned per chunk size) measured slower prefill on the H100.
 */

/** Fraction of the learned time slept before a readback. */
export const PACE_FRACTION = 0.75;
/** Weight of a longer observation in the running estimate. */
const RISE_RATE = 0.25;
/** Sleeps shorter than this (ms) are skipped: Node's timers have millisecond resolution. */
const MIN_SLEEP_MS = 1;
/**
 * Taken off every sleep (ms): a Node timer fires up to about a millisecond after its time (the
 * event loop's clock ticks in whole milliseconds and the delay is measured from the loop's last
 * tick). Without it a 0.9 ms step got 1 ms sleeps that woke after the GPU was done, the late
 * reads lengthened the learned interval and kept the sleeps long: on the H100, Llama-3.2-1B's
 * readbacks at 2,048 keys were requested after the step ended in 30 of 32 steps, and its GPU
 * idled 0.2 ms per step (docs/benchmarks.md, session 16). Steps under (1 + 1) / 0.75 ≈ 2.7 ms
 * are therefore not paced at all.
 */
export const TIMER_SLACK_MS = 1;

/**
 * The running estimate after observing `ms`: down at once (a late read must not hold it up), up
 * gradually (one slow step — a collection, a slow callback — must not make the next reads late).
 */
export function settle(estimate: number | undefined, ms: number): number {
  return estimate === undefined || ms < estimate ? ms : estimate + RISE_RATE * (ms - estimate);
}

/** Milliseconds to sleep for a step expected to take `estimate` (0: none, or too short). */
function paceSleep(estimate: number | undefined, slackMs: number): number {
  const sleep = estimate === undefined ? 0 : PACE_FRACTION * estimate - slackMs;
  return sleep >= MIN_SLEEP_MS ? sleep : 0;
}

export function sleepMs(ms: number): Promise<void> {
  return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
}

/**
 * A decode stream's pacer: learns the interval between consecutive ids; when an id arrives,
 * the next readback waits for most of that interval. One per stream: prefill chunks and
 * isolated steps, whose timing says nothing about the stream's, never feed it.
 */
export class ReadbackPacer {
  private last: number | undefined;
  /** Running estimate of the milliseconds between consecutive ids. */
  interval: number | undefined;

  /** `timerSlackMs`: taken off each sleep (TIMER_SLACK_MS; 0 = session 15's pacer, for the benchmark). */
  constructor(private readonly timerSlackMs = TIMER_SLACK_MS) {}

  /**
   * An id arrived at `now`: learns the interval since the previous one and returns the
   * milliseconds to wait before requesting the next (0 until an interval is known).
   */
  arrived(now: number): number {
    if (this.last !== undefined) this.interval = settle(this.interval, now - this.last);
    this.last = now;
    return paceSleep(this.interval, this.timerSlackMs);
  }

  /** arrived(now), then the wait it asks for. */
  next(): Promise<void> {
    return sleepMs(this.arrived(performance.now()));
  }
}

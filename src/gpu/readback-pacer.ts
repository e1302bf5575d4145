/**
 * When to ask for the next id of a decode stream, in Node. Dawn's Node binding (npm `webgpu`)
 * delivers a mapAsync by polling: while any map is pending it re-arms setImmediate with a new
 * finalizable function every turn. A readback requested as soon as its step is submitted spins a
 * core for the whole GPU time and allocates ~50 KB per millisecond of waiting (tinystories on
 * lavapipe: 438 KB of garbage per decode step, 6 KB paced); the functions outlive the young
 * generation, and the major collections that follow stall the host for 10–30 ms mid-stream
 * (docs/benchmarks.md, session 8).
 *
 * The pacer learns the interval between consecutive ids of the stream and, when an id arrives,
 * has the next readback wait on a timer for FRACTION of that interval. Only a fraction: a read
 * that waited on the timer shows a shorter interval than the wait was based on, and a shorter
 * interval is taken at once, so the estimate settles on the GPU's true interval within a few
 * steps and reads land when the GPU is done. One pacer per stream:
 * prefill chunks and isolated steps, whose timing says nothing about the stream's, never feed
 * it. Browsers deliver map callbacks as events; their sessions do not pace.
 */
export class ReadbackPacer {
  /** Fraction of the learned interval slept before the next readback. */
  static readonly FRACTION = 0.75;
  /** Weight of the newest interval in the running estimate. */
  private static readonly RATE = 0.25;
  /** Sleeps shorter than this (ms) are skipped: Node's timers have millisecond resolution. */
  private static readonly MIN_SLEEP_MS = 1;

  private last: number | undefined;
  /** Running estimate of the milliseconds between consecutive ids. */
  interval: number | undefined;

  /**
   * An id arrived at `now`: learns the interval since the previous one and returns the
   * milliseconds to wait before requesting the next (0 until an interval is known).
   */
  arrived(now: number): number {
    if (this.last !== undefined) {
      const gap = now - this.last;
      // Down at once (a late read must not hold the estimate up), up gradually (one slow step,
      // a collection or a slow callback, must not make the next reads late).
      this.interval =
        this.interval === undefined || gap < this.interval
          ? gap
          : this.interval + ReadbackPacer.RATE * (gap - this.interval);
    }
    this.last = now;
    const sleep = this.interval === undefined ? 0 : ReadbackPacer.FRACTION * this.interval;
    return sleep >= ReadbackPacer.MIN_SLEEP_MS ? sleep : 0;
  }

  /** arrived(now), then the wait it asks for. */
  async next(): Promise<void> {
    const sleep = this.arrived(performance.now());
    if (sleep > 0) await new Promise((r) => setTimeout(r, sleep));
  }
}

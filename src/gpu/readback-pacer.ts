/**
 * When to ask for a step's result in Node. Dawn's Node binding (npm `webgpu`) delivers a
 * mapAsync by polling: while any map is pending it re-arms setImmediate with a new finalizable
 * function every turn. A readback requested as soon as its step is submitted therefore spins a
 * core for the whole GPU time and allocates ~50 KB per millisecond of waiting; the functions
 * outlive the young generation, and the major collections that follow stall the host for 10–30
 * ms, long enough to starve the GPU mid-stream (measured in session 8: docs/benchmarks.md).
 *
 * The pacer keeps a running estimate of a step's GPU time per token count and the host time at
 * which the GPU should be done with everything submitted so far; the caller sleeps on a timer
 * until a fraction of the way there, then maps. Only a fraction: an estimate that came out long
 * (a read that waited on the timer) is pulled back down by the next reads, so the estimate
 * settles between the true time and true / FRACTION, and reads land when the GPU is done.
 * Browsers deliver map callbacks as events; their sessions do not pace.
 */
export class ReadbackPacer {
  /** Fraction of the expected remaining GPU time slept before mapping. */
  static readonly FRACTION = 0.75;
  /** Weight of the newest observation in the running estimates. */
  private static readonly RATE = 0.25;
  /** Sleeps shorter than this (ms) are skipped: Node's timers have millisecond resolution. */
  private static readonly MIN_SLEEP_MS = 1;

  /** Milliseconds per step: decode steps (1 token) and prefill steps per token. */
  private decodeMs: number | undefined;
  private prefillMsPerToken: number | undefined;
  /** Host time (performance.now) at which the GPU should finish everything submitted. */
  private busyUntil = 0;
  /** Expected GPU milliseconds of each step submitted and not yet read, oldest first. */
  private readonly outstanding: number[] = [];
  /** Host time of the last read: a step submitted before it started no earlier. */
  private lastRead = 0;

  /**
   * A step of `tokens` was submitted at `at`: returns the host time at which it should be done,
   * or undefined while there is no estimate (the first step of its kind).
   */
  submitted(at: number, tokens: number): number | undefined {
    const expected = this.expectedMs(tokens);
    this.outstanding.push(expected ?? 0);
    if (expected === undefined) return undefined;
    this.busyUntil = Math.max(at, this.busyUntil) + expected;
    return this.busyUntil;
  }

  /** Sleeps until FRACTION of the way from now to `done` (nothing if that is under 1 ms). */
  async wait(done: number): Promise<void> {
    const sleep = ReadbackPacer.FRACTION * (done - performance.now());
    if (sleep >= ReadbackPacer.MIN_SLEEP_MS) await new Promise((r) => setTimeout(r, sleep));
  }

  /**
   * The id of the oldest outstanding step, submitted at `submittedAt`, was read at `readAt`:
   * updates the estimates. Reads come in submission order.
   */
  read(submittedAt: number, readAt: number, tokens: number): void {
    this.outstanding.shift();
    // The step ran after whatever was ahead of it, which was done by the previous read.
    const ms = readAt - Math.max(submittedAt, this.lastRead);
    this.lastRead = readAt;
    if (ms > 0) {
      const blend = (old: number | undefined, x: number) =>
        old === undefined ? x : old + ReadbackPacer.RATE * (x - old);
      if (tokens === 1) this.decodeMs = blend(this.decodeMs, ms);
      else this.prefillMsPerToken = blend(this.prefillMsPerToken, ms / tokens);
    }
    // Everything up to this step is done: the steps still outstanding end after the read.
    this.busyUntil = readAt + this.outstanding.reduce((a, b) => a + b, 0);
  }

  private expectedMs(tokens: number): number | undefined {
    if (tokens === 1) return this.decodeMs;
    return this.prefillMsPerToken === undefined ? undefined : this.prefillMsPerToken * tokens;
  }
}

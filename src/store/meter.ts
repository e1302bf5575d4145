/**
 * Transfer speed over a sliding window: the rate of the last few seconds, so a stall shows as a
 * falling speed instead of being averaged away by a fast start.
 */
export class TransferMeter {
  private readonly samples: { t: number; bytes: number }[] = [];
  private readonly started: number;

  constructor(
    private readonly windowMs = 3000,
    now = performance.now(),
  ) {
    this.started = now;
  }

  add(bytes: number, now = performance.now()): void {
    if (bytes > 0) this.samples.push({ t: now, bytes });
    this.trim(now);
  }

  /** Bytes per second over the window (0 before anything arrived). */
  rate(now = performance.now()): number {
    this.trim(now);
    const sum = this.samples.reduce((s, x) => s + x.bytes, 0);
    // Divide by the window, or by the time since the start while the window is not yet full;
    // at least 100 ms so the first chunk does not read as an absurd speed.
    const span = Math.max(100, Math.min(this.windowMs, now - this.started));
    return (sum * 1000) / span;
  }

  private trim(now: number): void {
    while (this.samples.length > 0 && this.samples[0].t < now - this.windowMs) this.samples.shift();
  }
}

/**
 * A single-consumer async queue: the producer (the generation loop, or the worker's messages)
 * pushes chunks as they come; the consumer's for-await pulls them. The producer never waits for
 * the consumer (chunks are small), and a consumer that stops early tells the producer through
 * onCancel, which aborts generation.
 */
export class Channel<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private waiter: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void } | null = null;
  private closed = false;
  private failure: { error: unknown } | null = null;
  private cancelled = false;

  constructor(private readonly onCancel: () => void = () => {}) {}

  push(item: T): void {
    if (this.closed || this.cancelled) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w.resolve({ value: item, done: false });
    } else this.items.push(item);
  }

  /** The end of the stream (after the queued items). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.settleWaiter();
  }

  /** Ends the stream with an error (after the queued items). */
  fail(error: unknown): void {
    if (this.closed) return;
    this.closed = true;
    this.failure = { error };
    this.settleWaiter();
  }

  private settleWaiter(): void {
    if (!this.waiter || this.items.length) return;
    const w = this.waiter;
    this.waiter = null;
    if (this.failure) w.reject(this.failure.error);
    else w.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        if (this.items.length) return Promise.resolve({ value: this.items.shift() as T, done: false });
        if (this.cancelled) return Promise.resolve({ value: undefined, done: true });
        if (this.closed) {
          if (this.failure) {
            const { error } = this.failure;
            this.failure = null; // reported once; afterwards the stream is simply done
            this.cancelled = true;
            return Promise.reject(error);
          }
          return Promise.resolve({ value: undefined, done: true });
        }
        if (this.waiter) return Promise.reject(new Error('Channel: one consumer at a time'));
        return new Promise((resolve, reject) => {
          this.waiter = { resolve, reject };
        });
      },
      // break / return / throw inside for-await: stop the producer.
      return: () => {
        this.cancel();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  /** The consumer is gone: drop queued items and tell the producer. */
  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.items.length = 0;
    if (!this.closed) this.onCancel();
  }
}

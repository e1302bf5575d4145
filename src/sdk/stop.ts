/**
 * Stop strings over streamed text. Text arrives in pieces (one token's worth at a time) and a stop
 * string may straddle pieces, so the matcher holds back the longest tail of what it has seen that
 * could still grow into a stop string, and releases it once it cannot. Nothing of a stop string,
 * nor anything after it, is ever released.
 */
export class StopMatcher {
  private readonly stops: string[];
  private held = '';
  private done = false;

  constructor(stops: readonly string[]) {
    // An empty stop string would match everywhere: OpenAI ignores it, so do we.
    this.stops = [...new Set(stops.filter((s) => s.length > 0))];
  }

  /** True once a stop string was seen; later pushes return nothing. */
  get stopped(): boolean {
    return this.done;
  }

  /** Feeds new text; returns what may be shown now and whether a stop string ended the text. */
  push(text: string): { text: string; stopped: boolean } {
    if (this.done) return { text: '', stopped: true };
    const buf = this.held + text;
    if (this.stops.length === 0) return { text: buf, stopped: false };
    // The earliest match wins: everything before it is output, the rest is dropped.
    let at = -1;
    for (const s of this.stops) {
      const i = buf.indexOf(s);
      if (i >= 0 && (at < 0 || i < at)) at = i;
    }
    if (at >= 0) {
      this.done = true;
      this.held = '';
      return { text: buf.slice(0, at), stopped: true };
    }
    const keep = this.partialTail(buf);
    this.held = buf.slice(buf.length - keep);
    return { text: buf.slice(0, buf.length - keep), stopped: false };
  }

  /** At the end of generation: the held-back tail (it never became a stop string). */
  flush(): string {
    const rest = this.done ? '' : this.held;
    this.held = '';
    return rest;
  }

  /** Length of the longest suffix of `buf` that is a proper prefix of some stop string. */
  private partialTail(buf: string): number {
    let longest = 0;
    for (const s of this.stops) {
      for (let k = Math.min(s.length - 1, buf.length); k > longest; k--) {
        if (buf.endsWith(s.slice(0, k))) {
          longest = k;
          break;
        }
      }
    }
    return longest;
  }
}

import { concatBytes } from '../format/byte-source';
/**
 * Downloads one file over http(s) for the store: streamed, with byte progress, bounded retries
 * for transient trouble (network errors, 5xx/429/408, a stalled body), and a lost connection
 * resumed with a Range request from the byte where it broke rather than from zero. Unlike
 * src/format/url-source.ts (random access for parsing a checkpoint in place) this reads each file
 * once, whole, in order.
 */
import { DownloadError } from './errors';

export interface HttpFetchOptions {
  /** fetch implementation (auth wrappers, tests); default globalThis.fetch. */
  fetch?: typeof fetch;
  /** Extra headers for every request (e.g. Authorization). */
  headers?: Record<string, string>;
  /** Consecutive failed attempts allowed after the first (an attempt that made progress resets it). Default 4. */
  retries?: number;
  /** Delay before the first retry, doubled for each further one. Default 500 ms. */
  backoffMs?: number;
  /** Give up on an attempt when no byte arrives for this long. Default 30 s. */
  idleTimeoutMs?: number;
}

const DEFAULTS = { retries: 4, backoffMs: 500, idleTimeoutMs: 30_000 };

const isTransient = (status: number) => status === 408 || status === 429 || status >= 500;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((ok, fail) => {
    if (signal.aborted) return fail(signal.reason);
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      ok();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      fail(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * The bytes at `url`. With `expected` (the manifest's size) the buffer is allocated once, a body
 * longer than that is refused, and a short one is resumed; without it (manifest.json) the body is
 * collected and a broken transfer starts over. `onBytes(delta)` reports progress; delta is
 * negative when a server ignores Range and the transfer restarts from zero.
 */
export async function fetchBytes(
  url: string,
  expected: number | null,
  onBytes: (delta: number) => void,
  signal: AbortSignal,
  options: HttpFetchOptions = {},
): Promise<Uint8Array> {
  const opts = { ...DEFAULTS, ...options };
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const buf = expected === null ? null : new Uint8Array(expected);
  let chunks: Uint8Array[] = [];
  let received = 0;
  let failures = 0;
  let lastStatus = 0;
  let lastReason = '';

  const restart = () => {
    onBytes(-received);
    received = 0;
    chunks = [];
  };

  for (;;) {
    if (failures > opts.retries) {
      throw new DownloadError(url, lastStatus, `${lastReason} (gave up after ${failures} failed attempts)`);
    }
    if (failures > 0) await sleep(opts.backoffMs * 2 ** (failures - 1), signal);
    if (signal.aborted) throw signal.reason;
    const attempt = new AbortController();
    const onAbort = () => attempt.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    let idle: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(
        () => attempt.abort(new DOMException(`no data for ${opts.idleTimeoutMs} ms`, 'TimeoutError')),
        opts.idleTimeoutMs,
      );
    };
    const before = received;
    try {
      arm();
      const ranged = buf !== null && received > 0;
      const res = await doFetch(url, {
        headers: { ...opts.headers, ...(ranged ? { Range: `bytes=${received}-` } : {}) },
        signal: attempt.signal,
        // The bytes go to IndexedDB; a second copy in the HTTP cache would only waste the disk.
        cache: 'no-store',
      });
      lastStatus = res.status;
      if (!res.ok) {
        await res.body?.cancel().catch(() => {});
        if (isTransient(res.status)) {
          lastReason = `HTTP ${res.status}`;
          failures++;
          continue;
        }
        if (res.status === 416 && ranged) {
          throw new DownloadError(
            url,
            416,
            `the file on the server is shorter than the ${expected} bytes listed`,
          );
        }
        throw new DownloadError(
          url,
          res.status,
          `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`,
        );
      }
      if (ranged && res.status === 206) {
        // Content-Range is only visible cross-origin when the server exposes it; check when we can.
        const cr = res.headers.get('content-range');
        if (cr !== null && !cr.startsWith(`bytes ${received}-`)) restart();
      } else if (received > 0) {
        restart(); // 200: the server ignored Range and sends the whole file again
      }
      if (!res.body) {
        const whole = new Uint8Array(await res.arrayBuffer());
        restart();
        if (buf && whole.length > buf.length) throw tooLong(url, res.status, expected!);
        if (buf) buf.set(whole);
        else chunks.push(whole);
        received = whole.length;
        onBytes(whole.length);
      } else {
        const reader = res.body.getReader();
        // fetch() aborts its body on the signal; cancelling here as well keeps the idle timeout
        // working with fetch wrappers that do not pass the signal on.
        const stop = () => reader.cancel(attempt.signal.reason).catch(() => {});
        attempt.signal.addEventListener('abort', stop, { once: true });
        try {
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            arm();
            if (buf) {
              if (received + value.length > buf.length) {
                await reader.cancel().catch(() => {});
                throw tooLong(url, res.status, expected!);
              }
              buf.set(value, received);
            } else {
              chunks.push(value);
            }
            received += value.length;
            onBytes(value.length);
          }
        } finally {
          attempt.signal.removeEventListener('abort', stop);
        }
        if (attempt.signal.aborted) throw attempt.signal.reason;
      }
      if (buf && received < buf.length) {
        lastReason = `connection closed after ${received} of ${buf.length} bytes`;
        failures = received > before ? 1 : failures + 1;
        continue;
      }
      return buf ?? concatBytes(chunks, received);
    } catch (e) {
      if (e instanceof DownloadError) throw e;
      if (signal.aborted) throw signal.reason;
      const err = e as Error;
      lastReason =
        attempt.signal.aborted && attempt.signal.reason instanceof DOMException
          ? attempt.signal.reason.message
          : `network error: ${err?.message ?? String(e)}`;
      if (lastStatus >= 200 && lastStatus < 300) lastStatus = 0;
      // A transfer that broke after making progress resumes without using up the retries.
      failures = received > before ? 1 : failures + 1;
      if (!buf) restart();
    } finally {
      clearTimeout(idle);
      signal.removeEventListener('abort', onAbort);
    }
  }
}

function tooLong(url: string, status: number, expected: number): DownloadError {
  return new DownloadError(url, status, `the server sent more than the ${expected} bytes the manifest lists`);
}

/**
 * ByteSource over http(s) with Range requests, so a checkpoint on a web server (or the Hugging
 * Face hub) is parsed in place: the header is fetched in pieces and each tensor reads only its
 * own bytes. Works in the page and in Node (global fetch).
 *
 * Failures are FormatErrors naming the URL ("cannot fetch URL: ..."). Transient trouble (network
 * errors, 5xx, 429, timeouts) is retried a bounded number of times with exponential backoff;
 * answers that cannot improve (404, 403, a host name that does not resolve) fail at once.
 */
import { checkRange, concatBytes } from './byte-source';
import type { ByteSource, SourceDirectory } from './checkpoint';
import { FormatError } from './errors';

export interface UrlSourceOptions {
  /** fetch implementation (tests, auth wrappers); default globalThis.fetch. */
  fetch?: typeof fetch;
  /** Extra headers sent with every request (e.g. Authorization). */
  headers?: Record<string, string>;
  /** Retries after the first attempt for transient failures. Default 3. */
  retries?: number;
  /** Delay before the first retry, doubled for each further one. Default 250 ms. */
  backoffMs?: number;
  /** Per-request time limit (until the body is complete). Default 60 s. */
  timeoutMs?: number;
  /**
   * A server that ignores Range answers 200 with the whole file; we accept that (and keep the
   * file in memory) only up to this size. Default 32 MiB.
   */
  maxFullDownload?: number;
  /** Size if already known (skips the HEAD request). */
  size?: number;
}

/** A FormatError that remembers the HTTP status, so urlDirectory can map 404 to "absent". */
class HttpStatusError extends FormatError {
  constructor(
    file: string,
    reason: string,
    readonly status: number,
  ) {
    super(file, reason);
  }
}

/** Marks a failure worth retrying; converted to a FormatError when retries run out. */
class Transient extends Error {}

const DEFAULTS = { retries: 3, backoffMs: 250, timeoutMs: 60_000, maxFullDownload: 32 << 20 };

/** Error codes (Node/undici) that say the host will not answer any better on retry. */
const PERMANENT_CODES = new Set([
  'ENOTFOUND',
  'EAI_NONAME',
  'EAI_FAIL',
  'ERR_INVALID_URL',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** The message and code of an error and its causes: "fetch failed (ECONNREFUSED: connect ECONNREFUSED ...)". */
function describe(e: unknown): { text: string; codes: string[] } {
  const parts: string[] = [];
  const codes: string[] = [];
  let cur: unknown = e;
  for (let depth = 0; cur && depth < 5; depth++) {
    const err = cur as { message?: string; code?: string; name?: string; cause?: unknown };
    if (err.code) codes.push(err.code);
    const msg = err.message ?? String(cur);
    parts.push(err.code && !msg.includes(err.code) ? `${err.code}: ${msg}` : msg);
    cur = err.cause;
  }
  const [first, ...rest] = parts;
  return { text: rest.length ? `${first} (${rest.join('; ')})` : first, codes };
}

function statusText(res: Response): string {
  return `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
}

function isTransientStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

/** Reads at most `limit` bytes of a body; null (and the body cancelled) if it is longer. */
async function readBodyLimited(res: Response, limit: number): Promise<Uint8Array | null> {
  if (!res.body) return new Uint8Array(await res.arrayBuffer());
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > limit) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  return concatBytes(chunks, total);
}

/** Random access to one URL. Nothing is fetched until size() or read() is called. */
export function urlSource(url: string, options: UrlSourceOptions = {}): ByteSource {
  const opts = { ...DEFAULTS, ...options };
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const name = url;
  let sizePromise: Promise<number> | null = options.size !== undefined ? Promise.resolve(options.size) : null;
  /** The whole file, when the server ignores Range and the file is small enough. */
  let whole: Uint8Array | null = null;
  /** First strong ETag seen: every later range must come from the same version of the file. */
  let etag: string | null = null;

  const fail = (reason: string, status?: number): never => {
    throw status === undefined ? new FormatError(name, reason) : new HttpStatusError(name, reason, status);
  };

  /**
   * One logical request with bounded retries. `handle` turns a response into a result, or throws
   * Transient to retry, or a FormatError to give up.
   */
  async function request<T>(init: RequestInit, handle: (res: Response) => Promise<T>): Promise<T> {
    let lastError = '';
    for (let attempt = 0; attempt <= opts.retries; attempt++) {
      if (attempt > 0) await sleep(opts.backoffMs * 2 ** (attempt - 1));
      let res: Response;
      try {
        res = await doFetch(url, {
          ...init,
          headers: { ...options.headers, ...(init.headers as Record<string, string>) },
          signal: AbortSignal.timeout(opts.timeoutMs),
        });
      } catch (e) {
        const { text, codes } = describe(e);
        const timedOut = (e as Error)?.name === 'TimeoutError';
        lastError = timedOut ? `no answer within ${opts.timeoutMs} ms` : text;
        if (codes.some((c) => PERMANENT_CODES.has(c))) break;
        continue;
      }
      try {
        if (isTransientStatus(res.status)) {
          await res.body?.cancel();
          throw new Transient(statusText(res));
        }
        return await handle(res);
      } catch (e) {
        if (e instanceof FormatError) throw e;
        // A body cut off mid-way or a timeout while reading it is as transient as a failed connect.
        const timedOut = (e as Error)?.name === 'TimeoutError';
        lastError =
          e instanceof Transient
            ? e.message
            : timedOut
              ? `no answer within ${opts.timeoutMs} ms`
              : describe(e).text;
      }
    }
    return fail(`cannot fetch URL: ${lastError}`);
  }

  const notOk = async (res: Response): Promise<never> => {
    await res.body?.cancel();
    return fail(`cannot fetch URL: ${statusText(res)}`, res.status);
  };

  function checkEtag(res: Response): void {
    const tag = res.headers.get('etag');
    if (!tag || tag.startsWith('W/')) return;
    if (etag === null) etag = tag;
    else if (tag !== etag) fail('the file changed on the server while it was being read');
  }

  /** Size from Content-Range "bytes a-b/N". */
  const totalFromContentRange = (res: Response): number | null => {
    const m = /\/(\d+)\s*$/.exec(res.headers.get('content-range') ?? '');
    return m ? Number(m[1]) : null;
  };

  async function fetchSize(): Promise<number> {
    // HEAD first: cheap, and tells absent files (404) apart without downloading anything.
    const head = await request({ method: 'HEAD' }, async (res) => {
      if (res.status === 405 || res.status === 501) return null; // HEAD not allowed: try a range GET
      if (!res.ok) return notOk(res);
      checkEtag(res);
      const len = res.headers.get('content-length');
      // A compressed representation's length is not the file's.
      if (len === null || res.headers.get('content-encoding')) return null;
      return Number(len);
    });
    if (head !== null) return head;
    return request({ method: 'GET', headers: { Range: 'bytes=0-0' } }, async (res) => {
      if (res.status === 206) {
        await res.body?.cancel();
        checkEtag(res);
        const total = totalFromContentRange(res);
        if (total === null) return fail('cannot determine the file size (no Content-Range total)');
        return total;
      }
      if (res.status === 416) {
        await res.body?.cancel();
        return totalFromContentRange(res) ?? 0;
      }
      if (!res.ok) return notOk(res);
      // Ranges ignored: the body is the whole file; keep it if small, it is all we will get.
      const body = await readBodyLimited(res, opts.maxFullDownload);
      if (body === null) {
        return fail(
          `the server ignores HTTP range requests and the file is larger than ${opts.maxFullDownload} bytes`,
        );
      }
      whole = body;
      return body.length;
    });
  }

  const size = (): Promise<number> => {
    if (!sizePromise) {
      sizePromise = fetchSize();
      // Do not cache failures: a later call may succeed once the network is back.
      sizePromise.catch(() => {
        sizePromise = null;
      });
    }
    return sizePromise;
  };

  async function read(offset: number, length: number): Promise<Uint8Array> {
    const total = await size();
    checkRange(name, offset, length, total);
    if (length === 0) return new Uint8Array(0);
    if (whole) return whole.subarray(offset, offset + length);
    const last = offset + length - 1;
    return request({ method: 'GET', headers: { Range: `bytes=${offset}-${last}` } }, async (res) => {
      if (res.status === 206) {
        checkEtag(res);
        const cr = res.headers.get('content-range');
        // Content-Range is invisible to pages unless the server exposes it over CORS; check when we can.
        if (cr !== null && !cr.startsWith(`bytes ${offset}-`)) {
          await res.body?.cancel();
          return fail(`the server answered range ${cr} to a request for bytes ${offset}-${last}`);
        }
        const body = new Uint8Array(await res.arrayBuffer());
        if (body.length < length) {
          return fail(
            `truncated: wanted ${length} bytes at offset ${offset}, the server sent ${body.length}`,
          );
        }
        return body.length === length ? body : body.subarray(0, length);
      }
      if (res.status === 416) {
        await res.body?.cancel();
        return fail(`truncated: bytes ${offset}-${last} are past the end of the file on the server`);
      }
      if (!res.ok) return notOk(res);
      // 200: the server ignored Range and is sending the whole file.
      const announced = Number(res.headers.get('content-length') ?? Number.NaN);
      if (announced > opts.maxFullDownload) {
        await res.body?.cancel();
        return fail(
          `the server ignores HTTP range requests; refusing to download the whole ${announced}-byte file to read ${length} bytes`,
        );
      }
      const body = await readBodyLimited(res, opts.maxFullDownload);
      if (body === null) {
        return fail(
          `the server ignores HTTP range requests; refusing to download more than ${opts.maxFullDownload} bytes to read ${length}`,
        );
      }
      if (body.length !== total) fail(`the server sent ${body.length} bytes, but the file has ${total}`);
      whole = body;
      return body.subarray(offset, offset + length);
    });
  }

  return { name, size, read };
}

/**
 * Files under a URL prefix (a model folder on a web server, or `https://huggingface.co/<repo>/resolve/<rev>/`).
 * `open` checks existence with a HEAD request: null on 404/410, FormatError for other failures.
 */
export function urlDirectory(baseUrl: string, options: UrlSourceOptions = {}): SourceDirectory {
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  return {
    name: baseUrl,
    async open(relativePath: string): Promise<ByteSource | null> {
      const segments = relativePath.split('/');
      // Stay under the prefix: no "..", no absolute paths or other origins.
      if (segments.some((s) => s === '' || s === '.' || s === '..')) return null;
      const url = new URL(segments.map(encodeURIComponent).join('/'), base).href;
      const src = urlSource(url, options);
      try {
        await src.size(); // cached by the source: no second HEAD
      } catch (e) {
        if (e instanceof HttpStatusError && (e.status === 404 || e.status === 410)) return null;
        throw e;
      }
      return src;
    },
  };
}

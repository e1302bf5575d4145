/**
 * A tiny static file server for tests (node:http on 127.0.0.1, random port) with HTTP Range
 * support, so URL sources can be tested against real HTTP without leaving the machine.
 *
 *   const server = await startStaticServer(SHARED_MODELS);
 *   fetch(`${server.url}stories260k-gguf/stories260K.gguf`, { headers: { Range: 'bytes=0-3' } });
 *   server.requests; // [{ method: 'GET', path: '/stories260k-gguf/stories260K.gguf', range: 'bytes=0-3', status: 206 }]
 *   await server.close();
 *
 * Options simulate awkward servers: `noRanges` ignores Range headers (always 200 with the whole
 * file, no Accept-Ranges), `failFirstN` drops the connection of the first N requests without a
 * response (a network error for the client), `hang` accepts requests and never answers, `hold`
 * never answers the paths it matches, `cutBodies` drops the connection part way through the
 * next bodies. `cors` adds the headers a page on another origin (the Vite server) needs.
 * `setOptions` changes them while the server runs (e.g. release a held file after a reload).
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isAbsolute, relative, resolve } from 'node:path';

export interface StaticServerOptions {
  /** Ignore Range headers: answer 200 with the full body. */
  noRanges?: boolean;
  /** Destroy the socket of the first N requests before answering. */
  failFirstN?: number;
  /** Never answer (to test client timeouts). */
  hang?: boolean;
  /** Never answer requests whose path (as logged) this returns true for: a stalled download. */
  hold?: (path: string) => boolean;
  /**
   * The next `count` GET bodies longer than `afterBytes` are cut after that many bytes (headers
   * announce the full length, then the connection drops): a connection lost mid-download.
   */
  cutBodies?: { count: number; afterBytes: number };
  /** Cross-origin access: Access-Control-Allow-Origin: *, exposed Content-Range/Length/ETag, preflights answered. */
  cors?: boolean;
}

export interface RequestLogEntry {
  method: string;
  /** URL path as requested (still percent-encoded), without the query. */
  path: string;
  /** The Range header, or null. */
  range: string | null;
  /** Status sent, or 0 when the connection was dropped / never answered. */
  status: number;
}

export interface StaticServer {
  /** Base URL with a trailing slash, e.g. http://127.0.0.1:40123/ */
  url: string;
  /** Every request in arrival order. */
  requests: RequestLogEntry[];
  /** Changes options for the requests that follow (failFirstN restarts its count). */
  setOptions(changes: Partial<StaticServerOptions>): void;
  close(): Promise<void>;
}

/** Parses a single `bytes=` range against `size`; null = unsatisfiable, 'ignore' = not one simple range. */
function parseRange(header: string, size: number): { start: number; end: number } | null | 'ignore' {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return 'ignore'; // multi-range or malformed: serve it all
  if (m[1] === '') {
    const n = Number(m[2]); // suffix: the last n bytes
    if (n === 0) return null;
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return null;
  return { start, end };
}

export async function startStaticServer(
  rootDir: string,
  options: StaticServerOptions = {},
): Promise<StaticServer> {
  const root = resolve(rootDir);
  const requests: RequestLogEntry[] = [];
  options = { ...options };
  let toFail = options.failFirstN ?? 0;
  let toCut = options.cutBodies?.count ?? 0;
  const corsHeaders = (): Record<string, string> =>
    options.cors
      ? {
          'Access-Control-Allow-Origin': '*',
          'Access-Control-Expose-Headers': 'Content-Range, Content-Length, ETag, Accept-Ranges',
        }
      : {};

  const handle = async (req: IncomingMessage, res: ServerResponse, entry: RequestLogEntry) => {
    const send = (status: number, headers: Record<string, string | number> = {}, body?: string) => {
      entry.status = status;
      res.writeHead(status, { ...corsHeaders(), ...headers });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method === 'OPTIONS' && options.cors) {
      return send(204, {
        'Access-Control-Allow-Methods': 'GET, HEAD',
        'Access-Control-Allow-Headers': req.headers['access-control-request-headers'] ?? 'Range',
        'Access-Control-Max-Age': 600,
      });
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, { Allow: 'GET, HEAD' });

    let rel: string;
    try {
      rel = decodeURIComponent(entry.path);
    } catch {
      return send(400);
    }
    const full = resolve(root, `.${rel}`);
    const inside = relative(root, full);
    if (inside.startsWith('..') || isAbsolute(inside)) return send(404, {}, 'not found');
    let size: number;
    try {
      const st = await stat(full);
      if (!st.isFile()) return send(404, {}, 'not found');
      size = st.size;
    } catch {
      return send(404, {}, 'not found');
    }

    const base: Record<string, string | number> = {
      ...corsHeaders(),
      'Content-Type': 'application/octet-stream',
    };
    if (!options.noRanges) base['Accept-Ranges'] = 'bytes';
    const rangeHeader = options.noRanges ? null : entry.range;
    const range = rangeHeader === null ? 'ignore' : parseRange(rangeHeader, size);
    if (range === null) return send(416, { 'Content-Range': `bytes */${size}` });

    const { start, end } = range === 'ignore' ? { start: 0, end: size - 1 } : range;
    const status = range === 'ignore' ? 200 : 206;
    const headers: Record<string, string | number> = { ...base, 'Content-Length': end - start + 1 };
    if (status === 206) headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
    entry.status = status;
    res.writeHead(status, headers);
    if (req.method === 'HEAD' || size === 0) {
      res.end();
      return;
    }
    const cut = options.cutBodies;
    if (req.method === 'GET' && cut && toCut > 0 && end - start + 1 > cut.afterBytes) {
      toCut--;
      const part = createReadStream(full, { start, end: start + cut.afterBytes - 1 });
      part.on('error', () => res.destroy());
      part.on('data', (chunk) => res.write(chunk));
      // Flush what was sent and give the client a moment to take it in (so the cut comes after
      // the bytes, as on a real dropped connection), then drop the connection mid-body.
      part.on('end', () => res.write('', () => setTimeout(() => req.socket.destroy(), 200)));
      return;
    }
    const stream = createReadStream(full, { start, end });
    stream.on('error', () => res.destroy());
    // A client that stops reading (aborted download) must not leave the file open.
    res.on('close', () => stream.destroy());
    stream.pipe(res);
  };

  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const entry: RequestLogEntry = {
      method: req.method ?? 'GET',
      path: q < 0 ? url : url.slice(0, q),
      range: req.headers.range ?? null,
      status: 0,
    };
    requests.push(entry);
    if (toFail > 0) {
      toFail--;
      req.socket.destroy();
      return;
    }
    if (options.hang || options.hold?.(entry.path)) return;
    handle(req, res, entry).catch(() => res.destroy());
  });

  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ok());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    requests,
    setOptions(changes) {
      options = { ...options, ...changes };
      if ('failFirstN' in changes) toFail = changes.failFirstN ?? 0;
      if ('cutBodies' in changes) toCut = changes.cutBodies?.count ?? 0;
    },
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        // Keep-alive and hanging connections would otherwise hold close() open.
        server.closeAllConnections();
      }),
  };
}

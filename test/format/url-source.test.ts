import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FormatError } from '../../src/format/errors';
import { readGguf, readGgufTensor } from '../../src/format/gguf';
import { openGgufCheckpoint } from '../../src/format/gguf-checkpoint';
import { openHfCheckpoint } from '../../src/format/hf-checkpoint';
import { urlDirectory, urlSource } from '../../src/format/url-source';
import { directorySource, fileSource } from '../../src/node/file-source';
import { SHARED_MODELS } from '../helpers/models';
import { type StaticServer, startStaticServer } from '../helpers/static-server';

const MODELS = SHARED_MODELS;
const GGUF_PATH = 'stories260k-gguf/stories260K.gguf';
const GGUF_SIZE = 1185376;
/** Quick retries so failure tests stay fast. */
const FAST = { backoffMs: 5, retries: 2 };

let server: StaticServer;

beforeAll(async () => {
  server = await startStaticServer(MODELS);
});
afterAll(async () => {
  await server.close();
});

async function formatError(p: Promise<unknown>): Promise<FormatError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(FormatError);
  return e as FormatError;
}

/** Bytes asked for by the Range requests in a request log. */
function rangedBytes(log: StaticServer['requests']): number {
  let total = 0;
  for (const r of log) {
    const m = /^bytes=(\d+)-(\d+)$/.exec(r.range ?? '');
    if (m) total += Number(m[2]) - Number(m[1]) + 1;
  }
  return total;
}

describe('urlSource against a local HTTP server with Range support', () => {
  it('a GGUF read over HTTP equals the local read', async () => {
    const url = urlSource(`${server.url}${GGUF_PATH}`);
    expect(await url.size()).toBe(GGUF_SIZE);
    const remote = await readGguf(url);
    const local = await readGguf(fileSource(`${MODELS}/${GGUF_PATH}`));
    expect(remote.metadata).toEqual(local.metadata);
    expect(remote.tensors).toEqual(local.tensors);
    for (const name of ['token_embd.weight', 'blk.3.attn_k.weight', 'output_norm.weight']) {
      expect(await readGgufTensor(remote, name)).toEqual(await readGgufTensor(local, name));
    }
    const ck = await openGgufCheckpoint(url);
    expect(ck.config.numLayers).toBe(5);
    expect(ck.source).toBe(`${server.url}${GGUF_PATH}`);
  });

  it('reading one tensor fetches only its byte range, never the whole file', async () => {
    const before = server.requests.length;
    const remote = await readGguf(urlSource(`${server.url}${GGUF_PATH}`));
    const headerLog = server.requests.slice(before);
    expect(headerLog[0]).toMatchObject({ method: 'HEAD', status: 200 });
    expect(headerLog.slice(1).every((r) => r.method === 'GET' && r.status === 206)).toBe(true);
    expect(rangedBytes(headerLog)).toBeLessThan(GGUF_SIZE / 3);

    const t = remote.tensorByName.get('blk.2.ffn_down.weight')!;
    const mark = server.requests.length;
    await readGgufTensor(remote, t.name);
    expect(server.requests.slice(mark)).toEqual([
      {
        method: 'GET',
        path: `/${GGUF_PATH}`,
        range: `bytes=${t.offset}-${t.offset + t.byteLength - 1}`,
        status: 206,
      },
    ]);
  });

  it('urlDirectory: HF checkpoint over HTTP; absent files are null; no escaping the prefix', async () => {
    const dir = urlDirectory(`${server.url}tinystories-656k`);
    const remote = await openHfCheckpoint(dir);
    const local = await openHfCheckpoint(directorySource(`${MODELS}/tinystories-656k`));
    expect(remote.config).toEqual(local.config);
    expect(remote.tokenizer).toEqual(local.tokenizer);
    expect(await remote.readTensor('lm_head.weight')).toEqual(await local.readTensor('lm_head.weight'));
    expect(await dir.open('no-such-file.json')).toBeNull();
    expect(await dir.open('../stories260k-gguf/stories260K.gguf')).toBeNull();
    const cfg = await dir.open('config.json');
    expect(await cfg!.size()).toBe(649);
  });

  it('404 is a clear FormatError naming the URL', async () => {
    const url = `${server.url}nope/missing.gguf`;
    const e = await formatError(readGguf(urlSource(url, FAST)));
    expect(e.message).toBe(`${url}: cannot fetch URL: HTTP 404 Not Found`);
  });

  it('reads past the end fail before any request', async () => {
    const src = urlSource(`${server.url}${GGUF_PATH}`);
    await src.size();
    const mark = server.requests.length;
    expect((await formatError(src.read(GGUF_SIZE - 2, 4))).message).toMatch(/truncated/);
    expect(server.requests.length).toBe(mark);
  });
});

describe('urlSource: unreliable servers and networks', () => {
  it('retries dropped connections with backoff, then succeeds', async () => {
    const flaky = await startStaticServer(MODELS, { failFirstN: 2 });
    try {
      const src = urlSource(`${flaky.url}${GGUF_PATH}`, FAST);
      const bytes = await src.read(0, 4);
      expect(new TextDecoder().decode(bytes)).toBe('GGUF');
      expect(flaky.requests.map((r) => [r.method, r.status])).toEqual([
        ['HEAD', 0],
        ['HEAD', 0],
        ['HEAD', 200],
        ['GET', 206],
      ]);
    } finally {
      await flaky.close();
    }
  });

  it('gives up after the bounded number of retries', async () => {
    const down = await startStaticServer(MODELS, { failFirstN: 100 });
    try {
      const e = await formatError(urlSource(`${down.url}${GGUF_PATH}`, FAST).size());
      expect(e.message).toMatch(/: cannot fetch URL: fetch failed/);
      expect(down.requests).toHaveLength(3); // 1 + 2 retries
    } finally {
      await down.close();
    }
  });

  it('connection refused', async () => {
    const gone = await startStaticServer(MODELS);
    const url = `${gone.url}${GGUF_PATH}`;
    await gone.close(); // nothing listens on that port any more
    const t0 = Date.now();
    const e = await formatError(urlSource(url, FAST).size());
    expect(e.message).toMatch(/cannot fetch URL: fetch failed \(.*ECONNREFUSED/);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('a host name that does not resolve fails at once, without retries', async () => {
    // The exact error shape Node's fetch (undici) throws for a DNS failure; simulated so that the
    // test sends nothing to a DNS server.
    let calls = 0;
    const fakeFetch = (async () => {
      calls++;
      const cause = Object.assign(new Error('getaddrinfo ENOTFOUND models.invalid'), { code: 'ENOTFOUND' });
      throw new TypeError('fetch failed', { cause });
    }) as typeof fetch;
    const t0 = Date.now();
    const e = await formatError(
      urlSource('https://models.invalid/m.gguf', { fetch: fakeFetch, backoffMs: 1000 }).size(),
    );
    expect(e.message).toBe(
      'https://models.invalid/m.gguf: cannot fetch URL: fetch failed (getaddrinfo ENOTFOUND models.invalid)',
    );
    expect(calls).toBe(1);
    expect(Date.now() - t0).toBeLessThan(500);
  });

  it('a server that never answers times out', async () => {
    const stuck = await startStaticServer(MODELS, { hang: true });
    try {
      const e = await formatError(
        urlSource(`${stuck.url}x`, { timeoutMs: 150, retries: 1, backoffMs: 5 }).size(),
      );
      expect(e.message).toMatch(/cannot fetch URL: no answer within 150 ms/);
      expect(stuck.requests).toHaveLength(2);
    } finally {
      await stuck.close();
    }
  });

  it('5xx answers are retried; 4xx are not', async () => {
    let calls = 0;
    const sometimes503 = (async (input: RequestInfo | URL, init?: RequestInit) => {
      calls++;
      if (calls <= 2) return new Response('busy', { status: 503, statusText: 'Service Unavailable' });
      return fetch(input, init);
    }) as typeof fetch;
    const src = urlSource(`${server.url}${GGUF_PATH}`, { ...FAST, fetch: sometimes503 });
    expect(await src.size()).toBe(GGUF_SIZE);
    expect(calls).toBe(3);

    let forbiddenCalls = 0;
    const forbidden = (async () => {
      forbiddenCalls++;
      return new Response('no', { status: 403, statusText: 'Forbidden' });
    }) as typeof fetch;
    const e = await formatError(urlSource('http://127.0.0.1:9/x', { ...FAST, fetch: forbidden }).size());
    expect(e.message).toMatch(/cannot fetch URL: HTTP 403 Forbidden/);
    expect(forbiddenCalls).toBe(1);
  });

  it('a server that ignores Range: small files are read whole once, large ones refused', async () => {
    const plain = await startStaticServer(MODELS, { noRanges: true });
    try {
      const src = urlSource(`${plain.url}${GGUF_PATH}`);
      const f = await readGguf(src);
      const local = await readGguf(fileSource(`${MODELS}/${GGUF_PATH}`));
      expect(await readGgufTensor(f, 'blk.1.attn_q.weight')).toEqual(
        await readGgufTensor(local, 'blk.1.attn_q.weight'),
      );
      expect(plain.requests.filter((r) => r.method === 'GET')).toHaveLength(1); // whole file once, then memory

      const limited = urlSource(`${plain.url}${GGUF_PATH}`, { maxFullDownload: 100_000 });
      const e = await formatError(limited.read(0, 4));
      expect(e.message).toMatch(
        /the server ignores HTTP range requests; refusing to download the whole 1185376-byte file/,
      );
    } finally {
      await plain.close();
    }
  });

  it('a file that changes on the server mid-read (ETag) is an error', async () => {
    let n = 0;
    const changing = (async (input: RequestInfo | URL, init?: RequestInit) => {
      const res = await fetch(input, init);
      const headers = new Headers(res.headers);
      headers.set('ETag', n++ < 2 ? '"v1"' : '"v2"');
      return new Response(res.body, { status: res.status, headers });
    }) as typeof fetch;
    const src = urlSource(`${server.url}${GGUF_PATH}`, { fetch: changing });
    await src.read(0, 4); // HEAD (v1) + GET (v1)
    expect((await formatError(src.read(4, 4))).message).toMatch(/the file changed on the server/);
  });
});

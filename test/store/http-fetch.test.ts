// fetchBytes against a scripted fetch: resume with Range after a broken body, restart when a
// server ignores Range, retries for transient statuses, typed failures for permanent ones.
import { describe, expect, test } from 'vitest';
import { DownloadError } from '../../src/store/errors';
import { fetchBytes } from '../../src/store/http-fetch';

const FILE = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) & 255);

/** A body that sends `bytes` and then fails like a dropped connection when `breakAfter` is set. */
function body(bytes: Uint8Array, breakAfter?: number): ReadableStream<Uint8Array> {
  const n = breakAfter ?? bytes.length;
  let sent = false;
  return new ReadableStream({
    pull(c) {
      if (!sent) {
        sent = true;
        c.enqueue(bytes.slice(0, n));
        return;
      }
      if (breakAfter !== undefined) c.error(new TypeError('network error'));
      else c.close();
    },
  });
}

type Step = (init: RequestInit) => Response | Promise<Response>;

/** A fetch that answers request i with steps[i] and records the Range headers. */
function scripted(steps: Step[]) {
  const ranges: (string | null)[] = [];
  const fetch = (async (_url: string, init: RequestInit = {}) => {
    const range = (init.headers as Record<string, string> | undefined)?.Range ?? null;
    ranges.push(range);
    const step = steps[ranges.length - 1];
    if (!step) throw new Error('unexpected request');
    return step(init);
  }) as unknown as typeof globalThis.fetch;
  return { fetch, ranges };
}

const quick = { backoffMs: 1, idleTimeoutMs: 2000 };
const run = (fetch: typeof globalThis.fetch, expected: number | null = FILE.length) => {
  const deltas: number[] = [];
  const p = fetchBytes('http://x/f.bin', expected, (d) => deltas.push(d), new AbortController().signal, {
    ...quick,
    fetch,
  });
  return { p, deltas };
};

describe('fetchBytes', () => {
  test('a body cut off mid-way resumes with Range from the byte where it broke', async () => {
    const { fetch, ranges } = scripted([
      () => new Response(body(FILE, 300), { status: 200 }),
      () =>
        new Response(body(FILE.slice(300)), {
          status: 206,
          headers: { 'Content-Range': `bytes 300-999/${FILE.length}` },
        }),
    ]);
    const { p, deltas } = run(fetch);
    expect(await p).toEqual(FILE);
    expect(ranges).toEqual([null, 'bytes=300-']);
    expect(deltas.reduce((a, b) => a + b, 0)).toBe(FILE.length);
  });

  test('a server that ignores Range (200) restarts the file, and progress goes back', async () => {
    const { fetch, ranges } = scripted([
      () => new Response(body(FILE, 300), { status: 200 }),
      () => new Response(body(FILE), { status: 200 }),
    ]);
    const { p, deltas } = run(fetch);
    expect(await p).toEqual(FILE);
    expect(ranges).toEqual([null, 'bytes=300-']);
    expect(deltas).toContain(-300);
    expect(deltas.reduce((a, b) => a + b, 0)).toBe(FILE.length);
  });

  test('transient statuses are retried; a short 200 body is resumed', async () => {
    const { fetch, ranges } = scripted([
      () => new Response('busy', { status: 503 }),
      () => new Response(body(FILE.slice(0, 500)), { status: 200 }),
      () => new Response(body(FILE.slice(500)), { status: 206 }),
    ]);
    expect(await run(fetch).p).toEqual(FILE);
    expect(ranges).toEqual([null, null, 'bytes=500-']);
  });

  test('404 is a DownloadError with URL and status, at once', async () => {
    const { fetch, ranges } = scripted([() => new Response('no', { status: 404, statusText: 'Not Found' })]);
    const err = await run(fetch).p.catch((e) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(err).toMatchObject({ url: 'http://x/f.bin', status: 404 });
    expect(ranges.length).toBe(1);
  });

  test('retries run out: DownloadError with the last reason', async () => {
    const fail = () => {
      throw new TypeError('connection refused');
    };
    const { fetch } = scripted([fail, fail, fail]);
    const err = await fetchBytes('http://x/f.bin', 10, () => {}, new AbortController().signal, {
      ...quick,
      fetch,
      retries: 2,
    }).catch((e) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.status).toBe(0);
    expect(err.message).toMatch(/connection refused.*3 failed attempts/);
  });

  test('a body longer than the manifest says is refused', async () => {
    const { fetch } = scripted([() => new Response(body(FILE), { status: 200 })]);
    const err = await run(fetch, 10).p.catch((e) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.message).toMatch(/more than the 10 bytes/);
  });

  test('unknown size (manifest.json): the body is collected whole', async () => {
    const { fetch } = scripted([() => new Response(body(FILE), { status: 200 })]);
    expect(await run(fetch, null).p).toEqual(FILE);
  });

  test('a stalled body times out and is resumed; an abort stops at once', async () => {
    const stalled = () =>
      new Response(
        new ReadableStream({
          start(c) {
            c.enqueue(FILE.slice(0, 100));
          },
        }),
        { status: 200 },
      );
    const { fetch, ranges } = scripted([stalled, () => new Response(body(FILE.slice(100)), { status: 206 })]);
    const got = await fetchBytes('http://x/f.bin', FILE.length, () => {}, new AbortController().signal, {
      fetch,
      backoffMs: 1,
      idleTimeoutMs: 50,
    });
    expect(got).toEqual(FILE);
    expect(ranges).toEqual([null, 'bytes=100-']);

    const ctl = new AbortController();
    const { fetch: hang } = scripted([stalled]);
    const p = fetchBytes('http://x/f.bin', FILE.length, () => {}, ctl.signal, {
      fetch: hang,
      idleTimeoutMs: 60_000,
    });
    setTimeout(() => ctl.abort(new DOMException('stop', 'AbortError')), 20);
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
  });
});

/**
 * The offline model store in Chromium (e2e/pages/store.ts): a real pack served by a local HTTP
 * server on another origin, downloaded into IndexedDB with progress, interrupted by a reload,
 * resumed, corrupted, repaired, loaded on WebGPU and deleted; quota failures; imports from a
 * chosen folder (File list, directory handle) and from a pack converted in the page.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { convertCheckpoint } from '../src/convert/convert';
import type { PackManifest } from '../src/format/pack';
import { PackDirSink } from '../src/node/pack-dir';
import type { StoredModelInfo, StoreResult } from '../src/store';
import { TINYSTORIES, tinystories } from '../test/helpers/packs';
import { type StaticServer, startStaticServer } from '../test/helpers/static-server';
import { type Harness, startHarness } from './browser';
import type { Outcome, PlainError, StoreTestApi } from './pages/store';

const SHARD_BYTES = 256 << 10;
const KNOWN_TEXT = 'Once upon a time, there was a little girl named Lily.';

let h: Harness;
let server: StaticServer;
let tmp: string;
let manifest: PackManifest;
let packUrl: string;
let packBytes: number;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'pagelm-store-'));
  const sink = await PackDirSink.create(join(tmp, 'tiny'));
  await convertCheckpoint(await tinystories(), sink, {
    scheme: 'f32',
    writer: { shardTargetBytes: SHARD_BYTES },
  });
  manifest = JSON.parse(readFileSync(join(tmp, 'tiny', 'manifest.json'), 'utf8'));
  packBytes = manifest.provenance.totalBytes;
  server = await startStaticServer(tmp, { cors: true });
  packUrl = `${server.url}tiny/`;
  h = await startHarness({ extraArgs: ['--enable-precise-memory-info'] });
  // Others edit src/ while these tests run; Vite would answer each edit to a module of the page
  // with a full reload, which destroys the page in the middle of a step. These tests reload on
  // purpose only, so file watching is switched off for this server.
  await h.server.watcher.close();
}, 120_000);

// A failed test must not leave a shard held or bodies cut for the next one.
afterEach(() => server?.setOptions({ hold: undefined, cutBodies: undefined }));

afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  await h?.close();
  await server?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** A page of the store test in its own browser context (its own IndexedDB), kept across reloads. */
async function openPage(): Promise<Page> {
  const ctx = await h.browser.newContext();
  contexts.push(ctx);
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.error('[page error]', e.message));
  await gotoStorePage(page);
  return page;
}

async function gotoStorePage(page: Page, reload = false): Promise<void> {
  if (reload) await page.reload();
  else await page.goto(`${h.baseUrl}/e2e/pages/store.html`);
  await page.waitForFunction(() => (window as unknown as { storeTest?: unknown }).storeTest, null, {
    timeout: 60_000,
  });
}

/** Calls window.storeTest[fn](...args) in the page. */
async function call<K extends keyof StoreTestApi>(
  page: Page,
  fn: K,
  ...args: Parameters<StoreTestApi[K]>
): Promise<Awaited<ReturnType<StoreTestApi[K]>>> {
  return page.evaluate(
    ([f, a]) => {
      const api = (window as unknown as { storeTest: Record<string, (...x: unknown[]) => unknown> })
        .storeTest;
      return api[f as string](...(a as unknown[]));
    },
    [fn, args] as const,
  ) as Promise<Awaited<ReturnType<StoreTestApi[K]>>>;
}

function ok<T>(r: Outcome<T>): T {
  if (!r.ok) throw new Error(`page step failed: ${r.error.name}: ${r.error.message}`);
  return r.value;
}

function failed(r: Outcome<unknown>): PlainError {
  if (r.ok) throw new Error('the step should have failed');
  return r.error;
}

/** GET paths the server saw since `mark` (preflights and HEADs left out). */
function getsSince(mark: number): string[] {
  return server.requests
    .slice(mark)
    .filter((r) => r.method === 'GET')
    .map((r) => r.path);
}

const fileCount = () => manifest.shards.length + 1 + (manifest.tokenizer.config ? 1 : 0);
const largestShard = () => Math.max(...manifest.shards.map((s) => s.bytes));

test('the test pack has several small shards', () => {
  expect(manifest.shards.length).toBeGreaterThanOrEqual(5);
  expect(manifest.shards.every((s) => s.bytes <= 1.1 * 1024 * 1024)).toBe(true);
});

test('download with progress → reload mid-download → resume without refetching → corrupt → IntegrityError → repair one shard → generate → delete', async () => {
  const page = await openPage();
  const db = 'main';
  const held = manifest.shards[4].file;

  // 1. Download, with one shard stalled on the server; everything else arrives.
  server.setOptions({ hold: (p) => p.endsWith(`/${held}`) });
  let mark = server.requests.length;
  await call(page, 'startDownload', db, packUrl);
  await page.waitForFunction(
    (n) => (window as unknown as { storeTest: StoreTestApi }).storeTest.progress().last?.filesDone === n,
    fileCount() - 1,
    { timeout: 60_000 },
  );
  const { all: events } = await call(page, 'progress');
  expect(events.length).toBeGreaterThanOrEqual(fileCount());
  const last = events.at(-1)!;
  expect(last.bytesTotal).toBe(packBytes);
  expect(last.bytesDone).toBe(packBytes - manifest.shards[4].bytes);
  expect(events.some((e) => e.bytesPerSecond > 0)).toBe(true);
  for (let i = 1; i < events.length; i++)
    expect(events[i].bytesDone).toBeGreaterThanOrEqual(events[i - 1].bytesDone);
  expect(new Set(getsSince(mark)).size).toBe(fileCount() + 1); // manifest + every file, each once
  expect(server.requests.find((r) => r.path.endsWith(`/${held}`))?.status).toBe(0); // never answered

  // 2. Reload in the middle: the half-stored model is listed, never as ready.
  await gotoStorePage(page, true);
  const [partial] = ok(await call(page, 'list', db)) as StoredModelInfo[];
  expect(partial.status).toBe('downloading');
  expect(partial.shards.missing).toEqual([4]);
  expect(partial.shards.present.length).toBe(manifest.shards.length - 1);
  expect(partial.storedBytes).toBe(packBytes - manifest.shards[4].bytes);
  const id = partial.id;
  expect(failed(await call(page, 'loadAndGenerate', db, id, 4)).name).toBe('NotReadyError');

  // 3. Resume: only the manifest and the missing shard go over the wire.
  server.setOptions({ hold: undefined });
  mark = server.requests.length;
  const resumed = ok(await call(page, 'download', db, packUrl)) as StoreResult;
  expect(resumed.id).toBe(id);
  expect(resumed.fetched).toEqual([held]);
  expect(resumed.skipped.length).toBe(fileCount() - 1);
  expect(resumed.info.status).toBe('ready');
  expect(getsSince(mark)).toEqual(['/tiny/manifest.json', `/tiny/${held}`]);

  // 4a. A truncated shard record: IntegrityError naming it, repaired alone with repairShard.
  const truncated = manifest.shards[1].file;
  ok(await call(page, 'corrupt', db, id, truncated, 'truncate'));
  const e1 = failed(await call(page, 'loadAndGenerate', db, id, 4));
  expect(e1).toMatchObject({ name: 'IntegrityError', modelId: id, file: truncated, shard: 1 });
  expect(e1.message).toContain(truncated);
  mark = server.requests.length;
  expect((ok(await call(page, 'repairShard', db, id, 1)) as StoreResult).fetched).toEqual([truncated]);
  expect(getsSince(mark)).toEqual([`/tiny/${truncated}`]);

  // 4b. Same size, flipped bytes: found by the checksum when the shard is loaded.
  const garbled = manifest.shards[2].file;
  ok(await call(page, 'corrupt', db, id, garbled, 'garbage'));
  const e2 = failed(await call(page, 'loadAndGenerate', db, id, 4));
  expect(e2).toMatchObject({ name: 'IntegrityError', modelId: id, file: garbled, shard: 2 });
  expect(e2.message).toMatch(/checksum mismatch/);
  const [broken] = ok(await call(page, 'list', db)) as StoredModelInfo[];
  expect(broken.status).toBe('broken');
  expect(broken.shards.bad).toEqual([2]);

  // 5. repairModel verifies every stored shard and refetches only the bad one.
  mark = server.requests.length;
  const repaired = ok(await call(page, 'repairModel', db, id)) as StoreResult;
  expect(repaired.fetched).toEqual([garbled]);
  expect(repaired.info.status).toBe('ready');
  expect(getsSince(mark)).toEqual([`/tiny/${garbled}`]);

  // 6. Load from IndexedDB shard by shard and generate.
  const gen = ok(await call(page, 'loadAndGenerate', db, id, 24));
  expect(gen.text).toContain(KNOWN_TEXT);
  expect(gen.stats.fileLoads).toBe(fileCount()); // each shard and tokenizer file read once
  expect(gen.stats.peakHeldBytes).toBeLessThanOrEqual(largestShard());
  expect(gen.stats.peakHeldBytes).toBeLessThan(packBytes / 2);
  console.log(
    `[store] load: ${manifest.shards.length} shards, pack ${packBytes} B, largest shard ${largestShard()} B, ` +
      `peak shard bytes held ${gen.stats.peakHeldBytes} B; JS heap before ${gen.heap.before} B, peak during load ${gen.heap.peak} B`,
  );

  // 7. Delete: nothing left.
  ok(await call(page, 'delete', db, id));
  expect(ok(await call(page, 'list', db))).toEqual([]);
  expect(ok(await call(page, 'totalBytes', db))).toBe(0);
  expect(ok(await call(page, 'recordCount', db))).toBe(0);
  expect(failed(await call(page, 'delete', db, id)).name).toBe('NotFoundError');
}, 240_000);

test('a connection lost mid-shard resumes with a Range request from where it broke', async () => {
  const page = await openPage();
  server.setOptions({ cutBodies: { count: 2, afterBytes: 100_000 } });
  const mark = server.requests.length;
  const r = ok(await call(page, 'download', 'cut', packUrl)) as StoreResult;
  server.setOptions({ cutBodies: undefined });
  expect(r.info.status).toBe('ready');
  const resumedRanges = server.requests.slice(mark).filter((x) => x.range === 'bytes=100000-');
  expect(resumedRanges.length).toBe(2);
  expect(resumedRanges.every((x) => x.status === 206)).toBe(true);
  expect(ok(await call(page, 'verify', 'cut', r.id))).toEqual([]);
});

test('quota: refused up front from the estimate; a full disk mid-download stops cleanly and keeps what is stored', async () => {
  const page = await openPage();
  const db = 'quota';

  // Estimate too small: QuotaError before any shard is fetched, nothing written.
  let mark = server.requests.length;
  const e1 = failed(await call(page, 'download', db, packUrl, { setup: { quotaBytes: 100_000 } }));
  expect(e1).toMatchObject({ name: 'QuotaError', neededBytes: packBytes, availableBytes: 100_000 });
  expect(getsSince(mark)).toEqual(['/tiny/manifest.json']);
  expect(ok(await call(page, 'recordCount', db))).toBe(0);

  // A first model stored normally, then a second whose 4th write hits QuotaExceededError.
  const first = ok(await call(page, 'download', db, packUrl, { id: 'first' })) as StoreResult;
  expect(first.info.status).toBe('ready');
  const e2 = failed(await call(page, 'download', db, packUrl, { id: 'second', setup: { failPutAt: 4 } }));
  expect(e2.name).toBe('QuotaError');
  expect(e2.modelId).toBe('second');
  expect(e2.neededBytes as number).toBeGreaterThan(0);
  expect(e2.neededBytes as number).toBeLessThanOrEqual(packBytes);
  expect(typeof e2.availableBytes).toBe('number');

  const list = ok(await call(page, 'list', db)) as StoredModelInfo[];
  const byId = Object.fromEntries(list.map((m) => [m.id, m]));
  expect(byId.first.status).toBe('ready');
  expect(byId.first.storedBytes).toBe(packBytes);
  expect(byId.second.status).toBe('downloading');
  expect(byId.second.storedBytes).toBe(packBytes - (e2.neededBytes as number));
  expect(ok(await call(page, 'verify', db, 'first'))).toEqual([]);

  // Space again: the second resumes and fetches only what it lacks.
  mark = server.requests.length;
  const second = ok(await call(page, 'download', db, packUrl, { id: 'second' })) as StoreResult;
  expect(second.info.status).toBe('ready');
  expect(second.fetched.length).toBe(byId.second.missingFiles.length);
  expect(getsSince(mark).length).toBe(1 + byId.second.missingFiles.length);
});

test('download errors are typed: a missing pack is a DownloadError with URL and status', async () => {
  const page = await openPage();
  const e = failed(await call(page, 'download', 'errors', `${server.url}no-such-pack/`));
  expect(e).toMatchObject({
    name: 'DownloadError',
    url: `${server.url}no-such-pack/manifest.json`,
    status: 404,
  });
  expect(ok(await call(page, 'list', 'errors'))).toEqual([]);
});

test('import from a chosen folder (File list with relative paths, directory handle) and from a pack converted in the page', async () => {
  const page = await openPage();

  const viaFiles = ok(await call(page, 'importFiles', 'files', packUrl)) as StoreResult;
  expect(viaFiles.info).toMatchObject({ status: 'ready', source: { kind: 'files', name: 'tiny-pack' } });
  expect(viaFiles.fetched.length).toBe(fileCount());
  expect(ok(await call(page, 'readTokenizer', 'files', viaFiles.id))).toMatchObject({ hasConfig: true });

  // A model from local files is repaired from files chosen again (there is no URL to go back to).
  const shard = manifest.shards[3].file;
  ok(await call(page, 'corrupt', 'files', viaFiles.id, shard, 'garbage'));
  expect(failed(await call(page, 'repairModel', 'files', viaFiles.id)).message).toMatch(
    /choose the pack files again/,
  );
  const fixed = ok(await call(page, 'repairModel', 'files', viaFiles.id, packUrl)) as StoreResult;
  expect(fixed.fetched).toEqual([shard]);
  expect(fixed.info.status).toBe('ready');

  const viaHandle = ok(await call(page, 'importDirectory', 'handle', packUrl)) as StoreResult;
  expect(viaHandle.info).toMatchObject({ status: 'ready', source: { kind: 'files', name: 'tiny-pack' } });
  expect(viaHandle.id).toBe(viaFiles.id); // same pack, same content-derived id
  expect(ok(await call(page, 'verify', 'handle', viaHandle.id))).toEqual([]);

  const converted = ok(
    await call(page, 'convertAndImport', 'memory', `${h.baseUrl}/@fs${TINYSTORIES}`),
  ) as StoreResult;
  expect(converted.info).toMatchObject({ status: 'ready', source: { kind: 'memory' }, scheme: 'f32' });
  expect(converted.info.shards.total).toBeGreaterThan(1);
  expect(ok(await call(page, 'verify', 'memory', converted.id))).toEqual([]);
});

/**
 * The chat page (index.html + src/app) in Chromium (WebGPU on SwiftShader), against the **built**
 * page (`vite build` into .packs/app-e2e/, served by `vite preview`): the service worker is only
 * registered in the build (in dev a cache-first worker would serve stale modules), and offline
 * reloads need it. The default pack (tinystories-656k, w4a8 GPTQ, converted in beforeAll) is put
 * at /models/tinystories-656k-w4a8/ of the build, exactly where `npm start` puts it.
 * Screenshots go to test-results/screenshots/ (docs/app.md shows them).
 */
import { mkdir, rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { build, type PreviewServer, preview } from 'vite';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { convertCheckpoint } from '../src/convert/convert';
import { openHfCheckpoint } from '../src/format/hf-checkpoint';
import { directorySource } from '../src/node/file-source';
import { PackDirSink } from '../src/node/pack-dir';
import { CHROMIUM, CHROMIUM_ARGS, SHARED_MODELS } from './browser';

/** ../shared/models/README.md: the greedy continuation of "Once upon a time". */
const CONTINUATION = ', a little girl named Lily lived in a small house';
const OUT = resolve(process.cwd(), '.packs/app-e2e');
const SHOTS = resolve(process.cwd(), 'test-results/screenshots');

let server: PreviewServer;
let browser: Browser;
let base: string;

beforeAll(async () => {
  await build({
    configFile: false,
    root: process.cwd(),
    logLevel: 'error',
    build: { outDir: OUT, emptyOutDir: true, target: 'es2022' },
    worker: { format: 'es' },
  });
  const sink = await PackDirSink.create(`${OUT}/models/tinystories-656k-w4a8`, { force: true });
  await convertCheckpoint(
    await openHfCheckpoint(directorySource(`${SHARED_MODELS}/tinystories-656k`)),
    sink,
    { scheme: 'w4a8', method: 'gptq' },
  );
  server = await preview({
    configFile: false,
    root: process.cwd(),
    logLevel: 'error',
    build: { outDir: OUT },
    preview: { host: '127.0.0.1', port: 0, strictPort: false },
  });
  const addr = server.httpServer.address();
  if (!addr || typeof addr === 'string') throw new Error('preview server has no port');
  base = `http://127.0.0.1:${addr.port}`;
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  await mkdir(SHOTS, { recursive: true });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await rm(OUT, { recursive: true, force: true });
});

interface AppState {
  ready: boolean;
  generating: boolean;
  finished: number;
}
const app = (p: Page) => p.evaluate(() => (window as unknown as { pagelmApp: AppState }).pagelmApp);
const waitReady = (p: Page) =>
  p.waitForFunction(() => (window as unknown as { pagelmApp?: AppState }).pagelmApp?.ready === true, null, {
    timeout: 45_000,
  });
const replies = (p: Page) => p.locator('#messages .msg.assistant .body').allTextContents();
// The model list re-renders from IndexedDB after a load: it catches up a moment after `ready`.
const listShows = (p: Page, pattern: RegExp) =>
  expect.poll(() => p.textContent('#model-list'), { timeout: 10_000 }).toMatch(pattern);

async function greedy(p: Page, maxTokens: number): Promise<void> {
  if (await p.locator('#settings').isHidden()) await p.click('#toggle-settings');
  await p.fill('#set-system', '');
  await p.fill('#set-temperature', '0');
  await p.fill('#set-top-p', '1');
  await p.fill('#set-max-tokens', String(maxTokens));
  await p.fill('#set-seed', '');
  await p.click('#toggle-settings');
}

/** Records the streaming reply's text length on every DOM change (window.__lengths). */
async function watchLengths(p: Page): Promise<void> {
  await p.evaluate(() => {
    const w = window as unknown as { __lengths: number[] };
    w.__lengths = [];
    new MutationObserver(() => {
      const bodies = document.querySelectorAll('#messages .msg.assistant .body');
      const last = bodies[bodies.length - 1];
      if (last) w.__lengths.push((last.textContent ?? '').length);
    }).observe(document.getElementById('messages')!, { childList: true, subtree: true, characterData: true });
  });
}

/** Types and sends a message; `wait` resolves when the reply has finished (or was stopped). */
async function send(p: Page, text: string): Promise<{ wait: () => Promise<void> }> {
  const before = (await app(p)).finished;
  await p.fill('#input', text);
  await p.press('#input', 'Enter');
  return {
    wait: async () => {
      await p.waitForFunction(
        (n) => (window as unknown as { pagelmApp: AppState }).pagelmApp.finished > n,
        before,
        { timeout: 90_000 },
      );
    },
  };
}

function newPage(ctx: BrowserContext): Promise<Page> {
  return ctx.newPage().then((p) => {
    p.on('pageerror', (e) => console.error('[page error]', e.message));
    p.on('console', (m) => {
      if (m.type() === 'error') console.error('[page]', m.text());
    });
    return p;
  });
}

test('no WebGPU: the friendly screen', async () => {
  const ctx = await browser.newContext();
  await ctx.addInitScript(() => {
    // biome-ignore lint/suspicious/noExplicitAny: removing a platform property for the test
    delete (Navigator.prototype as any).gpu;
  });
  const p = await newPage(ctx);
  await p.goto(base);
  await p.locator('#no-webgpu').waitFor({ state: 'visible' });
  expect(await p.textContent('#no-webgpu-title')).toContain('cannot run pagelm');
  expect(await p.textContent('#status')).toBe('WebGPU unavailable');
  expect(await p.locator('#composer').isHidden()).toBe(true);
  await p.screenshot({ path: `${SHOTS}/no-webgpu.png` });
  await ctx.close();
});

describe('chat with the default model', () => {
  let ctx: BrowserContext;
  let page: Page;
  let dialogs = 0;
  beforeAll(async () => {
    ctx = await browser.newContext({ viewport: { width: 1100, height: 760 } });
    page = await newPage(ctx);
    page.on('dialog', (d) => {
      dialogs++;
      void d.dismiss();
    });
  });
  afterAll(() => ctx?.close());

  test('first visit downloads the default pack with progress, then greedy streaming', async () => {
    // Throttle the network (about 150 KB/s) so the progress bar can be seen mid-download.
    const cdp = await ctx.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: 20,
      downloadThroughput: 150_000,
      uploadThroughput: 150_000,
    });
    await page.goto(base);
    await page.locator('#download').waitFor({ state: 'visible', timeout: 60_000 });
    await page.waitForFunction(() => {
      const bar = document.getElementById('download-progress') as HTMLProgressElement;
      return bar.value > 0 && bar.value < bar.max;
    });
    const text = await page.textContent('#download-text');
    expect(text).toMatch(/ of [\d.]+ KiB · .*\/s · about \d+ s left/);
    await page.screenshot({ path: `${SHOTS}/download.png` });
    await waitReady(page);
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: 0,
      downloadThroughput: -1,
      uploadThroughput: -1,
    });
    expect(await page.locator('#download').isHidden()).toBe(true);
    const status = await page.textContent('#status');
    expect(status).toContain('tinystories-656k');
    expect(status).toMatch(/W4A8/);
    await page.screenshot({ path: `${SHOTS}/empty.png` });

    await greedy(page, 40);
    await watchLengths(page);
    const first = await send(page, 'Once upon a time');
    await page.waitForFunction(() => {
      const b = document.querySelectorAll('#messages .msg.assistant .body');
      return (b[b.length - 1]?.textContent ?? '').length > 8;
    });
    await page.screenshot({ path: `${SHOTS}/streaming.png` });
    await first.wait();
    const lengths = await page.evaluate(() => (window as unknown as { __lengths: number[] }).__lengths);
    const distinct = new Set(lengths.filter((n) => n > 0));
    expect(distinct.size).toBeGreaterThanOrEqual(3);
    const [reply] = await replies(page);
    expect(reply.startsWith(CONTINUATION)).toBe(true);
    expect(await page.locator('#messages .msg.user .body').first().textContent()).toBe('Once upon a time');
    expect(await page.locator('#messages .msg.assistant .stats').first().textContent()).toMatch(
      /prefill [\d.]+ tok\/s · decode [\d.]+ tok\/s · \d+ prompt \+ \d+ reply tokens/,
    );
    await page.screenshot({ path: `${SHOTS}/reply.png` });
  });

  test('Esc stops mid-stream; the next message works', async () => {
    await greedy(page, 400);
    const stopped = await send(page, ' The next day, Lily');
    await page.waitForFunction(() => {
      const b = document.querySelectorAll('#messages .msg.assistant .body');
      return b.length === 2 && (b[1]?.textContent ?? '').length > 3;
    });
    await page.keyboard.press('Escape');
    await stopped.wait();
    expect(await page.locator('#messages .msg.assistant .stats').nth(1).textContent()).toContain('stopped');
    await greedy(page, 20);
    await (await send(page, ' Then')).wait();
    const all = await replies(page);
    expect(all).toHaveLength(3);
    expect(all[2].length).toBeGreaterThan(0);
  });

  test('regenerate replaces the last reply (greedy: the same text); copy puts it on the clipboard', async () => {
    await ctx.grantPermissions(['clipboard-read', 'clipboard-write']);
    const before = await replies(page);
    const before3 = (await app(page)).finished;
    await page.locator('#messages .msg.assistant .regenerate').click();
    await page.waitForFunction(
      (n) => (window as unknown as { pagelmApp: AppState }).pagelmApp.finished > n,
      before3,
      { timeout: 60_000 },
    );
    const after = await replies(page);
    expect(after).toHaveLength(before.length);
    expect(after.at(-1)).toBe(before.at(-1));
    await page.locator('#messages .msg.assistant .copy').first().click();
    // The raw reply: it may end in whitespace (a token's leading space), which the page's text drops.
    expect((await page.evaluate(() => navigator.clipboard.readText())).trimEnd()).toBe(before[0].trimEnd());
  });

  test('the conversation survives a reload', async () => {
    const before = await replies(page);
    await page.reload();
    await waitReady(page);
    expect(await replies(page)).toEqual(before);
    expect(await page.locator('#conversations li').count()).toBe(1);
  });

  test('HTML in a model reply is shown as text, never as elements', async () => {
    const evil = 'Look: <img src=x onerror=alert(1)> and <script>alert(2)</script> **bold**';
    await page.evaluate(async (content) => {
      const db = await new Promise<IDBDatabase>((ok, no) => {
        const r = indexedDB.open('pagelm-chat');
        r.onsuccess = () => ok(r.result);
        r.onerror = () => no(r.error);
      });
      const now = Date.now();
      const conv = {
        id: 'c-evil',
        title: 'evil',
        created: now,
        updated: now,
        messages: [
          { role: 'user', content: '<b>user html</b>' },
          { role: 'assistant', content },
        ],
      };
      await new Promise((ok, no) => {
        const tx = db.transaction('conversations', 'readwrite');
        tx.objectStore('conversations').put(conv, conv.id);
        tx.oncomplete = ok;
        tx.onerror = no;
      });
      localStorage.setItem('pagelm.current', 'c-evil');
    }, evil);
    await page.reload();
    await page.locator('#messages .msg.assistant').waitFor();
    expect(await page.locator('#messages img, #messages script, #messages b').count()).toBe(0);
    const shown = await page.locator('#messages .msg.assistant .body').textContent();
    expect(shown).toContain('<img src=x onerror=alert(1)>');
    expect(shown).toContain('<script>alert(2)</script>');
    expect(await page.locator('#messages .msg.assistant strong').textContent()).toBe('bold');
    expect(await page.locator('#messages .msg.user .body').textContent()).toBe('<b>user html</b>');
    await page.waitForTimeout(300);
    expect(dialogs).toBe(0);
  });
});

test('offline: reload without network, chat still generates from the stored model', async () => {
  const ctx = await browser.newContext({ viewport: { width: 375, height: 667 } });
  const page = await newPage(ctx);
  try {
    await page.goto(base);
    await waitReady(page);
    // The service worker claims the page when it activates (clients.claim()).
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 30_000 });
    // One online reload under the service worker's control fills its runtime cache.
    await page.reload();
    await waitReady(page);
    expect(await page.evaluate(() => navigator.serviceWorker.controller !== null)).toBe(true);
    await ctx.setOffline(true);
    expect(
      await page.evaluate(() =>
        fetch('/index.html', { cache: 'reload' }).then(
          () => 'cached',
          () => 'failed',
        ),
      ),
    ).toBe('cached');
    await page.reload();
    await waitReady(page);
    await greedy(page, 20);
    await (await send(page, 'Once upon a time')).wait();
    const [reply] = await replies(page);
    expect(reply.startsWith(CONTINUATION.slice(0, 30))).toBe(true);
    await page.screenshot({ path: `${SHOTS}/phone.png` });
  } catch (e) {
    console.error('offline test: status =', await page.textContent('#status').catch(() => '?'));
    console.error(
      await page.evaluate(async () => {
        const r = await navigator.serviceWorker.getRegistrations();
        const sw = await fetch('/sw.js').then((x) => `${x.status} ${x.headers.get('content-type')}`);
        return JSON.stringify({ regs: r.map((x) => [x.scope, !!x.active, !!x.installing, !!x.waiting]), sw });
      }),
    );
    throw e;
  } finally {
    await ctx.setOffline(false);
    await ctx.close();
  }
});

test('model manager: quantize a Hugging Face folder in the page, chat, delete; then a GGUF file', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1100, height: 760 } });
  const page = await newPage(ctx);
  try {
    // No default pack at this URL: the page opens the model manager.
    await page.goto(`${base}/?pack=/no-such-pack/`);
    await page.locator('#empty').waitFor({ state: 'visible', timeout: 30_000 });
    await page.locator('#models').waitFor({ state: 'visible' });
    expect(await page.textContent('#model-list')).toContain('No models stored yet');
    await page.selectOption('#conv-scheme', 'w4a16');
    await page.selectOption('#conv-method', 'rtn');
    await page.setInputFiles('#conv-hf', `${SHARED_MODELS}/tinystories-656k`);
    await page.waitForFunction(() =>
      /Quantizing|Storing|Stored/.test(document.getElementById('task-text')!.textContent ?? ''),
    );
    await page.screenshot({ path: `${SHOTS}/models.png` });
    await waitReady(page);
    expect(await page.textContent('#status')).toMatch(/tinystories-656k \(w4a16 rtn\)/);
    await listShows(page, /w4a16 rtn · [\d.]+ KiB · ready · in use/);
    await greedy(page, 12);
    await (await send(page, 'Once upon a time')).wait();
    const [reply] = await replies(page);
    expect(reply.startsWith(', a little girl')).toBe(true);
    await page.click('#model-list button[aria-label^="Delete"]');
    await page.waitForFunction(() =>
      document.getElementById('model-list')!.textContent!.includes('No models stored'),
    );
    expect(await app(page)).toMatchObject({ ready: false });

    // A GGUF file (stories260K, llama2.c) through the same worker.
    await page.setInputFiles('#conv-gguf', `${SHARED_MODELS}/stories260k-gguf/stories260K.gguf`);
    await waitReady(page);
    await listShows(page, /w4a16 rtn · .* · ready · in use/);
    await page.click('#new-chat');
    await (await send(page, 'Once upon a time')).wait();
    expect((await replies(page))[0].length).toBeGreaterThan(0);
  } finally {
    await ctx.close();
  }
});

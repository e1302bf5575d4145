/**
 * The SDK in Chromium (WebGPU on SwiftShader): tinystories-656k as an f32 pack, served over HTTP
 * (converted once in Node into the git-ignored .packs/) or converted in the page. Each test drives
 * e2e/pages/sdk.html through page.evaluate: the in-page engine (createEngine) and the worker engine
 * (createWorkerEngine, the chat page's default) must behave the same.
 */
import { rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { convertCheckpoint } from '../src/convert/convert';
import { openHfCheckpoint } from '../src/format/hf-checkpoint';
import { directorySource } from '../src/node/file-source';
import { PackDirSink } from '../src/node/pack-dir';
import { type Harness, SHARED_MODELS, startHarness } from './browser';
import type { SdkPage } from './pages/sdk';

/** ../shared/models/README.md: transformers' greedy continuation of "Once upon a time". */
const CONTINUATION = ', a little girl named Lily lived in a small house with her mom, dad, and her dog, Spot';
const PACK_DIR = resolve(process.cwd(), '.packs/sdk-e2e-tinystories-f32');

let h: Harness;
let packUrl: string;
let page: Page;

beforeAll(async () => {
  const sink = await PackDirSink.create(PACK_DIR, { force: true });
  await convertCheckpoint(
    await openHfCheckpoint(directorySource(`${SHARED_MODELS}/tinystories-656k`)),
    sink,
    { scheme: 'f32' },
  );
  // The embed example imports the built library: build it before the dev server starts, or the
  // server's first look at examples/embed.html fails on the missing file and the failure sticks.
  await build({ configFile: resolve(process.cwd(), 'vite.lib.config.ts'), logLevel: 'error' });
  h = await startHarness();
  packUrl = `${h.baseUrl}/@fs${PACK_DIR}/`;
}, 120_000);

afterAll(async () => {
  await h?.close();
  await rm(PACK_DIR, { recursive: true, force: true });
});

/**
 * Others edit the tree while these tests run; Vite's client would reload the page on every change
 * (losing the engine mid-test). A stub client keeps the page as loaded.
 */
async function newStablePage(): Promise<Page> {
  const p = await h.newPage();
  await p.route(/\/@vite\/client$/, (route) =>
    route.fulfill({
      contentType: 'text/javascript',
      body:
        'const hot = { accept() {}, dispose() {}, prune() {}, invalidate() {}, on() {}, off() {}, send() {}, data: {} };\n' +
        'export const createHotContext = () => hot;\n' +
        'export const updateStyle = () => {};\nexport const removeStyle = () => {};\n' +
        'export const injectQuery = (url) => url;\nexport class ErrorOverlay {}\n',
    }),
  );
  return p;
}

async function openSdkPage(): Promise<Page> {
  page = await newStablePage();
  page.on('console', (m) => {
    if (m.type() === 'error') console.error('[page]', m.text());
  });
  await page.goto(`${h.baseUrl}/e2e/pages/sdk.html`);
  await page.waitForFunction(() => (window as unknown as { sdkPage?: unknown }).sdkPage, null, {
    timeout: 60_000,
  });
  return page;
}

/** Runs `fn` in the page with window.sdkPage and the given argument. */
function inPage<A, R>(fn: (p: SdkPage, arg: A) => Promise<R>, arg: A): Promise<R> {
  return page.evaluate(
    ([src, a]) => {
      const f = new Function(`return (${src})`)() as (p: unknown, arg: unknown) => Promise<unknown>;
      return f((window as unknown as { sdkPage: unknown }).sdkPage, a);
    },
    [fn.toString(), arg] as const,
  ) as Promise<R>;
}

type Kind = 'page' | 'worker';

describe.each(['page', 'worker'] as Kind[])('%s engine', (kind) => {
  beforeAll(async () => {
    await openSdkPage();
    const report = await inPage(
      async (p, { kind, packUrl }) => {
        const w = window as unknown as Record<string, unknown>;
        const engine = kind === 'worker' ? p.sdk.createWorkerEngine() : p.sdk.createEngine();
        w.engine = engine;
        const progress: unknown[] = [];
        const report = await engine.loadModel({
          source: { kind: 'url', url: packUrl },
          contextSize: 128,
          onProgress: (x) => progress.push(x),
        });
        return { report, progress };
      },
      { kind, packUrl },
    );
    expect(report.report).toMatchObject({ model: 'tinystories-656k', scheme: 'f32', contextSize: 128 });
    expect(report.report.seconds).toBeGreaterThan(0);
    expect(report.report.weightBytes).toBeGreaterThan(2_000_000);
    const last = report.progress.at(-1) as { stage: string; loadedBytes: number; totalBytes: number };
    expect(last).toMatchObject({ stage: 'ready', loadedBytes: report.report.weightBytes });
    expect(report.progress.some((x) => (x as { stage: string }).stage === 'weights')).toBe(true);
  }, 120_000);
  afterAll(() => page?.close());

  test('greedy completion equals `pagelm run` (the transformers continuation)', async () => {
    const r = await inPage(async () => {
      const engine = (window as unknown as { engine: import('../src/sdk/types').Engine }).engine;
      return engine.chat.completions.create({
        messages: [{ role: 'user', content: 'Once upon a time' }],
        temperature: 0,
        max_tokens: 24,
      });
    }, null);
    expect(r.choices[0].message.content.startsWith(CONTINUATION)).toBe(true);
    expect(r.usage).toEqual({ prompt_tokens: 6, completion_tokens: 24, total_tokens: 30 });
    expect(r.timing.prefill_tokens_per_s).toBeGreaterThan(0);
    expect(r.timing.decode_tokens_per_s).toBeGreaterThan(0);
  });

  test('streaming: chunks arrive one by one and concatenate to the non-streamed completion (same seed); seeds reproduce', async () => {
    const r = await inPage(async (p) => {
      const engine = (window as unknown as { engine: import('../src/sdk/types').Engine }).engine;
      const body = {
        messages: [{ role: 'user', content: 'Once upon a time' }],
        temperature: 0.9,
        top_k: 40,
        seed: 1234,
        max_tokens: 32,
      };
      const whole = await engine.chat.completions.create(body);
      const streamed = await p.collect(await engine.chat.completions.create({ ...body, stream: true }));
      const again = await engine.chat.completions.create(body);
      const other = await engine.chat.completions.create({ ...body, seed: 99 });
      return { whole, streamed, again, other };
    }, null);
    const { whole, streamed, again, other } = r;
    expect(streamed.text).toBe(whole.choices[0].message.content);
    expect(again.choices[0].message.content).toBe(whole.choices[0].message.content);
    expect(other.choices[0].message.content).not.toBe(whole.choices[0].message.content);
    // One chunk per token that completed text, then the final one with usage and timing.
    const last = streamed.chunks.at(-1)!;
    expect(last.choices[0].finish_reason).toBe(whole.choices[0].finish_reason);
    expect(last.usage).toEqual(whole.usage);
    expect(streamed.chunks.length).toBeGreaterThan(whole.usage.completion_tokens / 2);
    // They arrived while decoding, not all at the end.
    const spread = streamed.at.at(-2)! - streamed.at[0];
    expect(spread).toBeGreaterThan(0.5 * last.timing!.decode_seconds * 1000);
  });

  test('stop strings end the text before them', async () => {
    const r = await inPage(async (p) => {
      const engine = (window as unknown as { engine: import('../src/sdk/types').Engine }).engine;
      const body = {
        messages: [{ role: 'user', content: 'Once upon a time' }],
        temperature: 0,
        max_tokens: 40,
        stop: ['Lily', 'never'],
      };
      const whole = await engine.chat.completions.create(body);
      const streamed = await p.collect(await engine.chat.completions.create({ ...body, stream: true }));
      return { whole, streamed: streamed.text };
    }, null);
    expect(r.whole.choices[0].message.content).toBe(', a little girl named ');
    expect(r.whole.choices[0].finish_reason).toBe('stop');
    expect(r.streamed).toBe(', a little girl named ');
  });

  test('abort mid-stream stops within a token; the next completion works', async () => {
    const r = await inPage(async (p) => {
      const engine = (window as unknown as { engine: import('../src/sdk/types').Engine }).engine;
      const ctl = new AbortController();
      const stream = await engine.chat.completions.create(
        {
          messages: [{ role: 'user', content: 'Once upon a time' }],
          temperature: 0,
          max_tokens: 100,
          stream: true,
        },
        { signal: ctl.signal },
      );
      let chunks = 0;
      let error: unknown = null;
      try {
        await p.collect(stream, (n) => {
          chunks = n;
          if (n === 4) ctl.abort();
        });
      } catch (e) {
        error = p.describeError(e);
      }
      const next = await engine.chat.completions.create({
        messages: [{ role: 'user', content: 'Once upon a time' }],
        temperature: 0,
        max_tokens: 24,
      });
      return { chunks, error, next: next.choices[0].message.content };
    }, null);
    expect(r.error).toMatchObject({ name: 'AbortError' });
    expect(r.chunks).toBe(4);
    expect(r.next.startsWith(CONTINUATION)).toBe(true);
  });

  test('multi-turn: the second turn prefills only the new tokens, with the answer of a full prefill', async () => {
    const r = await inPage(async () => {
      const engine = (window as unknown as { engine: import('../src/sdk/types').Engine }).engine;
      await engine.resetChat();
      const user = (content: string) => ({ role: 'user', content });
      const first = await engine.chat.completions.create({
        messages: [user('Once upon a time')],
        temperature: 0,
        max_tokens: 16,
      });
      const turn2 = {
        messages: [
          user('Once upon a time'),
          { role: 'assistant', content: first.choices[0].message.content },
          user(' One day, Lily'),
        ],
        temperature: 0,
        max_tokens: 16,
      };
      const second = await engine.chat.completions.create(turn2);
      await engine.resetChat();
      const fresh = await engine.chat.completions.create(turn2);
      return { first, second, fresh };
    }, null);
    const { first, second, fresh } = r;
    // The cache held turn 1's prompt and every generated token but the last (sampled, never run).
    expect(second.timing.reused_tokens).toBe(first.usage.prompt_tokens + first.usage.completion_tokens - 1);
    expect(second.timing.prefill_tokens).toBe(second.usage.prompt_tokens - second.timing.reused_tokens);
    expect(second.timing.prefill_tokens).toBeLessThan(8);
    expect(fresh.timing.reused_tokens).toBe(0);
    expect(fresh.timing.prefill_tokens).toBe(second.usage.prompt_tokens);
    expect(second.choices[0].message.content).toBe(fresh.choices[0].message.content);
  });

  test('context window: ContextWindowExceeded by default, sliding truncation on request', async () => {
    const r = await inPage(async (p) => {
      const engine = (window as unknown as { engine: import('../src/sdk/types').Engine }).engine;
      const long = 'Once upon a time there was a big dog. '.repeat(20);
      let error: unknown = null;
      try {
        await engine.chat.completions.create({ messages: [{ role: 'user', content: long }], max_tokens: 16 });
      } catch (e) {
        error = { ...p.describeError(e), isClass: e instanceof p.sdk.ContextWindowExceeded };
      }
      const truncated = await engine.chat.completions.create({
        messages: [
          { role: 'user', content: long },
          { role: 'assistant', content: long },
          { role: 'user', content: 'Once upon a time' },
        ],
        temperature: 0,
        max_tokens: 24,
        context_overflow: 'truncate',
      });
      return { error, truncated };
    }, null);
    expect(r.error).toMatchObject({ name: 'ContextWindowExceeded', isClass: true });
    expect((r.error as { fields: { contextSize: number } }).fields.contextSize).toBe(128);
    expect(r.truncated.timing.dropped_messages).toBe(2);
    expect(r.truncated.choices[0].message.content.startsWith(CONTINUATION)).toBe(true);
  });

  test('device loss (device.destroy() inside the engine): the next call recovers with the same answer', async () => {
    const r = await inPage(async (p) => {
      const engine = (window as unknown as { engine: import('../src/sdk/types').Engine }).engine;
      const body = {
        messages: [{ role: 'user', content: 'Once upon a time' }],
        temperature: 0.8,
        seed: 77,
        max_tokens: 24,
      };
      const before = await engine.chat.completions.create(body);
      await engine.testing.loseDevice();
      const after = await engine.chat.completions.create(body);
      // Lost while streaming: that request fails, the next one recovers.
      let midError: unknown = null;
      try {
        await p.collect(await engine.chat.completions.create({ ...body, stream: true }), async (n) => {
          if (n === 2) await engine.testing.loseDevice();
        });
      } catch (e) {
        midError = p.describeError(e);
      }
      const again = await engine.chat.completions.create(body);
      return { before, after, midError, again };
    }, null);
    expect(r.after.timing.recovered_device).toBe(true);
    expect(r.after.choices[0].message.content).toBe(r.before.choices[0].message.content);
    expect(r.midError).toMatchObject({ name: 'DeviceLostError' });
    expect(r.again.timing.recovered_device).toBe(true);
    expect(r.again.choices[0].message.content).toBe(r.before.choices[0].message.content);
  });
});

test('worker and in-page engines give the same answers; a pack converted in the page loads from memory', async () => {
  await openSdkPage();
  const r = await inPage(
    async (p, { checkpointUrl }) => {
      const files = await p.convertInPage(checkpointUrl);
      const body = {
        messages: [{ role: 'user', content: 'Once upon a time' }],
        temperature: 0.7,
        top_p: 0.9,
        seed: 5,
        max_tokens: 32,
      };
      const answers: Record<string, unknown> = {};
      for (const kind of ['page', 'worker'] as const) {
        const engine = kind === 'worker' ? p.sdk.createWorkerEngine() : p.sdk.createEngine();
        await engine.loadModel({ source: { kind: 'memory', files, name: 'converted' }, contextSize: 64 });
        const greedy = await engine.chat.completions.create({ ...body, temperature: 0 });
        const sampled = await p.collect(await engine.chat.completions.create({ ...body, stream: true }));
        answers[kind] = {
          greedy: greedy.choices[0].message.content,
          sampled: sampled.text,
          model: greedy.model,
        };
        await engine.dispose();
      }
      return answers as Record<'page' | 'worker', { greedy: string; sampled: string; model: string }>;
    },
    { checkpointUrl: `${h.baseUrl}/@fs${SHARED_MODELS}/tinystories-656k` },
  );
  expect(r.page.greedy.startsWith(CONTINUATION)).toBe(true);
  expect(r.worker).toEqual(r.page);
  expect(r.page.model).toBe('converted');
  await page.close();
}, 180_000);

test('stored source: a pack downloaded into the IndexedDB store loads by id in the page and in the worker', async () => {
  await openSdkPage();
  const r = await inPage(
    async (p, { packUrl }) => {
      const store = p.sdk.store.defaultModelStore();
      const { id } = await store.download(packUrl);
      const out: Record<string, unknown> = { id };
      for (const kind of ['page', 'worker'] as const) {
        const engine = kind === 'worker' ? p.sdk.createWorkerEngine() : p.sdk.createEngine();
        let missing: unknown = null;
        try {
          await engine.loadModel({ source: { kind: 'stored', id: 'no-such-model' } });
        } catch (e) {
          missing = { ...p.describeError(e), isClass: e instanceof p.sdk.NotFoundError };
        }
        const report = await engine.loadModel({ source: { kind: 'stored', id }, contextSize: 64 });
        const greedy = await engine.chat.completions.create({
          messages: [{ role: 'user', content: 'Once upon a time' }],
          temperature: 0,
          max_tokens: 24,
        });
        out[kind] = { missing, model: report.model, text: greedy.choices[0].message.content };
        await engine.dispose();
      }
      await store.delete(id);
      return out as {
        id: string;
        page: { missing: unknown; model: string; text: string };
        worker: { missing: unknown; model: string; text: string };
      };
    },
    { packUrl },
  );
  for (const kind of ['page', 'worker'] as const) {
    expect(r[kind].missing).toMatchObject({ name: 'NotFoundError', isClass: true });
    expect(r[kind].model).toBe('tinystories-656k');
    expect(r[kind].text.startsWith(CONTINUATION)).toBe(true);
  }
  await page.close();
}, 120_000);

test('examples/embed.html runs on the built library (dist/lib: pagelm.js + its worker, built in beforeAll)', async () => {
  page = await newStablePage();
  const workers: string[] = [];
  page.on('worker', (w) => workers.push(new URL(w.url()).pathname));
  await page.goto(`${h.baseUrl}/examples/embed.html?pack=${encodeURIComponent(packUrl)}`);
  await page.waitForFunction(
    () => document.getElementById('status')?.textContent?.includes('loaded in'),
    null,
    {
      timeout: 60_000,
    },
  );
  expect(await page.textContent('#status')).toContain('tinystories-656k (f32) loaded in');
  expect(workers).toEqual(['/dist/lib/pagelm-worker.js']);
  await page.click('#go');
  await page.waitForFunction(
    () => document.getElementById('status')?.textContent?.includes('tokens/s'),
    null,
    {
      timeout: 60_000,
    },
  );
  expect((await page.textContent('#out'))!.length).toBeGreaterThan(20);
  // The engine the example made (in the bundled worker) answers like the one from source.
  const greedy = await page.evaluate(async () => {
    const { engine } = (window as unknown as { pagelmExample: { engine: import('../src/sdk/types').Engine } })
      .pagelmExample;
    const r = await engine.chat.completions.create({
      messages: [{ role: 'user', content: 'Once upon a time' }],
      temperature: 0,
      max_tokens: 24,
    });
    return r.choices[0].message.content;
  });
  expect(greedy.startsWith(CONTINUATION)).toBe(true);
  await page.close();
}, 120_000);

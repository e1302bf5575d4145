import { afterAll, beforeAll, expect, test } from 'vitest';
import { type Harness, SHARED_MODELS, startHarness } from './browser';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

async function generate(src: string): Promise<{ text: string; ids: number[]; shaderF16: boolean }> {
  const page = await h.newPage();
  const url = `${h.baseUrl}/e2e/pages/generate.html?src=${encodeURIComponent(`${h.baseUrl}/@fs${src}`)}&tokens=24`;
  await page.goto(url);
  await page.waitForFunction(() => (window as unknown as { __generate?: unknown }).__generate, null, {
    timeout: 170_000,
  });
  const r = (await page.evaluate(() => (window as unknown as { __generate: unknown }).__generate)) as {
    error?: string;
    text: string;
    ids: number[];
    shaderF16: boolean;
  };
  expect(r.error).toBeUndefined();
  await page.close();
  return r;
}

test('tinystories-656k: fetched, converted and generated in Chromium (SwiftShader, no shader-f16)', async () => {
  const r = await generate(`${SHARED_MODELS}/tinystories-656k`);
  expect(r.shaderF16).toBe(false);
  expect(r.text).toContain('Once upon a time, there was a little girl named Lily. She had a toy car');
}, 180_000);

test('stories260k GGUF: the same greedy story in Chromium', async () => {
  const r = await generate(`${SHARED_MODELS}/stories260k-gguf/stories260K.gguf`);
  expect(r.text).toContain('Once upon a time, there was a little girl named Lily.');
}, 180_000);

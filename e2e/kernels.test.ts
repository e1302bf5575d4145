import { afterAll, beforeAll, expect, test } from 'vitest';
import { type Harness, startHarness } from './browser';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

interface Outcome {
  fatal?: string;
  caps?: { adapter: { description: string }; features: Record<string, boolean> };
  results?: { name: string; ok: boolean; error?: string }[];
}

test('kernel cases pass in Chromium (SwiftShader), and the rig catches broken kernels', async () => {
  const page = await h.newPage();
  await page.goto(`${h.baseUrl}/e2e/pages/kernels.html`);
  await page.waitForFunction(
    () => (window as unknown as { __kernelResults?: unknown }).__kernelResults,
    null,
    {
      timeout: 110_000,
    },
  );
  const out = (await page.evaluate(
    () => (window as unknown as { __kernelResults: unknown }).__kernelResults,
  )) as Outcome;
  expect(out.fatal).toBeUndefined();
  const failed = out.results!.filter((r) => !r.ok);
  expect(failed).toEqual([]);
  expect(out.results!.length).toBeGreaterThan(20);
  // This suite exists to cover the no-shader-f16 browser path; make sure that is what ran.
  expect(out.caps!.features.shaderF16).toBe(false);
});

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
  results?: { name: string; ok: boolean; error?: string; ms?: number }[];
}

test('kernel cases pass in Chromium (SwiftShader), and the rig catches broken kernels', async () => {
  const page = await h.newPage();
  await page.goto(`${h.baseUrl}/e2e/pages/kernels.html`);
  await page.waitForFunction(
    () => (window as unknown as { __kernelResults?: unknown }).__kernelResults,
    null,
    {
      timeout: 240_000,
    },
  );
  const out = (await page.evaluate(
    () => (window as unknown as { __kernelResults: unknown }).__kernelResults,
  )) as Outcome;
  expect(out.fatal).toBeUndefined();
  // The slowest cases (SwiftShader compiles every specialization): what the suite's time goes to.
  const slow = [...(out.results ?? [])].sort((a, b) => (b.ms ?? 0) - (a.ms ?? 0)).slice(0, 8);
  console.log(slow.map((r) => `${(r.ms ?? 0).toFixed(0).padStart(7)} ms  ${r.name}`).join('\n'));
  const failed = out.results!.filter((r) => !r.ok);
  expect(failed).toEqual([]);
  expect(out.results!.length).toBeGreaterThan(20);
  // This suite exists to cover the no-shader-f16 browser path; make sure that is what ran.
  expect(out.caps!.features.shaderF16).toBe(false);
}, 250_000);

import { afterAll, beforeAll, expect, test } from 'vitest';
import { type Harness, startHarness } from './browser';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

test('doctor in Chromium: SwiftShader runs the dot4 probe, has no shader-f16', async () => {
  const page = await h.newPage();
  await page.goto(`${h.baseUrl}/e2e/pages/doctor.html`);
  await page.waitForFunction(() => (window as unknown as { __doctor?: unknown }).__doctor, null, {
    timeout: 60_000,
  });
  const report = await page.locator('#report').textContent();
  if (process.env.PAGELM_PRINT_DOCTOR) console.log(report);
  expect(report).toMatch(/ok {3}W4A8 GEMV\/GEMM \(dot4I8Packed\) +packed int8 dot product verified/);
  expect(report).toMatch(/shaderF16 no/);
});

test('without WebGPU the page gets a typed error that says what to do', async () => {
  const page = await h.newPage();
  // Simulate a browser without WebGPU: hide navigator.gpu before any script runs.
  await page.addInitScript(() => {
    Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined });
  });
  await page.goto(`${h.baseUrl}/e2e/pages/doctor.html`);
  await page.waitForFunction(() => (window as unknown as { __doctor?: unknown }).__doctor, null, {
    timeout: 60_000,
  });
  const out = (await page.evaluate(() => (window as unknown as { __doctor: unknown }).__doctor)) as {
    error: string;
    message: string;
  };
  expect(out.error).toBe('WebGPUUnavailableError');
  expect(out.message).toMatch(/navigator\.gpu is missing/);
});

// Runs the shared kernel cases (test/kernels/cases.ts) in the browser and publishes the results
// on window.__kernelResults for e2e/kernels.test.ts to assert on.
import { acquireDevice } from '../../src/gpu/device';
import { brokenKernelIsCaught } from '../../test/kernels/broken';
import { kernelCases } from '../../test/kernels/cases';

interface Result {
  name: string;
  ok: boolean;
  error?: string;
  /** Wall time of the case (compile included), for the suite's time budget. */
  ms?: number;
}

async function main(): Promise<{ caps: unknown; results: Result[] }> {
  const gpu = await acquireDevice();
  const results: Result[] = [];
  for (const c of kernelCases.filter((k) => !k.nodeOnly && !k.unavailable?.(gpu))) {
    const t0 = performance.now();
    try {
      await c.run(gpu);
      results.push({ name: c.name, ok: true, ms: performance.now() - t0 });
    } catch (e) {
      results.push({
        name: c.name,
        ok: false,
        error: String((e as Error).message),
        ms: performance.now() - t0,
      });
    }
  }
  for (const entry of ['skips_odd', 'off_by_one'] as const) {
    try {
      await brokenKernelIsCaught(gpu, entry);
      results.push({ name: `rig catches ${entry}`, ok: true });
    } catch (e) {
      results.push({ name: `rig catches ${entry}`, ok: false, error: String((e as Error).message) });
    }
  }
  return { caps: gpu.caps, results };
}

const log = document.getElementById('log')!;
main().then(
  (r) => {
    (window as unknown as { __kernelResults: unknown }).__kernelResults = r;
    log.textContent = r.results.map((x) => `${x.ok ? 'ok  ' : 'FAIL'} ${x.name} ${x.error ?? ''}`).join('\n');
  },
  (e) => {
    (window as unknown as { __kernelResults: unknown }).__kernelResults = { fatal: String(e?.message ?? e) };
    log.textContent = String(e?.stack ?? e);
  },
);

import { describe, expect, it } from 'vitest';
import { CalibContext } from '../../src/quant/calib';
import { GramAccumulator } from '../../src/quant/gram';
import { quantizeLinear } from '../../src/quant/index';
import { correlatedActivations, heavyWeights, makeRng } from './helpers';

/**
 * Timing prints for a 4096×4096 layer (not assertions: the numbers depend on the machine).
 * QUANT_TIMING=0 skips the slow part (GPTQ / clip at 4096).
 */
const full = (typeof process !== 'undefined' ? process.env.QUANT_TIMING : undefined) !== '0';

/** Wall and CPU seconds of fn (CPU time is what matters when other processes share the cores). */
function timed<T>(fn: () => T): { value: T; wall: number; cpu: number } {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const value = fn();
  const c = process.cpuUsage(c0);
  return { value, wall: (performance.now() - t0) / 1000, cpu: (c.user + c.system) / 1e6 };
}
const fmt = (t: { wall: number; cpu: number }) => `${t.wall.toFixed(1)} s (cpu ${t.cpu.toFixed(1)} s)`;

describe('timing 4096×4096', () => {
  const N = 4096;
  const K = 4096;
  const rng = makeRng(12345);
  const W = heavyWeights(rng, N, K);
  const mb = (N * K * 4) / 1e6;

  it('RTN throughput per scheme', () => {
    for (const scheme of ['f16', 'w4a8', 'w4a16', 'w2-4-16'] as const) {
      const t = timed(() => quantizeLinear(W, N, K, { scheme }));
      const q = t.value;
      console.log(
        `RTN ${scheme.padEnd(7)}: ${fmt(t)}, ${(mb / t.cpu).toFixed(0)} MB/s of f32 input per CPU second ` +
          `(incl. stats), ${q.bitsPerWeight.toFixed(3)} bits/weight, rms err ${q.stats.rmsError.toExponential(3)}`,
      );
      expect(q.bitsPerWeight).toBeGreaterThan(2);
    }
  }, 120_000);

  it.runIf(full)(
    'GPTQ and clip at T = 512',
    () => {
      const T = 512;
      const { X } = correlatedActivations(rng, T, K, { rank: 32, outliers: 8, outlierScale: 20 });
      const tGram = timed(() => {
        const acc = new GramAccumulator(K);
        for (let t = 0; t < T; t += 128) acc.add(X.subarray(t * K, (t + 128) * K), 128);
        return new CalibContext(acc.result(), K);
      });
      const ctx = tGram.value;
      const tChol = timed(() => ctx.gptqFactor());
      const tGptq = timed(() => quantizeLinear(W, N, K, { scheme: 'w4a8', method: 'gptq', calib: ctx }));
      console.log(
        `GPTQ w4a8 4096×4096, T=512: Gram ${fmt(tGram)} + Cholesky of H ${fmt(tChol)} (both once per input) ` +
          `+ GPTQ ${fmt(tGptq)}`,
      );
      const xctx = new CalibContext({ X, T }, K);
      const tClip = timed(() => quantizeLinear(W, N, K, { scheme: 'w4a8', method: 'clip', calib: xctx }));
      console.log(
        `clip w4a8 4096×4096, T=512 (rank 512): ${fmt(tClip)}, mean ratio ${tClip.value.stats.meanClipRatio?.toFixed(3)}`,
      );
      expect(tGptq.value.stats.rmsError).toBeGreaterThan(0);
    },
    600_000,
  );
});

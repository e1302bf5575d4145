import { CalibContext } from '../src/quant/calib';
import { GramAccumulator } from '../src/quant/gram';
import { quantizeLinear } from '../src/quant/index';
import { correlatedActivations, heavyWeights, makeRng } from '../test/quant/helpers';

/**
 * Quantizer speed on the CPU (the converter's cost): RTN per scheme, and GPTQ / clip search with
 * calibration, on one N×K layer of heavy-tailed synthetic weights. Reports CPU seconds, which is
 * what matters when other processes share the cores.
 */
function timed<T>(fn: () => T): { value: T; wall: number; cpu: number } {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const value = fn();
  const c = process.cpuUsage(c0);
  return { value, wall: (performance.now() - t0) / 1000, cpu: (c.user + c.system) / 1e6 };
}
const fmt = (t: { wall: number; cpu: number }) => `${t.wall.toFixed(1)} s (cpu ${t.cpu.toFixed(1)} s)`;

export function benchQuantizers(opts: {
  N: number;
  K: number;
  calibTokens: number;
  calibrated: boolean;
}): string[] {
  const { N, K } = opts;
  const rng = makeRng(12345);
  const W = heavyWeights(rng, N, K);
  const mb = (N * K * 4) / 1e6;
  const lines: string[] = [];
  for (const scheme of ['f16', 'w4a8', 'w4a16', 'w2-4-16'] as const) {
    const t = timed(() => quantizeLinear(W, N, K, { scheme }));
    lines.push(
      `RTN ${scheme.padEnd(7)} ${N}×${K}: ${fmt(t)}, ${(mb / t.cpu).toFixed(0)} MB/s of f32 input per CPU second, ` +
        `${t.value.bitsPerWeight.toFixed(3)} bits/weight, rms err ${t.value.stats.rmsError.toExponential(3)}`,
    );
  }
  if (opts.calibrated) {
    const T = opts.calibTokens;
    const { X } = correlatedActivations(rng, T, K, { rank: 32, outliers: 8, outlierScale: 20 });
    const tGram = timed(() => {
      const acc = new GramAccumulator(K);
      for (let t = 0; t < T; t += 128)
        acc.add(X.subarray(t * K, Math.min(T, t + 128) * K), Math.min(128, T - t));
      return new CalibContext(acc.result(), K);
    });
    const tChol = timed(() => tGram.value.gptqFactor());
    const tGptq = timed(() =>
      quantizeLinear(W, N, K, { scheme: 'w4a8', method: 'gptq', calib: tGram.value }),
    );
    lines.push(
      `GPTQ w4a8 ${N}×${K}, T=${T}: Gram ${fmt(tGram)} + Cholesky ${fmt(tChol)} (once per input) + GPTQ ${fmt(tGptq)}`,
    );
    const tClip = timed(() =>
      quantizeLinear(W, N, K, { scheme: 'w4a8', method: 'clip', calib: new CalibContext({ X, T }, K) }),
    );
    lines.push(
      `clip w4a8 ${N}×${K}, T=${T}: ${fmt(tClip)}, mean clip ratio ${tClip.value.stats.meanClipRatio?.toFixed(3)}`,
    );
  }
  return lines;
}

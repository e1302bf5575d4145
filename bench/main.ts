/**
 * `npm run bench`: benchmarks on the current WebGPU adapter (Node + Dawn). Results are printed as
 * tables and, with --out FILE, written as JSON. Figures are ratios to the read bandwidth measured
 * in the same run on the same device; a figure above that roofline is a measurement bug and aborts.
 *
 *   --suites bandwidth,decode,prefill,gemv,occupancy,gemm,attention,barrier,matrix,host,quant   which suites (default
 *                                          bandwidth,decode; prefill = a prompt by prefill chunk size
 *                                          (bench/prefill.ts, --chunks); gemv = per-layer kernel
 *                                          variants; occupancy = one kernel at 1 … 8 workgroups
 *                                          per SM (bench/occupancy.ts; --sms, default 132, the
 *                                          H100 SXM's); gemm = the prefill matmuls; attention = decode attention alone, with diagnostic
 *                                          variants; barrier = do workgroup barriers wait for
 *                                          loads in flight (bench/barrier.ts); matrix = the
 *                                          subgroup-matrix MMA ceiling (bench/matrix.ts); host = stalls
 *                                          of a decode-like encode / submit / read loop (bench/host-stalls.ts,
 *                                          malloc fastbins); quant = CPU
 *                                          quantizer speed; kernels = every
 *                                          kernel test case (test/kernels) on this adapter, to
 *                                          check kernels the CI adapters cannot run, e.g. matrix units;
 *                                          --kernels-matching TEXT: only cases whose name contains it)
 *   --gemv-variants 'tpr8 + norm;tpr16'   only these gemv / occupancy variants (exact names, separated
 *                                          by ';' — names may hold commas; an unknown name is an
 *                                          error; the gemv suite then skips its diagnostic rows)
 *   --shapes llama-3.2-1b,llama-2-7b --schemes w4a8,w4a16,w2-4-16
 *   --contexts 128,2048 --decode-tokens 128 --prefill-tokens 512 --chunks 64,128,256,512
 *   --prefill-max-context 2048             positions the prefill suite's sessions hold (default: prompt + 8)
 *   --variants default,unfused,quant-tpr8,...   kernel choices to compare (bench/decode.ts)
 *   --temperature 0.7 --top-p 0.95          time sampled decoding instead of greedy
 *   --forced-gc off|load|runs              full GCs in the decode suite: none (default), once per variant
 *                                          before its warm-up, or before every timed stream (bench/gc.ts)
 *   --dawn-features disable_robustness      extra Dawn toggles to enable (a diagnostic: what the
 *                                          bounds clamps WebGPU requires cost; browsers keep them).
 *                                          disable_workgroup_init times kernels without WGSL's
 *                                          zero-initialized workgroup memory: the 2/4/16 kernels
 *                                          with SCHED16 (the defaults with the norm) then compute
 *                                          wrong results — timings only
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { acquireDevice } from '../src/gpu/device';
import { STEP_PHASES } from '../src/model/gpu-model';
import { fastbinsState, runWithoutFastbins } from '../src/node/malloc-tunables';
import type { Scheme } from '../src/quant/types';
import { kernelCases } from '../test/kernels/cases';
import { type AttentionResult, benchAttention } from './attention';
import { measureBandwidth } from './bandwidth';
import { type BarrierResult, benchBarrier } from './barrier';
import { benchDecode, DECODE_VARIANTS, type DecodeResult, type ReadGap } from './decode';
import { FORCED_GC_MODES, type ForcedGc } from './gc';
import { benchGemm, type GemmResult } from './gemm';
import { benchGemv, type GemvResult, gemvVariantsFor } from './gemv';
import { benchHostStalls, type HostStallResult } from './host-stalls';
import { benchMatrixPeak, H100_INT8_PEAK, type MatrixPeakResult, matrixPeakSkipReason } from './matrix';
import { benchOccupancy, OCCUPANCY_K, type OccupancyResult } from './occupancy';
import { benchPrefill, type PrefillResult } from './prefill';
import { benchQuantizers } from './quantizers';
import { SHAPES } from './synthetic';

declare const __PAGELM_COMMIT__: string;

const list = (s: string) => s.split(',').filter(Boolean);

/** The variants among `all` named in `names` (all of them when null). */
function pickVariants<V extends { name: string }>(all: V[], names: string[] | null): V[] {
  return names ? all.filter((v) => names.includes(v.name)) : all;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      suites: { type: 'string', default: 'bandwidth,decode' },
      'kernels-matching': { type: 'string' },
      'buffer-mib': { type: 'string' },
      buffers: { type: 'string', default: '4' },
      shapes: {
        type: 'string',
        default: Object.keys(SHAPES)
          .filter((s) => s.startsWith('llama'))
          .join(','),
      },
      schemes: { type: 'string', default: 'w4a8,w4a16,w2-4-16' },
      contexts: { type: 'string', default: '128,2048' },
      'decode-tokens': { type: 'string', default: '128' },
      'prefill-tokens': { type: 'string', default: '512' },
      chunks: { type: 'string', default: '64,128,256,512' },
      'prefill-max-context': { type: 'string', default: '0' },
      variants: { type: 'string', default: 'default' },
      temperature: { type: 'string' },
      'top-p': { type: 'string' },
      'dawn-features': { type: 'string', default: '' },
      sms: { type: 'string', default: '132' },
      'gemv-variants': { type: 'string' },
      'forced-gc': { type: 'string', default: 'off' },
    },
  });
  const suites = new Set(list(values.suites));
  // --gemv-variants: names separated by ';' (gemv variant names may hold commas), checked below.
  const pickedNames = values['gemv-variants']
    ? values['gemv-variants']
        .split(';')
        .map((n) => n.trim())
        .filter(Boolean)
    : null;
  if (pickedNames) {
    const known = new Set(
      (['w4a8', 'w4a16', 'w2-4-16'] as Scheme[]).flatMap((s) => gemvVariantsFor(s).map((v) => v.name)),
    );
    const unknown = pickedNames.filter((n) => !known.has(n));
    if (unknown.length)
      throw new Error(`--gemv-variants: no gemv variant named ${unknown.map((n) => `'${n}'`).join(', ')}`);
  }
  if (suites.has('quant')) {
    console.log('quantizers (CPU)');
    for (const line of benchQuantizers({ N: 4096, K: 4096, calibTokens: 512, calibrated: true }))
      console.log(line);
    suites.delete('quant');
    if (suites.size === 0) return;
  }
  // allow_unsafe_apis: Dawn offers experimental features (subgroup matrices) only with it.
  const features = ['allow_unsafe_apis', ...list(values['dawn-features'])];
  const gpu = await acquireDevice({
    dawnToggles: [
      'disable-dawn-features=timestamp_quantization',
      `enable-dawn-features=${features.join(',')}`,
    ],
  });
  const software = gpu.caps.software;
  const device = gpu.caps.adapter.device || gpu.caps.adapter.description;
  const header = {
    device,
    date: new Date().toISOString(),
    commit: __PAGELM_COMMIT__,
    dawnFeatures: features,
    mallocFastbins: fastbinsState(),
  };
  console.log(
    `pagelm bench — ${device} — ${header.date} — commit ${header.commit} — Dawn: ${features.join(', ')} — malloc fastbins ${header.mallocFastbins ?? 'n/a'}`,
  );

  if (suites.has('kernels')) {
    // Correctness first: every kernel case against its CPU reference, on this adapter.
    let passed = 0;
    const failed: string[] = [];
    const skipped: string[] = [];
    const matching = values['kernels-matching'];
    for (const c of kernelCases) {
      if (matching && !c.name.includes(matching)) continue;
      const why = c.unavailable?.(gpu);
      if (why) {
        skipped.push(`${c.name}: ${why}`);
        continue;
      }
      try {
        await c.run(gpu);
        passed++;
      } catch (e) {
        failed.push(`${c.name}: ${(e as Error).message.slice(0, 1500)}`);
        // At once too: a run cut off by its time limit still shows what failed.
        console.log(`  FAIL ${failed[failed.length - 1]}`);
      }
    }
    console.log(`\nkernel cases: ${passed} passed, ${failed.length} failed, ${skipped.length} skipped`);
    for (const f of skipped) console.log(`  skip ${f}`);
    if (failed.length) process.exitCode = 1;
  }

  // The roofline is always measured: every other figure is a ratio to it.
  const bufferMiB = Number(values['buffer-mib'] ?? (software ? 16 : 256));
  const bandwidth = await measureBandwidth(gpu, bufferMiB, Number(values.buffers));
  const readGBs = bandwidth.find((b) => b.kernel === 'read')!.gbPerSecond;
  console.log('\nmemory bandwidth (rotating buffers, past L2)');
  console.log('kernel  buffers      GB/s   timing     spread');
  for (const r of bandwidth) {
    console.log(
      `${r.kernel.padEnd(7)} ${`${r.buffers}×${r.bufferMiB} MiB`.padEnd(12)} ${r.gbPerSecond.toFixed(1).padStart(8)}   ${r.method.padEnd(9)}  ${(100 * r.spread).toFixed(1)}%`,
    );
  }

  const decode: DecodeResult[] = [];
  if (suites.has('decode')) {
    const forcedGc = values['forced-gc'] as ForcedGc;
    if (!FORCED_GC_MODES.includes(forcedGc))
      throw new Error(`--forced-gc must be one of ${FORCED_GC_MODES.join(', ')}, got '${forcedGc}'`);
    const contexts = list(values.contexts).map(Number);
    console.log(
      `\nend to end (JS call → token id in JS, greedy sampling on the GPU), synthetic weights; ${{ off: 'no forced GC', load: 'a full GC after each model load (bench/gc.ts)', runs: 'a full GC before each timed stream (bench/gc.ts)' }[forcedGc]}`,
    );
    console.log(
      'shape          scheme    weights GB  prefill tok/s  ' +
        contexts.map((c) => `decode@${c} tok/s (roofline)`).join('  '),
    );
    for (const shape of list(values.shapes)) {
      for (const scheme of list(values.schemes) as Scheme[]) {
        for (const variant of list(values.variants)) {
          if (!(variant in DECODE_VARIANTS)) throw new Error(`unknown --variants entry '${variant}'`);
          const r = await benchDecode(gpu, shape, scheme, readGBs, {
            contexts,
            decodeTokens: Number(values['decode-tokens']),
            prefillTokens: Number(values['prefill-tokens']),
            variant,
            tuning: DECODE_VARIANTS[variant]?.tuning,
            kvCache: DECODE_VARIANTS[variant]?.kvCache,
            lookahead: DECODE_VARIANTS[variant]?.lookahead,
            paceReadback: DECODE_VARIANTS[variant]?.paceReadback,
            prefillPieces: DECODE_VARIANTS[variant]?.prefillPieces,
            settleMs: DECODE_VARIANTS[variant]?.settleMs,
            forcedGc,
            paceTimerSlackMs: DECODE_VARIANTS[variant]?.paceTimerSlackMs,
            sampling:
              values.temperature === undefined
                ? undefined
                : { temperature: Number(values.temperature), topP: Number(values['top-p'] ?? 1) },
          });
          decode.push(r);
          console.log(
            `${shape.padEnd(14)} ${`${scheme}${variant === 'default' ? '' : `/${variant}`}`.padEnd(9)} ${r.weightGB.toFixed(2).padStart(10)}  ${r.prefillTokensPerS.toFixed(0).padStart(13)}  ` +
              r.decode
                .map((d) =>
                  `${d.tokensPerS.toFixed(1).padStart(9)} (${(100 * d.rooflineFraction).toFixed(1)}%)`.padEnd(
                    30,
                  ),
                )
                .join('') +
              // GPU µs of one step at each context: the host-independent comparison of contexts.
              (r.decode[0].gpuStepSeconds === undefined
                ? ''
                : ` GPU step µs ${r.decode.map((d) => ((d.gpuStepSeconds ?? 0) * 1e6).toFixed(0)).join(' / ')}`),
          );
        }
      }
    }
  }
  const prefill: PrefillResult[] = [];
  if (suites.has('prefill')) {
    const tokens = Number(values['prefill-tokens']);
    console.log(
      `\nprefill of ${tokens} tokens by chunk size (bench/prefill.ts): JS-timed tok/s with the chunks back to back (the SDK's way), with a readback after every chunk, and the chunks' GPU time`,
    );
    console.log(
      'shape          scheme/variant          chunk    tok/s  read-each tok/s   GPU ms   GPU tok/s  context',
    );
    for (const shape of list(values.shapes)) {
      for (const scheme of list(values.schemes) as Scheme[]) {
        for (const variant of list(values.variants)) {
          if (!(variant in DECODE_VARIANTS)) throw new Error(`unknown --variants entry '${variant}'`);
          const rows = await benchPrefill(gpu, shape, scheme, {
            tokens,
            chunks: list(values.chunks).map(Number),
            maxContext: Number(values['prefill-max-context']),
            variant,
            tuning: DECODE_VARIANTS[variant]?.tuning,
            prefillPieces: DECODE_VARIANTS[variant]?.prefillPieces,
          });
          for (const r of rows) {
            prefill.push(r);
            console.log(
              `${shape.padEnd(14)} ${`${scheme}${variant === 'default' ? '' : `/${variant}`}`.padEnd(22)} ${String(r.chunk).padStart(6)} ${r.tokensPerS.toFixed(0).padStart(8)} ${r.readEveryChunkTokensPerS.toFixed(0).padStart(16)} ${(r.gpuSeconds * 1e3).toFixed(2).padStart(8)} ${(tokens / r.gpuSeconds).toFixed(0).padStart(11)} ${String(r.maxContext).padStart(8)}`,
            );
          }
        }
      }
    }
  }
  const gemvResults: GemvResult[] = [];
  if (suites.has('gemv')) {
    console.log('\nGEMV per layer shape (weights rotated past L2): µs, GB/s, fraction of read bandwidth');
    for (const shape of list(values.shapes)) {
      for (const scheme of list(values.schemes) as Scheme[]) {
        const variants = pickVariants(gemvVariantsFor(scheme), pickedNames);
        const rs = await benchGemv(gpu, shape, scheme, readGBs, variants, !pickedNames, (r) => {
          console.log(
            `${shape.padEnd(13)} ${r.layer.padEnd(8)} ${`${r.N}×${r.K}`.padEnd(12)} ${scheme.padEnd(8)} ${r.variant.padEnd(24)} ` +
              `${r.microseconds.toFixed(1).padStart(8)} µs ${r.gbPerSecond.toFixed(0).padStart(6)} GB/s ${(100 * r.rooflineFraction).toFixed(1).padStart(5)}%`,
          );
        });
        gemvResults.push(...rs);
      }
    }
  }
  const occupancyResults: OccupancyResult[] = [];
  if (suites.has('occupancy')) {
    const sms = Number(values.sms);
    if (!Number.isInteger(sms) || sms < 1) throw new Error(`--sms ${values.sms}: a positive integer`);
    console.log(
      `\noccupancy sweep, K ${OCCUPANCY_K}, 8 invocations per row (bench/occupancy.ts; ${sms} SMs): µs per dispatch by workgroups per SM`,
    );
    for (const scheme of list(values.schemes) as Scheme[]) {
      for (const r of await benchOccupancy(gpu, scheme, sms, pickedNames)) {
        occupancyResults.push(r);
        console.log(
          `${scheme.padEnd(8)} ${r.variant.padEnd(32)} ${String(r.perSm).padStart(2)}/SM ${String(r.workgroups).padStart(5)} WGs ${String(r.rows).padStart(6)} rows ${r.microseconds.toFixed(2).padStart(8)} µs ${r.gbPerSecond.toFixed(0).padStart(6)} GB/s`,
        );
      }
    }
  }
  const gemmResults: GemmResult[] = [];
  if (suites.has('gemm')) {
    const tokens = Number(values['prefill-tokens']);
    console.log(
      `\nprefill matmul, ${tokens} tokens: µs, int-ops/s (2·N·K·tokens), ratio to the 113 T dp4a peak (matrix units exceed it)`,
    );
    for (const shape of list(values.shapes)) {
      for (const scheme of list(values.schemes) as Scheme[]) {
        if (scheme !== 'w4a8' && scheme !== 'w4a16' && scheme !== 'w2-4-16') continue;
        for (const r of await benchGemm(gpu, shape, tokens, scheme)) {
          gemmResults.push(r);
          console.log(
            `${shape.padEnd(13)} ${r.layer.padEnd(8)} ${`${r.N}×${r.K}`.padEnd(12)} ${scheme.padEnd(8)} ${r.variant.padEnd(36)} ` +
              `${r.microseconds.toFixed(1).padStart(9)} µs ${(r.opsPerSecond / 1e12).toFixed(1).padStart(6)} T ${(100 * r.peakFraction).toFixed(1).padStart(5)}%`,
          );
        }
      }
    }
  }
  const attentionResults: AttentionResult[] = [];
  if (suites.has('attention')) {
    const contexts = list(values.contexts).map(Number);
    console.log(
      '\ndecode attention alone (a layer count of dispatches back to back): µs per layer, K/V GB/s',
    );
    for (const shape of list(values.shapes)) {
      for (const r of await benchAttention(gpu, shape, contexts)) {
        attentionResults.push(r);
        console.log(
          `${shape.padEnd(13)} ${r.variant.padEnd(28)} ctx ${String(r.context).padStart(5)} ${r.microseconds.toFixed(2).padStart(8)} µs ${r.gbPerSecond.toFixed(0).padStart(6)} GB/s`,
        );
      }
    }
  }
  const barrierResults: BarrierResult[] = [];
  if (suites.has('barrier')) {
    console.log('\nbarriers vs global loads in flight (bench/barrier.ts): µs per dispatch');
    // 132 workgroups: one per SM of the H100 (latency seen alone); 1056: eight per SM.
    for (const r of await benchBarrier(gpu, [32, 132, 384, 1056])) {
      barrierResults.push(r);
      console.log(
        `${String(r.workgroups).padStart(5)} workgroups  ${r.loads} loads  ${String(r.exchanges).padStart(2)} exchanges  ${r.order.padEnd(15)} ${r.microseconds.toFixed(2).padStart(8)} µs`,
      );
    }
  }
  let hostStalls: HostStallResult | undefined;
  if (suites.has('host')) {
    hostStalls = await benchHostStalls(gpu);
    const h = hostStalls;
    console.log(
      `\nhost stalls of a decode-like loop (bench/host-stalls.ts; malloc fastbins ${h.fastbins ?? 'n/a'}): ${h.steps} steps, beginComputePass median ${h.beginMedianMs.toFixed(3)} ms, max ${h.beginMaxMs.toFixed(2)} ms, ${h.beginOver2ms} over 2 ms (${h.beginOver2msTotalMs.toFixed(1)} ms in all); encode + submit median ${h.stepMedianMs.toFixed(3)} ms, max ${h.stepMaxMs.toFixed(2)} ms`,
    );
  }
  const matrixResults: MatrixPeakResult[] = [];
  if (suites.has('matrix')) {
    const why = matrixPeakSkipReason(gpu);
    if (why) {
      console.log(`\nmatrix: skipped — ${why}`);
    } else {
      console.log(
        `\nsubgroup-matrix ceiling, i8 16×16×32 (bench/matrix.ts): µs per dispatch, T int-ops/s (2·16·16·32 per MMA), share of the ${H100_INT8_PEAK / 1e12} T H100 INT8 peak`,
      );
      for (const r of await benchMatrixPeak(gpu)) {
        matrixResults.push(r);
        console.log(
          `${r.name.padEnd(20)} ${String(r.workgroupSize).padStart(3)} inv. ${String(r.workgroups).padStart(5)} workgroups ${r.microseconds.toFixed(2).padStart(9)} µs ${(r.opsPerSecond / 1e12).toFixed(1).padStart(7)} T ${(100 * r.peakFraction).toFixed(1).padStart(5)}%`,
        );
      }
    }
  }
  const traced = decode.filter((d) => d.decode.some((c) => c.stream));
  if (traced.length) {
    streamTable(
      'decode stream, one traced run per context (ms per step; every step timestamped): JS-timed vs GPU busy + idle',
      [
        'JS',
        'busy',
        'idle',
        'max idle',
        'first 4',
        'last 16',
        'read lat',
        'id→submit',
        'encode',
        'GCs/run',
        'GC ms/run',
        'max gap',
        'GC in it',
        'GC ms',
      ],
      traced,
      (c) => {
        const t = c.stream;
        return t
          ? [
              t.jsMs,
              t.busyMs,
              t.idleMs,
              t.maxIdleMs,
              t.firstBusyMs,
              t.lastBusyMs,
              t.readLatencyMs,
              t.turnaroundMs,
              c.hostEncodeMs ?? 0,
              // Collections during the timed runs (not the traced one).
              c.gcPerRun?.count ?? 0,
              c.gcPerRun?.ms ?? 0,
              // The traced run: its largest JS gap between ids, the GC inside it, all its GC.
              t.maxGapMs,
              t.gcInMaxGapMs,
              t.gcMs,
            ]
          : null;
      },
    );
    streamTable(
      'decode stream on one clock (ms; GPU timestamps moved onto the host clock by causality, ± align / 2): the stream = start + GPU span + end',
      [
        'stream',
        'start',
        'GPU span',
        'end',
        'late',
        'late max',
        'req late',
        'req after',
        'queued',
        'align',
        'GC start',
      ],
      traced,
      (c) => {
        const t = c.stream?.timeline;
        if (!t) return null;
        const last = t.steps[t.steps.length - 1];
        return [
          last.read,
          t.startMs,
          last.end - t.steps[0].begin,
          t.endMs,
          t.lateMs,
          t.lateMaxMs,
          t.requestLateMs,
          t.requestedAfterEnd,
          t.queuedMs,
          t.alignMs,
          c.stream?.gcInStartMs ?? 0,
        ];
      },
    );
  }
  const hosted = decode.filter((d) => d.decode.some((c) => c.hostSteps?.length));
  if (hosted.length) {
    console.log(
      `\ndecode streams on the host: the first and the slowest step of each (ms; phases ${STEP_PHASES.join(' / ')})`,
    );
    const phases = (ms: number[]) => ms.map((x) => x.toFixed(2)).join(' / ');
    for (const d of hosted) {
      for (const c of d.decode) {
        for (const [i, h] of (c.hostSteps ?? []).entries()) {
          const tokS = c.runsTokensPerS?.[i];
          console.log(
            `${runLabel(d)}${String(c.context).padStart(6)} ${h.stream.padEnd(7)}${tokS === undefined ? '' : ` ${tokS.toFixed(1)} tok/s`}  median step ${h.medianMs.toFixed(2)}  first (after ${h.firstDelayMs.toFixed(2)}) ${phases(h.firstMs)}  slowest #${h.slowest} ${phases(h.slowestMs)}${h.gcInSlowestMs > 0 ? ` (GC ${h.gcInSlowestMs.toFixed(2)})` : ''}${h.slowestSched.length ? ` [on CPU ${h.slowestSched[0].toFixed(2)}, runnable ${h.slowestSched[1].toFixed(2)}; first step ${h.firstSched[0].toFixed(2)}, ${h.firstSched[1].toFixed(2)}]` : ''}${gapText(h.widestGap)}`,
          );
        }
      }
    }
  }
  const prefillProfiled = decode.filter((d) => d.prefillProfile);
  if (prefillProfiled.length) {
    const tokens = Number(values['prefill-tokens']);
    console.log(
      `\nGPU time of one ${tokens}-token prefill by kernel family (ms; each kernel in its own timestamped pass)`,
    );
    const families = [...new Set(prefillProfiled.flatMap((d) => Object.keys(d.prefillProfile!)))];
    const label = (d: DecodeResult) =>
      `${d.shape.replace('llama-', '')} ${d.scheme}${d.variant === 'default' ? '' : `/${d.variant}`}`;
    console.log(`${'family'.padEnd(14)}${prefillProfiled.map((d) => label(d).padStart(30)).join('')}`);
    for (const f of [...families, 'total']) {
      const cell = (d: DecodeResult) => {
        const p = d.prefillProfile!;
        const v = f === 'total' ? Object.values(p).reduce((a, b) => a + b, 0) : (p[f] ?? 0);
        return (v * 1e3).toFixed(2).padStart(30);
      };
      console.log(`${f.padEnd(14)}${prefillProfiled.map(cell).join('')}`);
    }
  }
  const profiled = decode.filter((d) => d.profile);
  if (profiled.length) {
    console.log('\nGPU time per decode step by kernel family (µs; each kernel in its own timestamped pass)');
    const families = [...new Set(profiled.flatMap((d) => Object.keys(d.profile!)))];
    console.log(
      `${'family'.padEnd(14)}${profiled.map((d) => `${d.shape.replace('llama-', '')} ${d.scheme}${d.variant === 'default' ? '' : `/${d.variant}`}`.padStart(22)).join('')}`,
    );
    console.log(
      `${'one pass'.padEnd(14)}${profiled.map((d) => ((d.stepGpuSeconds ?? 0) * 1e6).toFixed(0).padStart(22)).join('')}   ← GPU time of a normal step (single pass)`,
    );
    console.log(
      `${'host encode'.padEnd(14)}${profiled.map((d) => ((d.hostEncodeMs ?? 0) * 1e3).toFixed(0).padStart(22)).join('')}   ← JS time to record a step's commands`,
    );
    console.log(
      `${'host submit'.padEnd(14)}${profiled.map((d) => ((d.hostSubmitMs ?? 0) * 1e3).toFixed(0).padStart(22)).join('')}   ← finish() + submit() of a step`,
    );
    console.log(
      `${'JS-timed'.padEnd(14)}${profiled.map((d) => (1e6 / d.decode[0].tokensPerS).toFixed(0).padStart(22)).join('')}   ← per token, from JS`,
    );
    console.log(
      `${'position'.padEnd(14)}${profiled.map((d) => String(d.profiledAt ?? '').padStart(22)).join('')}   ← keys attention reads in these profiles`,
    );
    console.log(
      `${'dispatches'.padEnd(14)}${profiled.map((d) => String(d.dispatches ?? '').padStart(22)).join('')}   ← per decode step`,
    );
    console.log(
      `${'encode alone'.padEnd(14)}${profiled.map((d) => ((d.encodeOnlyMs ?? 0) * 1e3).toFixed(0).padStart(22)).join('')}   ← the same, nothing else running`,
    );
    console.log(
      '  (per family: own pass | marginal = one-pass step time minus the step without it | added = the step with the family recorded twice minus the step)',
    );
    for (const f of [...families, 'total']) {
      const sum = (r: Record<string, number> | undefined) =>
        Object.values(r ?? {}).reduce((a, b) => a + b, 0);
      const cell = (d: DecodeResult) => {
        const own = f === 'total' ? sum(d.profile) : (d.profile![f] ?? 0);
        const marginal = f === 'total' ? sum(d.marginal) : (d.marginal?.[f] ?? 0);
        const added = f === 'total' ? sum(d.added) : (d.added?.[f] ?? 0);
        return `${(own * 1e6).toFixed(0)} | ${(marginal * 1e6).toFixed(0)} | ${(added * 1e6).toFixed(0)}`.padStart(
          22,
        );
      };
      console.log(`${f.padEnd(14)}${profiled.map(cell).join('')}`);
    }
  }
  if (values.out)
    writeFileSync(
      values.out,
      JSON.stringify(
        {
          ...header,
          bandwidth,
          decode,
          prefill,
          gemv: gemvResults,
          occupancy: occupancyResults,
          gemm: gemmResults,
          attention: attentionResults,
          barrier: barrierResults,
          matrix: matrixResults,
          hostStalls,
        },
        null,
        2,
      ),
    );
  gpu.device.destroy();
}

/** The widest gap between ids: its length, then when its step was submitted and mapped, from its start. */
function gapText(g: ReadGap | undefined): string {
  if (!g) return '';
  const at = (ms: number) => `${ms >= 0 ? '+' : ''}${ms.toFixed(2)}`;
  return `  widest id gap #${g.step} ${g.gapMs.toFixed(2)} (submitted ${at(g.submittedAtMs)}, map requested ${at(g.mapRequestedAtMs)}, map ${g.mapMs.toFixed(2)}${g.gcMs > 0 ? `, GC ${g.gcMs.toFixed(2)}${g.gcKinds ? `: ${g.gcKinds}` : ''}` : ''})`;
}

/** A decode result's row label: shape, scheme and (unless default) variant. */
function runLabel(d: DecodeResult): string {
  return `${d.shape} ${d.scheme}${d.variant === 'default' ? '' : `/${d.variant}`}`.padEnd(28);
}

/** A table of one row per decode result and context: `cells` gives the row's numbers, or null to skip it. */
function streamTable(
  title: string,
  headers: string[],
  results: DecodeResult[],
  cells: (c: DecodeResult['decode'][number]) => number[] | null,
): void {
  console.log(`\n${title}`);
  console.log(`${'run'.padEnd(28)}${'ctx'.padStart(6)}${headers.map((h) => h.padStart(10)).join('')}`);
  for (const d of results) {
    for (const c of d.decode) {
      const row = cells(c);
      if (row)
        console.log(
          `${runLabel(d)}${String(c.context).padStart(6)}${row.map((x) => x.toFixed(3).padStart(10)).join('')}`,
        );
    }
  }
}

// Fastbins off (src/node/malloc-tunables.ts): the JS-timed decode figures are the host's too.
runWithoutFastbins(main).then(
  (code) => process.exit(code),
  (e) => {
    console.error(`bench: ${(e as Error).stack ?? e}`);
    process.exit(1);
  },
);

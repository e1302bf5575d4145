import { readFileSync } from 'node:fs';
import { PerformanceObserver, constants as perfConstants } from 'node:perf_hooks';
import type { GpuContext } from '../src/gpu/device';
import { sleepMs } from '../src/gpu/readback-pacer';
import { TimestampQueries } from '../src/gpu/timestamps';
import { type KvFormat, kvRowBytes } from '../src/kernels/attention';
import {
  GpuModel,
  type GpuSession,
  type KernelTuning,
  STEP_PHASES,
  type StepTrace,
} from '../src/model/gpu-model';
import type { SamplingParams } from '../src/model/sampling-reference';
import type { Scheme } from '../src/quant/types';
import { collectGarbage, type ForcedGc } from './gc';
import { type StreamTimeline, streamTimeline } from './stream-timeline';
import { SHAPES, syntheticWeights } from './synthetic';
import { median } from './timer';

/**
 * End-to-end speed the way a user sees it: from the JS call to the token id back in JS,
 * sampling included (greedy), on synthetic weights in real shapes. Decode is compared with the
 * bandwidth roofline: bytes a token must read (every weight once + the KV cache so far) over the
 * read bandwidth measured in the same run.
 */
export interface DecodeResult {
  shape: string;
  scheme: Scheme;
  /** Kernel choices of this run (bench --variants). */
  variant: string;
  weightGB: number;
  prefillTokensPerS: number;
  decode: {
    context: number;
    tokensPerS: number;
    bytesPerToken: number;
    rooflineFraction: number;
    /**
     * GPU seconds of one decode step right after the timed run (median of 5 single-pass steps):
     * contexts compare by it without the host's run-to-run swings (JS-timed 7B figures moved
     * ±15% between processes on the H100 in session 7).
     */
    gpuStepSeconds?: number;
    /** tok/s of each timed run (tokensPerS is their median): a host stall shows as one low run. */
    runsTokensPerS?: number[];
    /** Host milliseconds to record one decode step's commands in the timed runs at this context. */
    hostEncodeMs?: number;
    /** One more run at this context with every step's GPU begin/end timestamped (traceStream). */
    stream?: StreamTrace;
    /** Garbage collections during the timed runs at this context, per run: count and ms paused. */
    gcPerRun?: { count: number; ms: number };
    /** Each stream's first and slowest step on the host (the 3 timed runs, then the traced one). */
    hostSteps?: HostSteps[];
  }[];
  /** Host milliseconds to record one decode step's commands (first context). */
  hostEncodeMs?: number;
  /** Host milliseconds of finish() + submit() for one decode step (Dawn's translation to the backend). */
  hostSubmitMs?: number;
  /** GPU seconds of one ordinary decode step (single pass) at the first context. */
  stepGpuSeconds?: number;
  /** GPU seconds per kernel family for one decode step at the first context (timestamp-query). */
  profile?: Record<string, number>;
  /** Host milliseconds to record a decode step with nothing else running (no submit, no GPU work). */
  encodeOnlyMs?: number;
  /** GPU seconds each family adds to a single-pass step (step time minus step time without it). */
  marginal?: Record<string, number>;
  /** GPU seconds of one prefill of prefillTokens by kernel family (own timestamped passes). */
  prefillProfile?: Record<string, number>;
  /** The session position (keys attention reads) at which the profiles were taken. */
  profiledAt?: number;
  /** GPU seconds each family's dispatches cost when recorded a second time (inside the chain). */
  added?: Record<string, number>;
  /** Dispatch count of one decode step. */
  dispatches?: number;
}

/**
 * Where a pipelined decode stream's time goes (milliseconds per step): tells a GPU kept busy
 * (JS time per token ≈ GPU busy time per step) from a GPU waiting on the host (idle gaps between
 * steps), and a step that runs slower in the stream than alone from one that does not.
 */
export interface StreamTrace {
  /** From the decodeStream call to the last id in JS, per token. */
  jsMs: number;
  /** Mean GPU time of a step's pass, begin to end. */
  busyMs: number;
  /** Mean GPU time from one step's end to the next step's begin. */
  idleMs: number;
  /** Largest such gap. */
  maxIdleMs: number;
  /** Mean busy time of the first 4 steps and of the last 16 (a slow start shows here). */
  firstBusyMs: number;
  lastBusyMs: number;
  /** Mean host time from step k's submit to its id read back in JS. */
  readLatencyMs: number;
  /** Mean host time from an id read back to the next step's submit (encode + submit). */
  turnaroundMs: number;
  /** Largest host time between two consecutive ids, and the GC pause inside that window. */
  maxGapMs: number;
  gcInMaxGapMs: number;
  /** GC pauses during the whole traced stream. */
  gcMs: number;
  /** Host and GPU times on one clock: where the wall time outside the GPU's span goes. */
  timeline: StreamTimeline;
  /** GC pause between the stream's call and its first pass beginning (timeline.startMs). */
  gcInStartMs: number;
  /** Its first and slowest step on the host. */
  hostSteps: HostSteps;
}

/**
 * A stream's steps on the host (GpuSession.hostPhases): the first step and the slowest, each
 * as milliseconds per phase (STEP_PHASES), to find which call a stalled step waited in.
 */
export interface HostSteps {
  stream: string;
  steps: number;
  /** From the stream's call to the first step's phases beginning. */
  firstDelayMs: number;
  firstMs: number[];
  /** Index of the step with the longest host time, its phases, and GC pause inside it. */
  slowest: number;
  slowestMs: number[];
  gcInSlowestMs: number;
  /** The main thread's ms on a CPU and waiting for one during the first and the slowest step (threadSchedMs). */
  firstSched: number[];
  slowestSched: number[];
  /** Median host time of a step. */
  medianMs: number;
  /** The widest gap between consecutive ids of the stream (GpuSession.hostReads), where recorded. */
  widestGap?: ReadGap;
}

/**
 * The widest gap between consecutive ids reaching JS (the first id: from the stream's call), on
 * the host's clock, and where it went: a stall between steps (sessions 16–17) lies here rather
 * than in a step's encode or submit.
 */
export interface ReadGap {
  /** The step whose id ended the gap. */
  step: number;
  gapMs: number;
  /** From the gap's start: when that step was submitted (≤ 0: queued ahead, as lookahead means). */
  submittedAtMs: number;
  /** From the gap's start: when its map was requested (after the pacer's sleep). */
  mapRequestedAtMs: number;
  /** Map requested → id read: the GPU's remaining work and the map's own latency. */
  mapMs: number;
  gcMs: number;
  /** The collections inside the gap, kind and ms each (where the caller can tell). */
  gcKinds: string;
}

/** Garbage collections seen inside a time window (observeGc()). */
export interface GcWindows {
  /** Milliseconds of pause inside [from, to]. */
  ms(from: number, to: number): number;
  /** The collections that overlap [from, to]: kind and ms each. */
  kinds(from: number, to: number): string;
}

/** ReadGap of a stream: `reads` as GpuSession.hostReads records them, `t0` the stream's call. */
export function widestReadGap(t0: number, reads: number[][], gc: GcWindows): ReadGap | undefined {
  let best: ReadGap | undefined;
  for (const [k, [submitted, requested, read]] of reads.entries()) {
    const from = k ? reads[k - 1][2] : t0;
    if (best && read - from <= best.gapMs) continue;
    best = {
      step: k,
      gapMs: read - from,
      submittedAtMs: submitted - from,
      mapRequestedAtMs: requested - from,
      mapMs: read - requested,
      gcMs: gc.ms(from, read),
      gcKinds: gc.kinds(from, read),
    };
  }
  return best;
}

/**
 * The main thread's scheduler statistics (Linux /proc/thread-self/schedstat): ms on a CPU, ms
 * runnable but waiting for one. A stalled call that gains neither was blocked (a lock, a page
 * fault, I/O); one that gains CPU time computed; one that gains run-queue time was preempted.
 * Empty where the file is missing.
 */
export function threadSchedMs(): number[] {
  try {
    const [cpu, wait] = readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ').map(Number);
    return [cpu / 1e6, wait / 1e6];
  } catch {
    return [];
  }
}

export function summarizeHostSteps(
  stream: string,
  t0: number,
  phases: number[][],
  gc: GcWindows,
  reads: number[][] = [],
): HostSteps {
  // Each entry: STEP_PHASES.length + 1 times, then the probe's numbers before and after the step.
  const n = STEP_PHASES.length + 1;
  const durations = (p: number[]) => p.slice(1, n).map((t, i) => t - p[i]);
  const total = (p: number[]) => p[n - 1] - p[0];
  const sched = (p: number[]) => {
    const probe = p.slice(n);
    const half = probe.length / 2;
    return probe.slice(half).map((x, i) => x - probe[i]);
  };
  let slowest = 0;
  for (let k = 1; k < phases.length; k++) if (total(phases[k]) > total(phases[slowest])) slowest = k;
  const none = phases.length === 0;
  return {
    stream,
    steps: phases.length,
    firstDelayMs: none ? 0 : phases[0][0] - t0,
    firstMs: none ? [] : durations(phases[0]),
    slowest,
    slowestMs: none ? [] : durations(phases[slowest]),
    gcInSlowestMs: none ? 0 : gc.ms(phases[slowest][0], phases[slowest][n - 1]),
    firstSched: none ? [] : sched(phases[0]),
    slowestSched: none ? [] : sched(phases[slowest]),
    medianMs: none ? 0 : median(phases.map(total)),
    widestGap: widestReadGap(t0, reads, gc),
  };
}

/** Node's GC entry kinds (perf_hooks constants NODE_PERFORMANCE_GC_*). */
const GC_KINDS: Record<number, string> = {
  [perfConstants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [perfConstants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [perfConstants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [perfConstants.NODE_PERFORMANCE_GC_WEAKCB]: 'weak callbacks',
};

/**
 * Garbage-collection pauses from now until stop(), on performance.now()'s clock: Node's host
 * stalls in a decode stream (see ReadbackPacer), counted and summed inside time windows.
 */
function observeGc() {
  const pauses: [number, number, string][] = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as { detail?: { kind?: number } }).detail?.kind ?? 0;
      pauses.push([e.startTime, e.startTime + e.duration, GC_KINDS[kind] ?? `kind ${kind}`]);
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return {
    /** Collections that started inside [from, to). */
    count: (from: number, to: number) => pauses.filter(([a]) => a >= from && a < to).length,
    /** Milliseconds of pause inside [from, to]. */
    ms: (from: number, to: number) =>
      pauses.reduce((sum, [a, b]) => sum + Math.max(0, Math.min(b, to) - Math.max(a, from)), 0),
    /** The collections that overlap [from, to]: kind and ms each ("major 3.81, minor 0.20"). */
    kinds: (from: number, to: number) =>
      pauses
        .filter(([a, b]) => b > from && a < to)
        .map(([a, b, kind]) => `${kind} ${(b - a).toFixed(2)}`)
        .join(', '),
    /** GC entries are delivered asynchronously: lets the pending ones arrive, then stops. */
    stop: async () => {
      await new Promise((r) => setTimeout(r, 0));
      observer.disconnect();
    },
  };
}

async function traceStream(session: GpuSession, steps: number): Promise<StreamTrace> {
  const { device } = session.model.gpu;
  const trace: StepTrace = {
    queries: new TimestampQueries(device, steps),
    next: 0,
    encoded: [],
    submitting: [],
    submitted: [],
    mapRequested: [],
    read: [],
  };
  session.stepTrace = trace;
  // GC pauses in the stream, to tell a host stall that is a collection from one that is not.
  const gc = observeGc();
  session.hostPhases = [];
  session.hostReads = [];
  // Only in the traced stream: two file reads per step would tax the timed runs.
  session.hostProbe = threadSchedMs;
  const t0 = performance.now();
  const phases = session.hostPhases;
  const reads = session.hostReads;
  try {
    await session.decodeStream(steps, () => true);
  } finally {
    session.stepTrace = null;
    session.hostPhases = null;
    session.hostReads = null;
    session.hostProbe = null;
  }
  const jsMs = (performance.now() - t0) / steps;
  await gc.stop();
  const enc = device.createCommandEncoder();
  trace.queries.resolve(enc);
  device.queue.submit([enc.finish()]);
  const spans = (await trace.queries.spans()).map(([b, e]) => [b * 1e3, e * 1e3]);
  trace.queries.destroy();
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const busy = spans.map(([b, e]) => e - b);
  const idle = spans.slice(1).map(([b], i) => b - spans[i][1]);
  const { submitted, read } = trace;
  // The step submitted after id k arrived is the one lookahead + 1 places later.
  const lag = session.lookahead + 1;
  let maxGap = 0;
  let gapAt = 0;
  for (let k = 1; k < read.length; k++) {
    if (read[k] - read[k - 1] > maxGap) [maxGap, gapAt] = [read[k] - read[k - 1], k];
  }
  const timeline = streamTimeline(
    t0,
    spans.map(([begin, end], k) => ({
      encoded: trace.encoded[k],
      submitting: trace.submitting[k],
      submitted: submitted[k],
      mapRequested: trace.mapRequested[k],
      read: read[k],
      begin,
      end,
    })),
  );
  return {
    jsMs,
    busyMs: mean(busy),
    idleMs: mean(idle),
    maxIdleMs: Math.max(0, ...idle),
    firstBusyMs: mean(busy.slice(0, 4)),
    lastBusyMs: mean(busy.slice(-16)),
    readLatencyMs: mean(read.map((r, k) => r - submitted[k])),
    turnaroundMs: mean(read.slice(0, -lag).map((r, k) => submitted[k + lag] - r)),
    maxGapMs: maxGap,
    gcInMaxGapMs: gapAt > 0 ? gc.ms(read[gapAt - 1], read[gapAt]) : 0,
    gcMs: gc.ms(t0, read[read.length - 1] ?? t0),
    timeline,
    gcInStartMs: gc.ms(t0, t0 + timeline.startMs),
    hostSteps: summarizeHostSteps('traced', t0, phases, gc, reads),
  };
}

export function randomIds(n: number, vocab: number): number[] {
  return Array.from({ length: n }, (_, i) => (i * 2654435761) % vocab);
}

export async function benchDecode(
  gpu: GpuContext,
  shape: string,
  scheme: Scheme,
  readGBs: number,
  opts: {
    contexts: number[];
    decodeTokens: number;
    prefillTokens: number;
    /** The variant's name (bench --variants) and what it sets. */
    variant?: string;
    tuning?: KernelTuning;
    kvCache?: KvFormat;
    lookahead?: number;
    paceReadback?: boolean;
    paceTimerSlackMs?: number;
    prefillPieces?: boolean;
    settleMs?: number;
    /** Forced full GCs (bench/gc.ts, bench --forced-gc): none (default), once after the model is
     *  loaded and before anything runs ('load'), or before every timed stream ('runs'). */
    forcedGc?: ForcedGc;
    /** Sampling instead of greedy (the chat page's way), seeded. */
    sampling?: SamplingParams;
  },
): Promise<DecodeResult> {
  const config = SHAPES[shape];
  const weights = syntheticWeights(config, scheme);
  const model = await GpuModel.load(gpu, weights);
  // Before the warm-up, so that the JIT's code for the step is made after the collection.
  if (opts.forcedGc === 'load') collectGarbage();
  // + room for the profiling steps after the timed decode.
  const maxContext = Math.max(...opts.contexts, opts.prefillTokens) + opts.decodeTokens + 32;
  // One chunk holds the whole timed prompt (profileStep times a single step of that many tokens).
  const maxChunk = Math.max(512, opts.prefillTokens);
  const session = await model.createSession({
    maxContext,
    maxChunk,
    tuning: opts.tuning,
    kvCache: opts.kvCache,
    lookahead: opts.lookahead,
    paceReadback: opts.paceReadback,
    paceTimerSlackMs: opts.paceTimerSlackMs,
    prefillPieces: opts.prefillPieces,
  });
  if (opts.sampling) session.setSampling(opts.sampling, 1);
  // Per token every linear weight is read once; an untied embedding table only one row.
  const perTokenWeights = weights.weightBytes - weights.tensorBytes('model.embed_tokens.weight');
  // K and V as the session stores them (f16 for quantized packs unless a variant asks for int8).
  const kvBytesPerPos =
    2 * config.numLayers * config.numKvHeads * kvRowBytes(config.headDim, session.kvCache);

  // Warm up: compile every pipeline, touch every buffer.
  await session.prefill(randomIds(8, config.vocabSize));
  await session.decode();

  // Prefill: one full-length run to warm up, then the median of 5 (a single ~0.05 s shot is at
  // the mercy of GPU clock ramp-up and host jitter: Llama-3.2-1B's moved 2× between runs).
  const prompt = randomIds(opts.prefillTokens, config.vocabSize);
  session.reset();
  await session.prefill(prompt);
  const prefillSeconds: number[] = [];
  for (let r = 0; r < 5; r++) {
    session.reset();
    const t = performance.now();
    await session.prefill(prompt);
    prefillSeconds.push((performance.now() - t) / 1e3);
  }
  const prefillTokensPerS = opts.prefillTokens / median(prefillSeconds);
  // GPU time of the prefill by kernel family (each kernel in its own timestamped pass).
  let prefillProfile: Record<string, number> | undefined;
  if (gpu.caps.features.timestampQuery) {
    session.reset();
    prefillProfile = await session.profileStep(opts.prefillTokens);
  }

  const decode: DecodeResult['decode'] = [];
  let profile: Record<string, number> | undefined;
  let stepGpuSeconds: number | undefined;
  let hostEncodeMs: number | undefined;
  let hostSubmitMs: number | undefined;
  let marginal: Record<string, number> | undefined;
  let added: Record<string, number> | undefined;
  let profiledAt: number | undefined;
  let dispatches: number | undefined;
  for (const context of opts.contexts) {
    // Median of 3 runs, each after a fresh prompt of `context` tokens.
    const runs: number[] = [];
    const encodes: number[] = [];
    // Collections during the timed streams (Node's host pauses: see ReadbackPacer).
    const gc = observeGc();
    const windows: [number, number][] = [];
    const runPhases: [number, number[][], number[][]][] = [];
    for (let r = 0; r < 3; r++) {
      session.reset();
      await session.prefill(randomIds(context, config.vocabSize));
      if (opts.forcedGc === 'runs') collectGarbage();
      await sleepMs(opts.settleMs ?? 0);
      session.hostPhases = [];
      session.hostReads = [];
      const t0 = performance.now();
      const host0 = { ...session.hostStats };
      await session.decodeStream(opts.decodeTokens, () => true);
      const t1 = performance.now();
      runPhases.push([t0, session.hostPhases, session.hostReads]);
      session.hostPhases = null;
      session.hostReads = null;
      windows.push([t0, t1]);
      const steps = session.hostStats.steps - host0.steps;
      encodes.push((session.hostStats.encodeMs - host0.encodeMs) / steps);
      hostSubmitMs ??= (session.hostStats.submitMs - host0.submitMs) / steps;
      runs.push((t1 - t0) / 1e3 / opts.decodeTokens);
    }
    await gc.stop();
    const hostSteps = runPhases.map(([t0, phases, reads], r) =>
      summarizeHostSteps(`run ${r + 1}`, t0, phases, gc, reads),
    );
    const gcPerRun = {
      count: windows.reduce((n, [a, b]) => n + gc.count(a, b), 0) / windows.length,
      ms: windows.reduce((n, [a, b]) => n + gc.ms(a, b), 0) / windows.length,
    };
    hostEncodeMs ??= encodes[0];
    let stream: StreamTrace | undefined;
    if (gpu.caps.features.timestampQuery) {
      session.reset();
      await session.prefill(randomIds(context, config.vocabSize));
      if (opts.forcedGc === 'runs') collectGarbage();
      await sleepMs(opts.settleMs ?? 0);
      stream = await traceStream(session, opts.decodeTokens);
      hostSteps.push(stream.hostSteps);
    }
    const secondsPerToken = median(runs);
    const bytesPerToken = perTokenWeights + kvBytesPerPos * (context + opts.decodeTokens / 2);
    const rooflineFraction = bytesPerToken / secondsPerToken / 1e9 / readGBs;
    if (rooflineFraction > 1.02) {
      throw new Error(
        `${shape} ${scheme}: ${(rooflineFraction * 100).toFixed(0)}% of the read roofline is a measurement bug`,
      );
    }
    let gpuStepSeconds: number | undefined;
    if (gpu.caps.features.timestampQuery) {
      const steps: number[] = [];
      for (let i = 0; i < 5; i++) steps.push(await session.timedDecode());
      gpuStepSeconds = median(steps);
    }
    decode.push({
      context,
      tokensPerS: 1 / secondsPerToken,
      bytesPerToken,
      rooflineFraction,
      gpuStepSeconds,
      runsTokensPerS: runs.map((r) => 1 / r),
      hostEncodeMs: median(encodes),
      stream,
      gcPerRun,
      hostSteps,
    });
    // Every profile is taken at the first context, right after its timed run: attention's cost
    // follows the position (session 3's "added" figures were taken after the last context,
    // ~2,176 positions, and read as context 128's).
    if (!profile && gpu.caps.features.timestampQuery) {
      const steps: number[] = [];
      for (let i = 0; i < 5; i++) steps.push(await session.timedDecode());
      stepGpuSeconds = median(steps);
      profile = await session.profileDecode();
      // Leaving families out corrupts the cache's newest rows: the next context starts afresh
      // (reset + prefill) anyway.
      const m = await session.marginalProfile();
      marginal = Object.fromEntries(Object.entries(m.without).map(([f, t]) => [f, m.full - t]));
      added = Object.fromEntries(Object.entries(m.twice).map(([f, t]) => [f, t - m.full]));
      profiledAt = session.position;
      // Counted where the profile was taken: attention's dispatches follow the position (one
      // below DECODE_WG keys, two past it), and the last context may be far longer.
      dispatches = await session.dispatchesPerStep(1);
    }
  }
  const encodeOnlyMs = await session.measureEncode();
  dispatches ??= await session.dispatchesPerStep(1);
  session.destroy();
  model.destroy();
  return {
    shape,
    scheme,
    variant: opts.variant ?? 'default',
    weightGB: weights.weightBytes / 1e9,
    prefillTokensPerS,
    prefillProfile,
    decode,
    profile,
    stepGpuSeconds,
    hostEncodeMs,
    hostSubmitMs,
    encodeOnlyMs,
    marginal,
    added,
    profiledAt,
    dispatches,
  };
}

/** Kernel variants by name for `--variants` (default = the session's defaults). */
/** What a `--variants` entry changes: kernel choices, or the KV-cache format. */
export interface DecodeVariant {
  tuning?: KernelTuning;
  kvCache?: KvFormat;
  /** Decode steps kept in flight beyond the one being read (SessionOptions.lookahead). */
  lookahead?: number;
  /** SessionOptions.paceReadback (default on in Node). */
  paceReadback?: boolean;
  /** SessionOptions.paceTimerSlackMs. */
  paceTimerSlackMs?: number;
  /** SessionOptions.prefillPieces (default on GPUs). */
  prefillPieces?: boolean;
  /**
   * Diagnostic: milliseconds the host sleeps between a stream's prompt and its first step (0):
   * tells a slow first step that waits on deferred work (gone after the sleep) from one that
   * the step itself causes.
   */
  settleMs?: number;
}

export const DECODE_VARIANTS: Record<string, DecodeVariant | undefined> = {
  default: undefined,
  unfused: { tuning: { fuseActivations: false } },
  'norm-tpr4': { tuning: { fusedThreadsPerRow: { norm: 4 } } },
  'gateup-tpr4': { tuning: { fusedThreadsPerRow: { gateUp: 4 } } },
  'gateup-tpr8': { tuning: { fusedThreadsPerRow: { gateUp: 8 } } },
  'gateup-tpr2': { tuning: { fusedThreadsPerRow: { gateUp: 2 } } },
  'gateup-tpr2-unroll8': { tuning: { fusedThreadsPerRow: { gateUp: 2 }, matmulUnroll: 8 } },
  'norm-tpr16': { tuning: { fusedThreadsPerRow: { norm: 16 } } },
  'norm-tpr32': { tuning: { fusedThreadsPerRow: { norm: 32 } } },
  'quant-tpr4': { tuning: { fusedThreadsPerRow: { quantize: 4 } } },
  'quant-tpr8': { tuning: { fusedThreadsPerRow: { quantize: 8 } } },
  'quant-tpr32': { tuning: { fusedThreadsPerRow: { quantize: 32 } } },
  'prefill-dp4a': { tuning: { prefillMatrixUnits: false } },
  'prefill-attn-split': { tuning: { prefillAttention: 'split' } },
  'prefill-attn-128': { tuning: { prefillAttention: 'tiled', prefillAttentionThreads: 128 } },
  'prefill-attn-sg': { tuning: { prefillAttention: 'subgroup' } },
  'prefill-attn-tiled': { tuning: { prefillAttention: 'tiled' } },
  'prefill-ktile64': { tuning: { prefillMatrixKTile: 64 } },
  'prefill-grid-1x1': { tuning: { prefillMatrixGrid: '1x1' } },
  'prefill-grid-2x2': { tuning: { prefillMatrixGrid: '2x2' } },
  'prefill-grid-4x2': { tuning: { prefillMatrixGrid: '4x2' } },
  // The matrix GEMM's lane-rotated staging stores (the default from session 10 to 18).
  'prefill-rotated-stores': { tuning: { prefillMatrixStageRotate: true } },
  'prefill-tpr8': { tuning: { prefillThreadsPerRow: 8 } },
  'prefill-block4': { tuning: { prefillTokenBlock: 4 } },
  'prefill-tpr16': { tuning: { prefillThreadsPerRow: 16 } },
  'prefill-tpr32': { tuning: { prefillThreadsPerRow: 32 } },
  'attn-partial': { tuning: { decodeAttention: 'partial' } },
  'attn-split': { tuning: { decodeAttention: 'split' } },
  'attn-decode': { tuning: { decodeAttention: 'decode' } },
  'attn-per-kv': { tuning: { decodeAttention: 'decode-per-kv' } },
  'attn-late-v': { tuning: { decodeAttention: 'decode-late-v' } },
  // The merge of split outputs before session 14 (a round trip per 8 splits).
  'merge-serial': { tuning: { attentionMerge: 'serial' } },
  // The split kernel's K loaded after q is staged (before session 15).
  'attn-k-after-q': { tuning: { attentionKFirst: false } },
  // The split kernel's V loads in P·V, after the softmax (before session 15; on GPUs they are
  // issued right after the Q·K dots).
  'attn-v-in-pv': { tuning: { attentionVAfterDots: false } },
  unroll2: { tuning: { matmulUnroll: 2 } },
  unroll4: { tuning: { matmulUnroll: 4 } },
  unroll8: { tuning: { matmulUnroll: 8 } },
  unroll16: { tuning: { matmulUnroll: 16 } },
  'int16-off': { tuning: { int16Activations: false } },
  // W4A8 decode: each row's scale read by its invocations, no staged table or its barrier (the
  // gemv suite's `scales per thread` rows, session 19; the default for per-channel scales since
  // session 20), and the staged table (the default before).
  'scales-per-thread': { tuning: { matmulScalesInShared: false } },
  'scales-staged': { tuning: { matmulScalesInShared: true } },
  // 2/4/16 decode matmuls at int8 activations (half the dot products; numerics differ).
  'w2-a8': { tuning: { w2DecodeActivationBits: 8 } },
  // 2/4/16 decode matmuls with 16-bit schedule entries in every kernel (the default has them
  // where they let more tiles fit an SM, w2TileDefaults in src/kernels/gemv.ts), and session 22's
  // tiles (none of them, the norm weights loaded with the row, 4 chunks in flight; at int8 the
  // norm weights stay late, as session 22 had them).
  'w2-s16': { tuning: { w2Schedule16: true } },
  'w2-a8-s16': { tuning: { w2DecodeActivationBits: 8, w2Schedule16: true } },
  'w2-s22-tiles': { tuning: { w2Schedule16: false, w2NormWeightsLate: false, matmulUnroll: 4 } },
  'w2-a8-s22-tiles': { tuning: { w2DecodeActivationBits: 8, w2Schedule16: false, matmulUnroll: 4 } },
  // W4A16 / 2/4/16 prefill with one token per workgroup (each staging its row), the token blocks' baseline.
  'prefill-per-token': { tuning: { int16PrefillBlocks: false } },
  // The KV cache as int8 rows with a scale per row (half f16's bytes) or as f16 (the default).
  'kv-int8': { kvCache: 'int8' },
  'kv-f16': { kvCache: 'f16' },
  // The int8 cache with split attention (auto's choice on GPUs since session 15), and with the
  // decode kernel at every length (auto's before).
  'kv-int8-split': { kvCache: 'int8', tuning: { decodeAttention: 'split' } },
  'kv-int8-decode': { kvCache: 'int8', tuning: { decodeAttention: 'decode' } },
  // Longer single-token splits past 256 keys (32 by default): f16 and int8 caches.
  'attn-split64': { tuning: { attentionDecodeSplit: 64 } },
  'attn-split128': { tuning: { attentionDecodeSplit: 128 } },
  'kv-int8-split64': { kvCache: 'int8', tuning: { attentionDecodeSplit: 64 } },
  'kv-int8-split128': { kvCache: 'int8', tuning: { attentionDecodeSplit: 128 } },
  // Deeper decode pipelining: 2 or 3 steps in flight beyond the one being read (default 1).
  lookahead2: { lookahead: 2 },
  lookahead3: { lookahead: 3 },
  // Ids read back as soon as each step is submitted (Dawn's Node binding spins meanwhile).
  'no-pacing': { paceReadback: false },
  // The pacer without timer slack (session 15's): sleeps of 75% of the step however short.
  'pace-no-slack': { paceTimerSlackMs: 0 },
  // A prefill chunk as one submit (before session 13: encoded whole before any GPU work).
  'prefill-one-submit': { prefillPieces: false },
  // 50 ms of host sleep between each stream's prompt and its first step (diagnostic).
  settle50: { settleMs: 50 },
};

import type { GpuContext } from '../src/gpu/device';
import { GpuModel, type KernelTuning } from '../src/model/gpu-model';
import type { Scheme } from '../src/quant/types';
import { randomIds } from './decode';
import { SHAPES, syntheticWeights } from './synthetic';
import { median } from './timer';

/**
 * A prompt of `tokens` prefilled the way the SDK does it, by chunk size (SessionOptions.maxChunk:
 * defaultPrefillChunk() — 64 before session 11, 512 with matrix units now; the decode suite times
 * one 512-token chunk). Per chunk size: JS-timed
 * tok/s of `session.prefill(prompt)` (the chunks submitted back to back, one readback at the end),
 * the same prompt with a readback after every chunk (how prefill ran before session 11: each
 * chunk waited for the previous one's id), and the GPU time of the chunks, each in its own
 * timestamped pass.
 */
export interface PrefillResult {
  shape: string;
  scheme: Scheme;
  variant: string;
  tokens: number;
  chunk: number;
  maxContext: number;
  /** session.prefill(prompt): chunks back to back (median of 5). */
  tokensPerS: number;
  /** One session.prefill per chunk, each awaiting its id (median of 5). */
  readEveryChunkTokensPerS: number;
  /** Σ of each chunk's GPU time (one timestamped pass per chunk; median of 3 prompts). */
  gpuSeconds: number;
}

export async function benchPrefill(
  gpu: GpuContext,
  shape: string,
  scheme: Scheme,
  opts: {
    tokens: number;
    chunks: number[];
    /** Positions the session holds (default tokens + 8; the SDK's default is 2048). */
    maxContext?: number;
    variant?: string;
    tuning?: KernelTuning;
    /** SessionOptions.prefillPieces. */
    prefillPieces?: boolean;
  },
): Promise<PrefillResult[]> {
  for (const c of opts.chunks) {
    if (!Number.isInteger(c) || c < 1) throw new Error(`prefill bench: chunk ${c} is not a whole number ≥ 1`);
  }
  const config = SHAPES[shape];
  const model = await GpuModel.load(gpu, syntheticWeights(config, scheme));
  const prompt = randomIds(opts.tokens, config.vocabSize);
  const out: PrefillResult[] = [];
  try {
    for (const chunk of opts.chunks) {
      const session = await model.createSession({
        maxContext: Math.max(opts.tokens + 8, opts.maxContext ?? 0),
        maxChunk: chunk,
        tuning: opts.tuning,
        prefillPieces: opts.prefillPieces,
      });
      try {
        // Warm up: every pipeline (the last chunk's token count too) and buffer.
        await session.prefill(prompt);
        const pipelined: number[] = [];
        const readEach: number[] = [];
        for (let r = 0; r < 5; r++) {
          session.reset();
          let t = performance.now();
          await session.prefill(prompt);
          pipelined.push((performance.now() - t) / 1e3);
          session.reset();
          t = performance.now();
          for (let i = 0; i < prompt.length; i += chunk) await session.prefill(prompt.slice(i, i + chunk));
          readEach.push((performance.now() - t) / 1e3);
        }
        const gpuRuns: number[] = [];
        if (gpu.caps.features.timestampQuery) {
          for (let r = 0; r < 3; r++) {
            session.reset();
            let sum = 0;
            for (let i = 0; i < prompt.length; i += chunk) {
              sum += await session.timedStep(Math.min(chunk, prompt.length - i));
            }
            gpuRuns.push(sum);
          }
        }
        out.push({
          shape,
          scheme,
          variant: opts.variant ?? 'default',
          tokens: opts.tokens,
          chunk,
          maxContext: session.maxContext,
          tokensPerS: opts.tokens / median(pipelined),
          readEveryChunkTokensPerS: opts.tokens / median(readEach),
          gpuSeconds: gpuRuns.length ? median(gpuRuns) : Number.NaN,
        });
      } finally {
        session.destroy();
      }
    }
  } finally {
    model.destroy();
  }
  return out;
}

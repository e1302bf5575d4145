/**
 * The generation loop of one request: prefill (reusing the cache), then decode token by token,
 * turning ids into text deltas (StreamDecoder: whole characters only), cutting at stop strings,
 * and checking the AbortSignal between tokens, so an abort takes effect within one token.
 */
import type { SamplingParams } from '../model/sampling-reference';
import type { TextTokenizer } from '../tokenizer/tokenizer';
import { AbortError } from './errors';
import type { KvCache } from './kv-cache';
import { StopMatcher } from './stop';
import type { FinishReason } from './types';

export interface GenerateInput {
  cache: KvCache;
  tokenizer: TextTokenizer;
  prompt: number[];
  eos: ReadonlySet<number>;
  /** Most new tokens (already capped to the room left in the context). */
  maxTokens: number;
  sampling: SamplingParams;
  seed: number;
  stop: readonly string[];
  signal?: AbortSignal;
  /** New text, as soon as it is final. */
  onText(delta: string): void;
}

export interface GenerateResult {
  text: string;
  finishReason: FinishReason;
  completionTokens: number;
  reused: number;
  prefilled: number;
  prefillSeconds: number;
  decodeSteps: number;
  decodeSeconds: number;
  /** performance.now() when the first token was known. */
  firstTokenAt: number;
}

function checkAbort(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError();
}

export async function generate(input: GenerateInput): Promise<GenerateResult> {
  const { cache, signal } = input;
  checkAbort(signal);
  cache.setSampling(input.sampling, input.seed);
  const decoder = input.tokenizer.streamDecoder({ skipSpecial: true });
  const stops = new StopMatcher(input.stop);
  let text = '';
  const emit = (delta: string) => {
    if (!delta) return;
    text += delta;
    input.onText(delta);
  };

  const t0 = performance.now();
  const { next: first, reused, prefilled } = await cache.prefill(input.prompt);
  const tPrefill = performance.now();
  let count = 0;
  let steps = 0;
  let finishReason: FinishReason = 'length';
  let aborted = false;
  // Takes one sampled id; false ends generation (EOS, a stop string, max tokens, abort).
  const accept = (id: number): boolean => {
    if (signal?.aborted) {
      aborted = true;
      return false;
    }
    // EOS ends the answer and is not part of it.
    if (input.eos.has(id)) {
      finishReason = 'stop';
      return false;
    }
    count++;
    const r = stops.push(decoder.push(id));
    emit(r.text);
    if (r.stopped) {
      finishReason = 'stop';
      return false;
    }
    if (signal?.aborted) {
      aborted = true;
      return false;
    }
    return count < input.maxTokens;
  };
  if (accept(first)) {
    await cache.decodeStream(first, input.maxTokens - count, (id) => {
      steps++;
      return accept(id);
    });
  }
  // Checked between tokens (in accept), so at most the step in flight finishes after an abort.
  if (aborted || signal?.aborted) throw new AbortError();
  const tEnd = performance.now();
  if (!stops.stopped) {
    const r = stops.push(decoder.flush());
    emit(r.text);
    if (r.stopped) finishReason = 'stop';
    else emit(stops.flush());
  }
  return {
    text,
    finishReason,
    completionTokens: count,
    reused,
    prefilled,
    prefillSeconds: (tPrefill - t0) / 1e3,
    decodeSteps: steps,
    decodeSeconds: (tEnd - tPrefill) / 1e3,
    firstTokenAt: tPrefill,
  };
}

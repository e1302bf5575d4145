/** OpenAI-shaped response objects, built from a generation result. */
import type { GenerateResult } from './generate';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  CompletionTiming,
  CompletionUsage,
  FinishReason,
} from './types';

export interface ResponseMeta {
  id: string;
  created: number;
  model: string;
}

export function newResponseMeta(model: string): ResponseMeta {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  const id = `chatcmpl-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
  return { id, created: Math.floor(Date.now() / 1000), model };
}

export function usageOf(promptTokens: number, r: GenerateResult): CompletionUsage {
  return {
    prompt_tokens: promptTokens,
    completion_tokens: r.completionTokens,
    total_tokens: promptTokens + r.completionTokens,
  };
}

export function timingOf(
  r: GenerateResult,
  extra: { startedAt: number; endedAt: number; dropped: number; recovered: boolean },
): CompletionTiming {
  return {
    reused_tokens: r.reused,
    prefill_tokens: r.prefilled,
    prefill_seconds: r.prefillSeconds,
    prefill_tokens_per_s: r.prefillSeconds > 0 ? r.prefilled / r.prefillSeconds : 0,
    time_to_first_token_s: (r.firstTokenAt - extra.startedAt) / 1e3,
    decode_tokens: r.decodeSteps,
    decode_seconds: r.decodeSeconds,
    decode_tokens_per_s: r.decodeSteps > 0 && r.decodeSeconds > 0 ? r.decodeSteps / r.decodeSeconds : null,
    total_seconds: (extra.endedAt - extra.startedAt) / 1e3,
    dropped_messages: extra.dropped,
    recovered_device: extra.recovered,
  };
}

export function contentChunk(meta: ResponseMeta, content: string, first: boolean): ChatCompletionChunk {
  return {
    id: meta.id,
    object: 'chat.completion.chunk',
    created: meta.created,
    model: meta.model,
    choices: [
      {
        index: 0,
        delta: first ? { role: 'assistant', content } : { content },
        finish_reason: null,
        logprobs: null,
      },
    ],
  };
}

export function finalChunk(
  meta: ResponseMeta,
  finishReason: FinishReason,
  usage: CompletionUsage,
  timing: CompletionTiming,
  first: boolean,
): ChatCompletionChunk {
  return {
    id: meta.id,
    object: 'chat.completion.chunk',
    created: meta.created,
    model: meta.model,
    choices: [
      { index: 0, delta: first ? { role: 'assistant' } : {}, finish_reason: finishReason, logprobs: null },
    ],
    usage,
    timing,
  };
}

export function completionOf(
  meta: ResponseMeta,
  content: string,
  finishReason: FinishReason,
  usage: CompletionUsage,
  timing: CompletionTiming,
): ChatCompletion {
  return {
    id: meta.id,
    object: 'chat.completion',
    created: meta.created,
    model: meta.model,
    choices: [
      { index: 0, message: { role: 'assistant', content }, finish_reason: finishReason, logprobs: null },
    ],
    usage,
    timing,
  };
}

/**
 * Checks an OpenAI-style request and turns it into what the generation loop needs. Unsupported
 * options that would change the answer (n > 1, presence/frequency penalties) are refused rather
 * than silently ignored; harmless ones (model, user, stream_options) are accepted.
 */
import type { GenerationDefaults } from '../format/checkpoint';
import type { SamplingParams } from '../model/sampling-reference';
import { InvalidRequestError } from './errors';
import type { ChatCompletionCreateParams, ContextOverflowPolicy } from './types';

export interface ResolvedRequest {
  sampling: SamplingParams;
  seed: number;
  /** Most new tokens the caller asked for (null: until EOS or the context is full). */
  maxTokens: number | null;
  stop: string[];
  policy: ContextOverflowPolicy;
}

const given = <T>(v: T | null | undefined): v is T => v !== undefined && v !== null;

function randomSeed(): number {
  const a = new Uint32Array(1);
  crypto.getRandomValues(a);
  return a[0];
}

export function resolveRequest(
  body: ChatCompletionCreateParams,
  defaults: GenerationDefaults,
  defaultPolicy: ContextOverflowPolicy,
): ResolvedRequest {
  const bad = (param: string, why: string): never => {
    throw new InvalidRequestError(param, `${param}: ${why}`);
  };
  if (!Array.isArray(body.messages) || body.messages.length === 0)
    bad('messages', 'give at least one message');
  body.messages.forEach((m, i) => {
    if (!m || typeof m.role !== 'string') bad(`messages[${i}].role`, 'must be a string');
    if (typeof m.content !== 'string') bad(`messages[${i}].content`, 'must be a string (text only)');
  });
  const num = (param: string, v: unknown, ok: (x: number) => boolean, why: string): number | null => {
    if (!given(v)) return null;
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) bad(param, why);
    return v as number;
  };
  const maxTokens =
    num('max_tokens', body.max_tokens, (x) => Number.isInteger(x) && x >= 1, 'must be an integer ≥ 1') ??
    num(
      'max_completion_tokens',
      body.max_completion_tokens,
      (x) => Number.isInteger(x) && x >= 1,
      'must be an integer ≥ 1',
    );
  const temperature = num('temperature', body.temperature, (x) => x >= 0, 'must be ≥ 0');
  const topP = num('top_p', body.top_p, (x) => x > 0 && x <= 1, 'must be in (0, 1]');
  const topK = num('top_k', body.top_k, (x) => Number.isInteger(x) && x >= 0, 'must be an integer ≥ 0');
  const penalty = num('repetition_penalty', body.repetition_penalty, (x) => x > 0, 'must be > 0');
  const seed = num('seed', body.seed, (x) => Number.isInteger(x), 'must be an integer');
  if (given(body.n) && body.n !== 1) bad('n', 'only n = 1 is supported');
  for (const p of ['frequency_penalty', 'presence_penalty'] as const) {
    if (given(body[p]) && body[p] !== 0) bad(p, 'not supported (use repetition_penalty)');
  }
  let stop: string[] = [];
  if (typeof body.stop === 'string') stop = [body.stop];
  else if (Array.isArray(body.stop)) stop = body.stop;
  else if (given(body.stop)) bad('stop', 'must be a string or an array of strings');
  if (stop.some((s) => typeof s !== 'string')) bad('stop', 'must be a string or an array of strings');
  const policy = body.context_overflow ?? defaultPolicy;
  if (policy !== 'error' && policy !== 'truncate') bad('context_overflow', "must be 'error' or 'truncate'");

  return {
    sampling: {
      // OpenAI's default temperature is 1; a pack's generation_config may say otherwise.
      temperature: temperature ?? defaults.temperature ?? 1,
      topP: topP ?? defaults.topP ?? 1,
      topK: topK ?? defaults.topK ?? 0,
      repetitionPenalty: penalty ?? defaults.repetitionPenalty ?? 1,
    },
    // The GPU sampler's mulberry32 state is 32 bits: negative or large seeds wrap, consistently.
    seed: seed === null ? randomSeed() : seed >>> 0,
    maxTokens,
    stop,
    policy,
  };
}

import { describe, expect, test } from 'vitest';
import { InvalidRequestError } from '../../src/sdk/errors';
import { resolveRequest } from '../../src/sdk/request';
import type { ChatCompletionCreateParams } from '../../src/sdk/types';

const messages = [{ role: 'user', content: 'hi' }];
const resolve = (extra: Partial<ChatCompletionCreateParams>, defaults = {}) =>
  resolveRequest({ messages, ...extra } as ChatCompletionCreateParams, defaults, 'error');

describe('resolveRequest', () => {
  test('OpenAI defaults, then the pack generation defaults, then the request', () => {
    const r = resolve({ seed: 5 });
    expect(r.sampling).toEqual({ temperature: 1, topP: 1, topK: 0, repetitionPenalty: 1 });
    expect(r).toMatchObject({ seed: 5, maxTokens: null, stop: [], policy: 'error' });
    expect(resolve({ seed: 1 }, { temperature: 0.6, topK: 40 }).sampling).toMatchObject({
      temperature: 0.6,
      topK: 40,
    });
    expect(
      resolve(
        { temperature: 0, top_p: 0.5, top_k: 3, repetition_penalty: 1.2, seed: 1 },
        { temperature: 0.6 },
      ).sampling,
    ).toEqual({ temperature: 0, topP: 0.5, topK: 3, repetitionPenalty: 1.2 });
  });

  test('max_tokens / max_completion_tokens, stop as string or list, policy override', () => {
    expect(resolve({ max_completion_tokens: 9 }).maxTokens).toBe(9);
    expect(resolve({ max_tokens: 4, max_completion_tokens: 9 }).maxTokens).toBe(4);
    expect(resolve({ stop: 'END' }).stop).toEqual(['END']);
    expect(resolve({ stop: ['a', 'b'] }).stop).toEqual(['a', 'b']);
    expect(resolve({ context_overflow: 'truncate' }).policy).toBe('truncate');
  });

  test('seeds: integers wrap to 32 bits; no seed gives a random one', () => {
    expect(resolve({ seed: -1 }).seed).toBe(0xffffffff);
    expect(resolve({ seed: 2 ** 32 + 3 }).seed).toBe(3);
    const seeds = new Set(Array.from({ length: 5 }, () => resolve({}).seed));
    expect(seeds.size).toBeGreaterThan(1);
  });

  test.each([
    [{ messages: [] }, 'messages'],
    [{ messages: [{ role: 'user', content: 3 }] }, 'messages[0].content'],
    [{ max_tokens: 0 }, 'max_tokens'],
    [{ max_tokens: 1.5 }, 'max_tokens'],
    [{ temperature: -1 }, 'temperature'],
    [{ top_p: 0 }, 'top_p'],
    [{ top_k: -2 }, 'top_k'],
    [{ repetition_penalty: 0 }, 'repetition_penalty'],
    [{ n: 2 }, 'n'],
    [{ presence_penalty: 0.5 }, 'presence_penalty'],
    [{ stop: [1] }, 'stop'],
    [{ context_overflow: 'wrap' }, 'context_overflow'],
  ])('refuses %j', (extra, param) => {
    try {
      resolve(extra as Partial<ChatCompletionCreateParams>);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(InvalidRequestError);
      expect((e as InvalidRequestError).param).toBe(param);
    }
  });
});

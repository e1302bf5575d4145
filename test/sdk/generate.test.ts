/**
 * The generation loop with a scripted cache (no GPU): EOS, max_tokens, stop strings and aborts,
 * counting the decode steps actually run.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, test } from 'vitest';
import { AbortError } from '../../src/sdk/errors';
import { type GenerateInput, generate } from '../../src/sdk/generate';
import type { KvCache } from '../../src/sdk/kv-cache';
import { TextTokenizer } from '../../src/tokenizer/tokenizer';
import { TINYSTORIES } from '../helpers/models';

let tok: TextTokenizer;
beforeAll(() => {
  tok = TextTokenizer.fromFiles({
    tokenizerJson: readFileSync(`${TINYSTORIES}/tokenizer.json`, 'utf8'),
    tokenizerConfigJson: readFileSync(`${TINYSTORIES}/tokenizer_config.json`, 'utf8'),
  });
});

/** A cache whose steps sample `script` in order; records the ids each step ran. */
function scripted(script: number[]) {
  const log = { prefills: [] as number[][], decodes: [] as number[], sampling: [] as unknown[] };
  let i = 0;
  const cache = {
    setSampling: (p: unknown, seed: number) => log.sampling.push({ p, seed }),
    prefill: async (prompt: number[]) => {
      log.prefills.push(prompt);
      return { next: script[i++], reused: 0, prefilled: prompt.length };
    },
    // Like GpuSession.decodeStream: a step runs the previous id and samples the next.
    decodeStream: async (first: number, maxSteps: number, onToken: (id: number) => boolean) => {
      let last = first;
      for (let k = 0; k < maxSteps; k++) {
        log.decodes.push(last);
        last = script[i++];
        if (!onToken(last)) return;
      }
    },
  } as unknown as KvCache;
  return { cache, log };
}

function input(cache: KvCache, extra: Partial<GenerateInput> = {}): GenerateInput {
  return {
    cache,
    tokenizer: tok,
    prompt: tok.encode('Once upon a time'),
    eos: new Set([2]),
    maxTokens: 100,
    sampling: { temperature: 0 },
    seed: 3,
    stop: [],
    onText: () => {},
    ...extra,
  };
}

const words = (text: string) => tok.encode(text, { addBos: false });

describe('generate', () => {
  test('runs until EOS; EOS is not part of the text; deltas add up to the text', async () => {
    const ids = words(', a little girl named Lily');
    const { cache, log } = scripted([...ids, 2, 99]);
    const deltas: string[] = [];
    const r = await generate(input(cache, { onText: (d) => deltas.push(d) }));
    expect(r.text).toBe(', a little girl named Lily');
    expect(deltas.join('')).toBe(r.text);
    expect(r).toMatchObject({ finishReason: 'stop', completionTokens: ids.length, decodeSteps: ids.length });
    // Each decode runs the id sampled by the step before it.
    expect(log.decodes).toEqual(ids);
    expect(log.sampling).toEqual([{ p: { temperature: 0 }, seed: 3 }]);
  });

  test('max tokens: the last token is sampled but never run', async () => {
    const ids = words(', a little girl named Lily');
    const { cache, log } = scripted(ids);
    const r = await generate(input(cache, { maxTokens: 3 }));
    expect(r).toMatchObject({ finishReason: 'length', completionTokens: 3, decodeSteps: 2 });
    expect(log.decodes).toEqual(ids.slice(0, 2));
    expect(r.text).toBe(tok.decode(ids.slice(0, 3)));
  });

  test('a stop string ends generation at once, without its text', async () => {
    const ids = words(', a little girl named Lily lived in a house');
    const { cache, log } = scripted(ids);
    const r = await generate(input(cache, { stop: [' named'] }));
    expect(r.text).toBe(', a little girl');
    expect(r.finishReason).toBe('stop');
    // Tokens span words here ('little▁girl▁named▁'): the stop shows up with token j, and
    // only the tokens before it were run.
    const j = ids.findIndex((_, k) => tok.decode(ids.slice(0, k + 1)).includes(' named'));
    expect(log.decodes).toEqual(ids.slice(0, j));
  });

  test('an abort stops within one token: no decode step starts after it', async () => {
    const ids = words(', a little girl named Lily lived in a small house with her mom');
    const { cache, log } = scripted(ids);
    const ctl = new AbortController();
    let seen = 0;
    let stepsAtAbort = -1;
    const run = generate(
      input(cache, {
        signal: ctl.signal,
        onText: () => {
          if (++seen === 3) {
            ctl.abort();
            stepsAtAbort = log.decodes.length;
          }
        },
      }),
    );
    await expect(run).rejects.toBeInstanceOf(AbortError);
    expect(stepsAtAbort).toBeGreaterThan(0);
    expect(log.decodes).toHaveLength(stepsAtAbort);
    // Aborted before it began: nothing runs at all.
    const s2 = scripted(ids);
    await expect(generate(input(s2.cache, { signal: AbortSignal.abort() }))).rejects.toBeInstanceOf(
      AbortError,
    );
    expect(s2.log.prefills).toHaveLength(0);
  });
});

/**
 * The in-page engine in Node on Dawn (lavapipe), on tinystories-656k converted to an f32 pack in
 * memory: the same code the page runs, minus the browser. The browser tests (e2e/sdk.test.ts)
 * repeat the important cases in Chromium and add the worker.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { convertCheckpoint } from '../../src/convert/convert';
import { MemoryPackSink } from '../../src/format/pack-writer';
import { createEngine } from '../../src/sdk/engine';
import { AbortError, ContextWindowExceeded, InvalidRequestError } from '../../src/sdk/errors';
import type { ChatCompletion, ChatCompletionChunk, Engine, LoadProgress } from '../../src/sdk/types';
import { tinystories } from '../helpers/packs';

const CONTINUATION = ', a little girl named Lily lived in a small house with her mom, dad, and her dog, Spot';

let files: Map<string, Uint8Array>;
let engine: Engine;
const progress: LoadProgress[] = [];

beforeAll(async () => {
  const sink = new MemoryPackSink();
  await convertCheckpoint(await tinystories(), sink, { scheme: 'f32' });
  files = sink.files;
  engine = createEngine();
  await engine.loadModel({
    source: { kind: 'memory', files, name: 'tinystories' },
    contextSize: 128,
    onProgress: (p) => progress.push(p),
  });
});
afterAll(() => engine?.dispose());

const user = (content: string) => ({ role: 'user', content });

describe('engine (Node + Dawn)', () => {
  test('greedy completion of a prompt is the transformers text; usage and timing', async () => {
    const r = await engine.chat.completions.create({
      messages: [user('Once upon a time')],
      temperature: 0,
      max_tokens: 24,
    });
    expect(r.choices[0].message.content.startsWith(CONTINUATION)).toBe(true);
    expect(r.choices[0].finish_reason).toBe('length');
    expect(r.usage).toEqual({ prompt_tokens: 6, completion_tokens: 24, total_tokens: 30 });
    expect(r.timing.prefill_tokens + r.timing.reused_tokens).toBe(6);
    expect(r.timing.decode_tokens).toBe(23);
    expect(r.timing.decode_tokens_per_s).toBeGreaterThan(0);
    expect(progress.at(-1)?.stage).toBe('ready');
    expect(progress.at(-1)?.loadedBytes).toBe(progress.at(-1)?.totalBytes);
  });

  test('streaming: chunks concatenate to the non-streamed text for the same seed', async () => {
    const body = {
      messages: [user('Once upon a time')],
      temperature: 0.8,
      top_p: 0.9,
      seed: 42,
      max_tokens: 30,
    };
    const whole = await engine.chat.completions.create(body);
    const stream = await engine.chat.completions.create({ ...body, stream: true });
    const chunks: ChatCompletionChunk[] = [];
    for await (const c of stream) chunks.push(c);
    const text = chunks.map((c) => c.choices[0].delta.content ?? '').join('');
    expect(text).toBe(whole.choices[0].message.content);
    expect(chunks.length).toBeGreaterThan(5);
    expect(chunks[0].choices[0].delta.role).toBe('assistant');
    const last = chunks.at(-1)!;
    expect(last.choices[0].finish_reason).toBe(whole.choices[0].finish_reason);
    expect(last.usage).toEqual(whole.usage);
    const again = await engine.chat.completions.create(body);
    expect(again.choices[0].message.content).toBe(whole.choices[0].message.content);
  });

  test('stop strings end the text before them', async () => {
    const r = await engine.chat.completions.create({
      messages: [user('Once upon a time')],
      temperature: 0,
      max_tokens: 40,
      stop: [' named'],
    });
    expect(r.choices[0].message.content).toBe(', a little girl');
    expect(r.choices[0].finish_reason).toBe('stop');
  });

  test('multi-turn: the second turn prefills only the new tokens, and answers as a fresh prefill would', async () => {
    await engine.resetChat();
    const first = await engine.chat.completions.create({
      messages: [user('Once upon a time')],
      temperature: 0,
      max_tokens: 12,
    });
    const turn2 = {
      messages: [
        user('Once upon a time'),
        { role: 'assistant', content: first.choices[0].message.content },
        user(' One day'),
      ],
      temperature: 0,
      max_tokens: 12,
    };
    const second = await engine.chat.completions.create(turn2);
    // The cache held the first prompt and all generated tokens but the last one.
    expect(second.timing.reused_tokens).toBe(first.usage.prompt_tokens + first.usage.completion_tokens - 1);
    expect(second.timing.prefill_tokens).toBe(second.usage.prompt_tokens - second.timing.reused_tokens);
    await engine.resetChat();
    const fresh = await engine.chat.completions.create(turn2);
    expect(fresh.timing.reused_tokens).toBe(0);
    expect(fresh.choices[0].message.content).toBe(second.choices[0].message.content);
  });

  test('abort mid-stream, then the next request works', async () => {
    const ctl = new AbortController();
    const stream = await engine.chat.completions.create(
      { messages: [user('Once upon a time')], temperature: 0, max_tokens: 100, stream: true },
      { signal: ctl.signal },
    );
    let n = 0;
    const run = async () => {
      for await (const _ of stream) if (++n === 3) ctl.abort();
    };
    await expect(run()).rejects.toBeInstanceOf(AbortError);
    expect(n).toBeLessThanOrEqual(4);
    const r = await engine.chat.completions.create({
      messages: [user('Once upon a time')],
      temperature: 0,
      max_tokens: 24,
    });
    expect(r.choices[0].message.content.startsWith(CONTINUATION)).toBe(true);
  });

  test('requests queue; aborting a queued one rejects it at once without disturbing the running one', async () => {
    const body = { messages: [user('Once upon a time')], temperature: 0, max_tokens: 40 };
    const running = engine.chat.completions.create(body);
    const ctl = new AbortController();
    const queued = engine.chat.completions.create({ ...body, stream: true }, { signal: ctl.signal });
    ctl.abort();
    await expect(queued).rejects.toBeInstanceOf(AbortError);
    const r = await running;
    expect(r.usage.completion_tokens).toBe(40);
    expect(r.choices[0].message.content.startsWith(CONTINUATION)).toBe(true);
  });

  test('context window: typed error by default, truncation on request', async () => {
    const long = 'Once upon a time there was a dog. '.repeat(20);
    await expect(
      engine.chat.completions.create({ messages: [user(long)], max_tokens: 8 }),
    ).rejects.toBeInstanceOf(ContextWindowExceeded);
    const r = await engine.chat.completions.create({
      messages: [user(long), user(long), user('Once upon a time')],
      temperature: 0,
      max_tokens: 8,
      context_overflow: 'truncate',
    });
    expect(r.timing.dropped_messages).toBe(2);
    expect(r.usage.prompt_tokens).toBe(6);
    await expect(engine.chat.completions.create({ messages: [user('x')], top_p: 2 })).rejects.toBeInstanceOf(
      InvalidRequestError,
    );
  });

  test('device loss: the next request recovers and gives the same answer', async () => {
    const body = { messages: [user('Once upon a time')], temperature: 0.7, seed: 7, max_tokens: 20 };
    const before: ChatCompletion = await engine.chat.completions.create(body);
    await engine.testing.loseDevice();
    const after = await engine.chat.completions.create(body);
    expect(after.timing.recovered_device).toBe(true);
    expect(after.choices[0].message.content).toBe(before.choices[0].message.content);
    // (Loss during generation is tested in Chromium, e2e/sdk.test.ts. In Node the speculative step
    // that GpuSession.decodeStream leaves in flight rejects unobserved, which vitest counts as an error.)
    const again = await engine.chat.completions.create(body);
    expect(again.timing.recovered_device).toBe(false);
    expect(again.choices[0].message.content).toBe(before.choices[0].message.content);
  });
});

/**
 * The worker protocol without a worker or a GPU: the page proxy (createWorkerEngine) and the host
 * (serveEngine) joined by a MessageChannel, around a scripted fake engine. Checks that calls,
 * progress, streamed chunks, errors (as their own classes) and aborts cross the boundary.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { FormatError } from '../../src/format/errors';
import { AbortError, ContextWindowExceeded, DeviceLostError, EngineClosedError } from '../../src/sdk/errors';
import {
  deserializeError,
  isFromWorker,
  isToWorker,
  PROTOCOL_TAG,
  serializeError,
} from '../../src/sdk/protocol';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionCreateParams,
  ChatCompletionStream,
  Engine,
  LoadModelOptions,
  LoadReport,
  RequestOptions,
} from '../../src/sdk/types';
import { createWorkerEngine, type WorkerLike } from '../../src/sdk/worker-engine';
import { serveEngine } from '../../src/sdk/worker-host';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const chunk = (content: string, finish: 'stop' | null = null): ChatCompletionChunk => ({
  id: 'c',
  object: 'chat.completion.chunk',
  created: 0,
  model: 'fake',
  choices: [{ index: 0, delta: { content }, finish_reason: finish, logprobs: null }],
});

/** A fake engine: streams the words of the last message, one every 5 ms, honouring the signal. */
class FakeEngine implements Engine {
  calls: string[] = [];
  aborted = 0;
  readonly testing = { loseDevice: async () => void this.calls.push('loseDevice') };
  readonly chat = {
    completions: {
      create: ((body: ChatCompletionCreateParams, opts: RequestOptions = {}) =>
        this.create(body, opts.signal)) as Engine['chat']['completions']['create'],
    },
  };

  async loadModel(options: LoadModelOptions): Promise<LoadReport> {
    this.calls.push(`load:${options.source.kind}`);
    if (options.source.kind === 'url' && options.source.url === 'bad') {
      throw new FormatError('bad/manifest.json', 'missing');
    }
    for (let i = 1; i <= 3; i++) {
      options.onProgress?.({
        stage: 'weights',
        loadedBytes: i * 10,
        totalBytes: 30,
        tensorsLoaded: i,
        tensorsTotal: 3,
        seconds: i,
      });
    }
    return { model: 'fake', contextSize: 64 } as LoadReport;
  }
  async resetChat() {
    this.calls.push('reset');
  }
  async unload() {
    this.calls.push('unload');
  }
  async dispose() {
    this.calls.push('dispose');
  }

  private async create(body: ChatCompletionCreateParams, signal?: AbortSignal) {
    const words = body.messages.at(-1)!.content.split(' ');
    if (words[0] === 'overflow') throw new ContextWindowExceeded(100, 10, 64);
    if (body.stream) {
      const self = this;
      async function* gen() {
        for (const w of words) {
          await sleep(5);
          if (signal?.aborted) {
            self.aborted++;
            throw new AbortError();
          }
          if (w === 'lost') throw new DeviceLostError('destroyed', 'gone');
          yield chunk(w);
        }
        yield chunk('', 'stop');
      }
      const it = gen();
      return { [Symbol.asyncIterator]: () => it, abort() {} } satisfies ChatCompletionStream;
    }
    for (const _ of words) {
      await sleep(5);
      if (signal?.aborted) {
        this.aborted++;
        throw new AbortError();
      }
    }
    return {
      object: 'chat.completion',
      choices: [{ message: { content: words.join('|') } }],
    } as ChatCompletion;
  }
}

let ports: MessagePort[] = [];
afterEach(() => {
  for (const p of ports) p.close();
  ports = [];
});

function connect(): { fake: FakeEngine; engine: Engine } {
  const { port1, port2 } = new MessageChannel();
  ports.push(port1, port2);
  const fake = new FakeEngine();
  serveEngine(port2 as unknown as Parameters<typeof serveEngine>[0], fake);
  const engine = createWorkerEngine(port1 as unknown as WorkerLike);
  return { fake, engine };
}

describe('protocol messages', () => {
  test('type guards accept tagged messages only', () => {
    expect(isToWorker({ tag: PROTOCOL_TAG, id: 1, op: 'chat', body: {} })).toBe(true);
    expect(isToWorker({ tag: PROTOCOL_TAG, id: 1, op: 'rm -rf' })).toBe(false);
    expect(isToWorker({ id: 1, op: 'chat' })).toBe(false);
    expect(isFromWorker({ tag: PROTOCOL_TAG, id: 2, kind: 'chunk', chunk: {} })).toBe(true);
    expect(isFromWorker({ tag: PROTOCOL_TAG, id: 'x', kind: 'done' })).toBe(false);
    expect(isFromWorker('hello')).toBe(false);
  });

  test('errors keep their class, name, message and fields through structured clone', () => {
    const e = new ContextWindowExceeded(100, 10, 64);
    const back = deserializeError(structuredClone(serializeError(e)));
    expect(back).toBeInstanceOf(ContextWindowExceeded);
    expect(back).toBeInstanceOf(Error);
    expect(back.name).toBe('ContextWindowExceeded');
    expect(back.message).toBe(e.message);
    expect(back).toMatchObject({ promptTokens: 100, requestedTokens: 10, contextSize: 64 });
    const f = deserializeError(structuredClone(serializeError(new FormatError('a.bin', 'truncated', 't'))));
    expect(f).toBeInstanceOf(FormatError);
    expect(f).toMatchObject({ file: 'a.bin', reason: 'truncated', tensor: 't' });
    const unknown = deserializeError(
      serializeError(Object.assign(new Error('x'), { name: 'OperationError' })),
    );
    expect(unknown.name).toBe('OperationError');
    expect(deserializeError(serializeError('plain string')).message).toBe('plain string');
  });
});

describe('worker engine over a MessageChannel', () => {
  test('loadModel forwards progress and returns the report', async () => {
    const { fake, engine } = connect();
    const seen: number[] = [];
    const report = await engine.loadModel({
      source: { kind: 'memory', files: new Map([['a', new Uint8Array([1, 2])]]) },
      onProgress: (p) => seen.push(p.loadedBytes),
    });
    expect(report).toMatchObject({ model: 'fake', contextSize: 64 });
    expect(seen).toEqual([10, 20, 30]);
    expect(fake.calls).toEqual(['load:memory']);
  });

  test('errors arrive as their own classes', async () => {
    const { engine } = connect();
    await expect(engine.loadModel({ source: { kind: 'url', url: 'bad' } })).rejects.toBeInstanceOf(
      FormatError,
    );
    const err = await engine.chat.completions
      .create({ messages: [{ role: 'user', content: 'overflow now' }] })
      .catch((e) => e);
    expect(err).toBeInstanceOf(ContextWindowExceeded);
    expect(err.contextSize).toBe(64);
    // A streamed request that fails before it starts rejects the create() promise itself.
    await expect(
      engine.chat.completions.create({ messages: [{ role: 'user', content: 'overflow' }], stream: true }),
    ).rejects.toBeInstanceOf(ContextWindowExceeded);
  });

  test('non-streamed and streamed completions', async () => {
    const { engine } = connect();
    const r = await engine.chat.completions.create({ messages: [{ role: 'user', content: 'a b c' }] });
    expect(r.choices[0].message.content).toBe('a|b|c');
    const stream = await engine.chat.completions.create({
      messages: [{ role: 'user', content: 'a b c' }],
      stream: true,
    });
    const got: string[] = [];
    for await (const c of stream) got.push(c.choices[0].delta.content ?? '');
    expect(got).toEqual(['a', 'b', 'c', '']);
  });

  test('a failure mid-stream ends the stream with that error', async () => {
    const { engine } = connect();
    const stream = await engine.chat.completions.create({
      messages: [{ role: 'user', content: 'a lost b' }],
      stream: true,
    });
    const got: string[] = [];
    const run = async () => {
      for await (const c of stream) got.push(c.choices[0].delta.content ?? '');
    };
    await expect(run()).rejects.toBeInstanceOf(DeviceLostError);
    expect(got).toEqual(['a']);
  });

  test('AbortSignal: the stream rejects with AbortError, the worker stops, the next call works', async () => {
    const { fake, engine } = connect();
    const ctl = new AbortController();
    const stream = await engine.chat.completions.create(
      { messages: [{ role: 'user', content: 'w '.repeat(50) }], stream: true },
      { signal: ctl.signal },
    );
    let n = 0;
    const run = async () => {
      for await (const _ of stream) if (++n === 3) ctl.abort();
    };
    await expect(run()).rejects.toBeInstanceOf(AbortError);
    expect(n).toBe(3);
    await sleep(30);
    expect(fake.aborted).toBe(1);
    const r = await engine.chat.completions.create({ messages: [{ role: 'user', content: 'x y' }] });
    expect(r.choices[0].message.content).toBe('x|y');
  });

  test('AbortSignal on a non-streamed call, and leaving a stream early, both stop the worker', async () => {
    const { fake, engine } = connect();
    const ctl = new AbortController();
    const p = engine.chat.completions.create(
      { messages: [{ role: 'user', content: 'w '.repeat(50) }] },
      { signal: ctl.signal },
    );
    setTimeout(() => ctl.abort(), 20);
    await expect(p).rejects.toBeInstanceOf(AbortError);
    const stream = await engine.chat.completions.create({
      messages: [{ role: 'user', content: 'w '.repeat(50) }],
      stream: true,
    });
    for await (const _ of stream) break;
    await sleep(40);
    expect(fake.aborted).toBe(2);
    // An already-aborted signal never reaches the worker.
    await expect(
      engine.chat.completions.create(
        { messages: [{ role: 'user', content: 'x' }] },
        { signal: AbortSignal.abort() },
      ),
    ).rejects.toBeInstanceOf(AbortError);
  });

  test('resetChat, unload, loseDevice and dispose are forwarded; calls after dispose fail', async () => {
    const { fake, engine } = connect();
    await engine.resetChat();
    await engine.unload();
    await engine.testing.loseDevice();
    await engine.dispose();
    expect(fake.calls).toEqual(['reset', 'unload', 'loseDevice', 'dispose']);
    await expect(engine.resetChat()).rejects.toBeInstanceOf(EngineClosedError);
  });
});

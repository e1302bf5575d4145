/**
 * The page side of an engine that runs in a Web Worker: the same Engine interface, each call sent
 * as a protocol message (protocol.ts), streamed chunks delivered as they arrive. The page thread
 * only posts and receives small messages, so the UI stays responsive while the worker decodes.
 *
 * Aborting a call settles it on the page at once (AbortError) and tells the worker, which stops
 * generating within one token; anything the worker still sends for that call is dropped.
 */
import { Channel } from './channel';
import { AbortError, EngineClosedError } from './errors';
import { deserializeError, type FromWorker, isFromWorker, PROTOCOL_TAG, type ToWorker } from './protocol';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionCreateParams,
  ChatCompletionStream,
  ChatCompletions,
  Engine,
  LoadModelOptions,
  LoadReport,
  RequestOptions,
} from './types';
import type { PortLike } from './worker-host';

/** A Worker, or anything with its messaging methods (a MessagePort in tests). */
export interface WorkerLike extends PortLike {
  terminate?(): void;
  addEventListener(type: 'message', listener: (event: MessageEvent) => void): void;
  addEventListener(type: 'error', listener: (event: ErrorEvent) => void): void;
}

interface Pending {
  progress?(p: Extract<FromWorker, { kind: 'progress' }>['progress']): void;
  started?(): void;
  chunk?(c: ChatCompletionChunk): void;
  done(value: unknown): void;
  error(e: Error): void;
}

type Call = ToWorker extends infer T ? (T extends unknown ? Omit<T, 'tag' | 'id'> : never) : never;

/**
 * An engine in a Web Worker. Without an argument, starts pagelm's own worker (src/sdk/worker.ts,
 * bundled with the library); pass a Worker to use one you made (e.g. one that calls serveEngine
 * with your own options).
 */
export function createWorkerEngine(worker?: WorkerLike): Engine {
  return new WorkerEngine(worker ?? defaultWorker());
}

function defaultWorker(): WorkerLike {
  return new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name: 'pagelm' });
}

class WorkerEngine implements Engine {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private closed: Error | null = null;

  readonly chat: { readonly completions: ChatCompletions };
  readonly testing = {
    loseDevice: async (): Promise<void> => {
      await this.call({ op: 'loseDevice' });
    },
  };

  constructor(private readonly worker: WorkerLike) {
    worker.addEventListener('message', (event: MessageEvent) => this.onMessage(event.data));
    // A worker whose script fails to load or throws at top level reports it here, and never answers.
    worker.addEventListener('error', (event: ErrorEvent) => {
      this.close(new EngineClosedError(`The pagelm worker failed: ${event.message || 'script error'}`));
    });
    worker.start?.();
    const create = (body: ChatCompletionCreateParams, opts: RequestOptions = {}) =>
      body?.stream ? this.stream(body, opts.signal) : this.complete(body, opts.signal);
    this.chat = { completions: { create } as ChatCompletions };
  }

  loadModel(options: LoadModelOptions): Promise<LoadReport> {
    const { onProgress, ...rest } = options;
    return this.call(
      { op: 'load', options: rest, progress: onProgress !== undefined },
      { progress: onProgress },
    );
  }

  resetChat(): Promise<void> {
    return this.call({ op: 'resetChat' });
  }

  unload(): Promise<void> {
    return this.call({ op: 'unload' });
  }

  async dispose(): Promise<void> {
    if (this.closed) return;
    try {
      await this.call({ op: 'dispose' });
    } finally {
      this.close(new EngineClosedError('This engine was disposed.'));
    }
  }

  private onMessage(msg: unknown): void {
    if (!isFromWorker(msg)) return;
    const p = this.pending.get(msg.id);
    if (!p) return;
    switch (msg.kind) {
      case 'progress':
        p.progress?.(msg.progress);
        break;
      case 'started':
        p.started?.();
        break;
      case 'chunk':
        p.chunk?.(msg.chunk);
        break;
      case 'done':
        this.pending.delete(msg.id);
        p.done(msg.value);
        break;
      case 'error':
        this.pending.delete(msg.id);
        p.error(deserializeError(msg.error));
        break;
    }
  }

  private close(error: Error): void {
    if (this.closed) return;
    this.closed = error;
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.error(error);
    this.worker.terminate?.();
  }

  private send(id: number, call: Call): void {
    this.worker.postMessage({ tag: PROTOCOL_TAG, id, ...call } as ToWorker);
  }

  /** Posts a call; `handlers` receive its intermediate messages. Returns the id and the final value. */
  private start<T>(
    call: Call,
    handlers: Omit<Pending, 'done' | 'error'>,
  ): { id: number; result: Promise<T> } {
    const id = this.nextId++;
    const result = new Promise<T>((resolve, reject) => {
      if (this.closed) return reject(this.closed);
      this.pending.set(id, { ...handlers, done: (v) => resolve(v as T), error: reject });
      try {
        this.send(id, call);
      } catch (e) {
        // e.g. a DataCloneError: something in the request cannot be posted.
        this.pending.delete(id);
        reject(e);
      }
    });
    return { id, result };
  }

  private call<T>(call: Call, handlers: Omit<Pending, 'done' | 'error'> = {}): Promise<T> {
    return this.start<T>(call, handlers).result;
  }

  private complete(body: ChatCompletionCreateParams, signal?: AbortSignal): Promise<ChatCompletion> {
    if (signal?.aborted) return Promise.reject(new AbortError());
    const { id, result } = this.start<ChatCompletion>({ op: 'chat', body: { ...body, stream: false } }, {});
    if (!signal) return result;
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.send(id, { op: 'abort' });
        reject(new AbortError());
      };
      signal.addEventListener('abort', onAbort, { once: true });
      result.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  private stream(body: ChatCompletionCreateParams, signal?: AbortSignal): Promise<ChatCompletionStream> {
    if (signal?.aborted) return Promise.reject(new AbortError());
    let id = 0;
    let started = false;
    const abort = () => {
      if (!this.closed && this.pending.has(id)) this.send(id, { op: 'abort' });
    };
    const channel = new Channel<ChatCompletionChunk>(abort);
    const stream: ChatCompletionStream = {
      [Symbol.asyncIterator]: () => channel[Symbol.asyncIterator](),
      abort: () => {
        abort();
        channel.fail(new AbortError());
      },
    };
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        abort();
        if (started) channel.fail(new AbortError());
        else reject(new AbortError());
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const call = this.start<void>(
        { op: 'chat', body: { ...body, stream: true } },
        {
          started: () => {
            started = true;
            resolve(stream);
          },
          chunk: (c) => channel.push(c),
        },
      );
      id = call.id;
      call.result
        .then(
          () => channel.close(),
          (e) => {
            if (started) channel.fail(e);
            else reject(e);
          },
        )
        .finally(() => signal?.removeEventListener('abort', onAbort));
    });
  }
}

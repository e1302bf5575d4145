/**
 * The engine on the current thread (the page, or the worker behind createWorkerEngine): one GPU
 * device, one loaded model, one KV cache. Requests run one at a time in arrival order (there is
 * one cache); each re-uses whatever prefix of its prompt the cache still holds.
 *
 * Device loss: the device's `lost` promise marks the engine as lost; the request that was running
 * fails with DeviceLostError, and the next one first re-creates the device and reloads the model
 * from the source it came from (same options), so the caller just carries on. Only the cache is
 * gone, so that request prefills its whole prompt.
 */
import { type AcquireOptions, acquireDevice, type GpuContext } from '../gpu/device';
import { GpuModel } from '../model/gpu-model';
import { TextTokenizer } from '../tokenizer/tokenizer';
import { Channel } from './channel';
import {
  completionOf,
  contentChunk,
  finalChunk,
  newResponseMeta,
  type ResponseMeta,
  timingOf,
  usageOf,
} from './completions';
import {
  AbortError,
  DeviceLostError,
  EngineClosedError,
  NoModelLoadedError,
  OutOfMemoryError,
} from './errors';
import { type GenerateResult, generate } from './generate';
import { settlesSoon, withOutOfMemoryScope } from './gpu-guard';
import { KvCache } from './kv-cache';
import { encodeMessages, fitPrompt } from './prompt';
import { resolveRequest } from './request';
import {
  countingWeights,
  type OpenedModel,
  openModelSource,
  type StoredPackOpener,
  weightTotals,
} from './sources';
import { defaultStoredPackOpener } from './stored';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionCreateParams,
  ChatCompletionStream,
  ChatCompletions,
  CompletionTiming,
  CompletionUsage,
  Engine,
  FinishReason,
  LoadModelOptions,
  LoadProgress,
  LoadReport,
  RequestOptions,
} from './types';

export interface EngineOptions {
  /** The WebGPU entry point to use instead of navigator.gpu (tests, Node with Dawn). */
  gpu?: GPU;
  /** Device requirements (features, limits, power preference). */
  acquire?: Omit<AcquireOptions, 'gpu'>;
  /** How `{ kind: 'stored', id }` sources are opened (the store's openStoredPack). */
  openStoredPack?: StoredPackOpener;
}

type Settings = Omit<LoadModelOptions, 'source' | 'onProgress'>;

interface Loaded {
  opened: OpenedModel;
  settings: Settings;
  tokenizer: TextTokenizer;
  eos: Set<number>;
  /** null after a device loss until the next request rebuilds them (kept so a failed rebuild can retry). */
  model: GpuModel | null;
  cache: KvCache | null;
}

interface ChatOutcome {
  meta: ResponseMeta;
  result: GenerateResult;
  usage: CompletionUsage;
  timing: CompletionTiming;
  finishReason: FinishReason;
}

const now = () => performance.now();

/** An engine on this thread. Nothing is loaded (not even the GPU device) until loadModel. */
export function createEngine(options: EngineOptions = {}): Engine {
  return new LocalEngine({ ...options, openStoredPack: options.openStoredPack ?? defaultStoredPackOpener });
}

class LocalEngine implements Engine {
  private queue: Promise<unknown> = Promise.resolve();
  private gpu: GpuContext | null = null;
  /** Set when the current device was lost (not when we destroyed it ourselves). */
  private lost: { reason: string; message: string } | null = null;
  private loaded: Loaded | null = null;
  private closed = false;

  readonly chat: { readonly completions: ChatCompletions };
  readonly testing = {
    loseDevice: async (): Promise<void> => {
      const ctx = this.gpu;
      if (!ctx) return;
      ctx.device.destroy();
      await ctx.lost;
    },
  };

  constructor(private readonly options: EngineOptions) {
    const create = (body: ChatCompletionCreateParams, opts: RequestOptions = {}) =>
      body?.stream ? this.stream(body, opts.signal) : this.complete(body, opts.signal);
    this.chat = { completions: { create } as ChatCompletions };
  }

  loadModel(options: LoadModelOptions): Promise<LoadReport> {
    return this.exclusive(async () => {
      const t0 = now();
      const { source, onProgress, ...settings } = options;
      const progress = (p: Omit<LoadProgress, 'seconds'>) =>
        onProgress?.({ ...p, seconds: (now() - t0) / 1e3 });
      progress({ stage: 'open', loadedBytes: 0, totalBytes: 0, tensorsLoaded: 0, tensorsTotal: 0 });
      this.release();
      const opened = await openModelSource(source, {
        openStored: this.options.openStoredPack,
        verify: settings.verify,
      });
      const tokenizer = TextTokenizer.fromFiles(await opened.readTokenizer());
      const tOpen = now();
      const built = await this.build(opened, settings, progress);
      const config = opened.weights.manifest.config;
      this.loaded = {
        opened,
        settings,
        tokenizer,
        eos: new Set(config.eosTokenIds),
        model: built.model,
        cache: built.cache,
      };
      const totals = weightTotals(opened.weights);
      const seconds = (now() - t0) / 1e3;
      progress({
        stage: 'ready',
        loadedBytes: totals.bytes,
        totalBytes: totals.bytes,
        tensorsLoaded: totals.tensors,
        tensorsTotal: totals.tensors,
      });
      const ctx = this.gpu!;
      return {
        model: opened.name,
        scheme: opened.weights.manifest.scheme,
        contextSize: built.cache.capacity,
        chatTemplate: tokenizer.chatTemplate !== null,
        weightBytes: totals.bytes,
        tensors: totals.tensors,
        seconds,
        openSeconds: (tOpen - t0) / 1e3,
        weightsSeconds: built.weightsSeconds,
        sessionSeconds: built.sessionSeconds,
        bytesPerSecond: built.weightsSeconds > 0 ? totals.bytes / built.weightsSeconds : 0,
        adapter:
          ctx.caps.adapter.description ||
          [ctx.caps.adapter.vendor, ctx.caps.adapter.architecture].filter(Boolean).join(' ') ||
          'GPU',
      };
    });
  }

  resetChat(): Promise<void> {
    return this.exclusive(async () => this.loaded?.cache?.clear());
  }

  unload(): Promise<void> {
    return this.exclusive(async () => this.release());
  }

  dispose(): Promise<void> {
    return this.exclusive(async () => {
      this.release();
      this.dropDevice();
      this.closed = true;
    });
  }

  /** Runs operations one at a time: there is one device, one model, one KV cache. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(() => {
      if (this.closed) throw new EngineClosedError('This engine was disposed.');
      return fn();
    });
    this.queue = run.catch(() => {});
    return run;
  }

  private async device(): Promise<GpuContext> {
    if (this.gpu && !this.lost) return this.gpu;
    this.gpu = null;
    this.lost = null;
    const ctx = await acquireDevice({ ...this.options.acquire, gpu: this.options.gpu });
    this.gpu = ctx;
    void ctx.lost.then((info) => {
      // Ignore devices we let go of on purpose (dropDevice clears this.gpu first).
      if (this.gpu === ctx) this.lost = { reason: info.reason, message: info.message };
    });
    return ctx;
  }

  private dropDevice(): void {
    const ctx = this.gpu;
    this.gpu = null;
    this.lost = null;
    ctx?.device.destroy();
  }

  private release(): void {
    const l = this.loaded;
    this.loaded = null;
    l?.cache?.destroy();
    l?.model?.destroy();
  }

  /** Device, weights and KV cache for an opened model. */
  private async build(
    opened: OpenedModel,
    settings: Settings,
    progress: (p: Omit<LoadProgress, 'seconds'>) => void,
  ): Promise<{ model: GpuModel; cache: KvCache; weightsSeconds: number; sessionSeconds: number }> {
    const gpu = await this.device();
    const totals = weightTotals(opened.weights);
    let loadedBytes = 0;
    let tensorsLoaded = 0;
    const report = (stage: LoadProgress['stage']) =>
      progress({ stage, loadedBytes, totalBytes: totals.bytes, tensorsLoaded, tensorsTotal: totals.tensors });
    report('weights');
    const tWeights = now();
    const weights = countingWeights(opened.weights, (bytes) => {
      loadedBytes += bytes;
      report('weights');
    });
    let model: GpuModel;
    try {
      model = await withOutOfMemoryScope(gpu.device, 'Loading the model weights', () =>
        GpuModel.load(gpu, weights, (p) => {
          tensorsLoaded = p.index;
        }),
      );
    } catch (e) {
      // An OOM shows in the error scope only after load returned (allocation does not throw), so
      // the model that came back holds invalid buffers we never see: dropping the device frees
      // everything and gives the next load a clean device.
      if (e instanceof OutOfMemoryError) this.dropDevice();
      throw e;
    }
    opened.release();
    const tSession = now();
    report('session');
    let cache: KvCache;
    try {
      const session = await withOutOfMemoryScope(gpu.device, 'Allocating the KV cache', () =>
        model.createSession({
          maxContext: settings.contextSize,
          maxChunk: settings.prefillChunk,
          kvCache: settings.kvCache,
        }),
      );
      cache = new KvCache(session);
    } catch (e) {
      model.destroy();
      if (e instanceof OutOfMemoryError) this.dropDevice();
      throw e;
    }
    return {
      model,
      cache,
      weightsSeconds: (tSession - tWeights) / 1e3,
      sessionSeconds: (now() - tSession) / 1e3,
    };
  }

  /**
   * The loaded model on a live device: after a device loss, a new device and the same model
   * reloaded from its source (if that fails, the next request tries again).
   */
  private async live(): Promise<{ l: Loaded; model: GpuModel; cache: KvCache; recovered: boolean }> {
    const l = this.loaded;
    if (!l) throw new NoModelLoadedError();
    if (l.model && l.cache && this.gpu && !this.lost) {
      return { l, model: l.model, cache: l.cache, recovered: false };
    }
    l.cache?.destroy();
    l.model?.destroy();
    l.cache = null;
    l.model = null;
    const built = await this.build(l.opened, l.settings, () => {});
    l.model = built.model;
    l.cache = built.cache;
    return { l, model: built.model, cache: built.cache, recovered: true };
  }

  /** A failure during a step is reported as device loss when the device went away meanwhile. */
  private async classify(e: unknown, ctx: GpuContext | null): Promise<unknown> {
    if (e instanceof AbortError || e instanceof DeviceLostError) return e;
    if (ctx && (this.lost || (await settlesSoon(ctx.lost)))) {
      const info = this.lost ?? { reason: 'unknown', message: String((e as Error)?.message ?? e) };
      return new DeviceLostError(info.reason, info.message);
    }
    return e;
  }

  private runChat(
    body: ChatCompletionCreateParams,
    signal: AbortSignal | undefined,
    onStart: (meta: ResponseMeta) => void,
    onText: (delta: string) => void,
  ): Promise<ChatOutcome> {
    const startedAt = now();
    return this.exclusive(async () => {
      if (signal?.aborted) throw new AbortError();
      const { l, cache, recovered } = await this.live();
      const req = resolveRequest(body, l.opened.generation, l.settings.contextOverflow ?? 'error');
      const contextSize = cache.capacity;
      const format = { plainSeparator: l.settings.plainSeparator ?? '' };
      const fitted = fitPrompt((m) => encodeMessages(l.tokenizer, m, format), body.messages, {
        contextSize,
        reserve: req.maxTokens ?? 1,
        policy: req.policy,
      });
      const meta = newResponseMeta(l.opened.name);
      onStart(meta);
      const ctx = this.gpu;
      let result: GenerateResult;
      try {
        result = await generate({
          cache,
          tokenizer: l.tokenizer,
          prompt: fitted.ids,
          eos: l.eos,
          maxTokens: Math.min(req.maxTokens ?? Number.POSITIVE_INFINITY, contextSize - fitted.ids.length),
          sampling: req.sampling,
          seed: req.seed,
          stop: req.stop,
          signal,
          onText,
        });
      } catch (e) {
        throw await this.classify(e, ctx);
      }
      const usage = usageOf(fitted.ids.length, result);
      const timing = timingOf(result, {
        startedAt,
        endedAt: now(),
        dropped: fitted.dropped,
        recovered,
      });
      return { meta, result, usage, timing, finishReason: result.finishReason };
    });
  }

  private async complete(body: ChatCompletionCreateParams, signal?: AbortSignal): Promise<ChatCompletion> {
    const run = this.runChat(
      body,
      signal,
      () => {},
      () => {},
    ).then((o) => completionOf(o.meta, o.result.text, o.finishReason, o.usage, o.timing));
    if (!signal) return run;
    // Settle at once on abort (as the worker proxy does); generation winds down within a token.
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(new AbortError());
      signal.addEventListener('abort', onAbort, { once: true });
      run.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  /**
   * Resolves once the request has started (so request errors such as ContextWindowExceeded reject
   * the promise, not the stream), then delivers chunks as tokens are decoded.
   */
  private stream(body: ChatCompletionCreateParams, signal?: AbortSignal): Promise<ChatCompletionStream> {
    const ctl = new AbortController();
    const channel = new Channel<ChatCompletionChunk>(() => ctl.abort());
    return new Promise((resolve, reject) => {
      let meta: ResponseMeta | null = null;
      let first = true;
      // An abort settles at once: a queued request rejects, a running stream ends without
      // delivering anything decoded after it; generation itself stops within one token.
      const abort = () => {
        ctl.abort();
        channel.fail(new AbortError());
        if (!meta) reject(new AbortError());
      };
      const stream: ChatCompletionStream = {
        [Symbol.asyncIterator]: () => channel[Symbol.asyncIterator](),
        abort,
      };
      if (signal?.aborted) abort();
      signal?.addEventListener('abort', abort, { once: true });
      this.runChat(
        body,
        ctl.signal,
        (m) => {
          meta = m;
          resolve(stream);
        },
        (delta) => {
          channel.push(contentChunk(meta!, delta, first));
          first = false;
        },
      )
        .then(
          (o) => {
            channel.push(finalChunk(o.meta, o.finishReason, o.usage, o.timing, first));
            channel.close();
          },
          (e) => {
            if (meta) channel.fail(e);
            else reject(e);
          },
        )
        .finally(() => signal?.removeEventListener('abort', abort));
    });
  }
}

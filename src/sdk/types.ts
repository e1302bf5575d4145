/**
 * The SDK's public types. Requests and responses follow the OpenAI Chat Completions API (snake
 * case, same field names and shapes) so code written against it runs on pagelm with few changes;
 * pagelm's additions are marked. Everything here is plain data, so it crosses postMessage as is.
 */

export type ChatRole = 'system' | 'user' | 'assistant' | (string & {});

export interface ChatCompletionMessageParam {
  role: ChatRole;
  /** Plain text. Special-token text in it (e.g. "<|im_start|>") stays text, never a control token. */
  content: string;
}

/**
 * What to do when the conversation does not fit the context (pagelm addition):
 * - 'error' (default): fail with ContextWindowExceeded;
 * - 'truncate': drop the oldest non-system messages, one at a time, until it fits (the last
 *   message is never dropped). Dropping history shifts every later token, so the next turn
 *   cannot reuse the KV cache.
 */
export type ContextOverflowPolicy = 'error' | 'truncate';

interface ChatCompletionCreateParamsBase {
  messages: ChatCompletionMessageParam[];
  /** Ignored: the engine answers with the model it has loaded. */
  model?: string;
  /** Most tokens to generate. Default: until EOS or the context is full. */
  max_tokens?: number | null;
  /** Same as max_tokens (the newer OpenAI name); max_tokens wins when both are given. */
  max_completion_tokens?: number | null;
  /** 0 = greedy. Default: the pack's generation default, else 1. */
  temperature?: number | null;
  top_p?: number | null;
  /** pagelm addition (as in most local runtimes). 0 = off. */
  top_k?: number | null;
  /** pagelm addition: Hugging Face repetition penalty over prompt and output. 1 = off. */
  repetition_penalty?: number | null;
  /** Up to 4 strings (more are accepted); generation ends before the first one, which is not returned. */
  stop?: string | string[] | null;
  /** Same seed, same request, same model ⇒ same tokens. Default: a random seed. */
  seed?: number | null;
  /** Only 1 is supported. */
  n?: number | null;
  /** Not supported: must be 0 or absent. */
  frequency_penalty?: number | null;
  /** Not supported: must be 0 or absent. */
  presence_penalty?: number | null;
  /** Accepted for compatibility; usage is always sent with the final chunk. */
  stream_options?: { include_usage?: boolean } | null;
  /** pagelm addition; default: the engine's (loadModel's contextOverflow, else 'error'). */
  context_overflow?: ContextOverflowPolicy;
}

export interface ChatCompletionCreateParamsStreaming extends ChatCompletionCreateParamsBase {
  stream: true;
}

export interface ChatCompletionCreateParamsNonStreaming extends ChatCompletionCreateParamsBase {
  stream?: false | null;
}

export type ChatCompletionCreateParams =
  | ChatCompletionCreateParamsStreaming
  | ChatCompletionCreateParamsNonStreaming;

export interface RequestOptions {
  /** Aborting stops generation within one token; the promise / stream rejects with AbortError. */
  signal?: AbortSignal;
}

/** 'stop': EOS or a stop string; 'length': max_tokens or the context is full. */
export type FinishReason = 'stop' | 'length';

export interface CompletionUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** Where the time went (pagelm addition; tokens per second as `pagelm run --json` reports them). */
export interface CompletionTiming {
  /** Prompt tokens found in the KV cache from the previous request (not computed again). */
  reused_tokens: number;
  /** Prompt tokens actually run through the model: prompt_tokens − reused_tokens. */
  prefill_tokens: number;
  prefill_seconds: number;
  prefill_tokens_per_s: number;
  /** Seconds from the start of the request to the first token (includes waiting for the engine). */
  time_to_first_token_s: number;
  /** Decode steps (the first completion token comes from the prefill). */
  decode_tokens: number;
  decode_seconds: number;
  /** null when there was no decode step. */
  decode_tokens_per_s: number | null;
  total_seconds: number;
  /** Messages dropped by context_overflow: 'truncate'. */
  dropped_messages: number;
  /** The engine re-created a lost GPU device and reloaded the model before this request. */
  recovered_device: boolean;
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  /** Unix seconds. */
  created: number;
  model: string;
  choices: {
    index: number;
    message: { role: 'assistant'; content: string };
    finish_reason: FinishReason;
    logprobs: null;
  }[];
  usage: CompletionUsage;
  timing: CompletionTiming;
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: {
    index: number;
    /** The first chunk carries role 'assistant'; content is the new text. */
    delta: { role?: 'assistant'; content?: string };
    /** null until the last chunk. */
    finish_reason: FinishReason | null;
    logprobs: null;
  }[];
  /** Only on the last chunk (the one with finish_reason). */
  usage?: CompletionUsage;
  timing?: CompletionTiming;
}

/** A streamed completion: iterate it with for await; leaving the loop early aborts generation. */
export interface ChatCompletionStream extends AsyncIterable<ChatCompletionChunk> {
  /** Stops generation (like aborting the request's signal). */
  abort(): void;
}

/** Where the model comes from. */
export type ModelSource =
  /** A pack on a web server (a URL prefix holding manifest.json, tokenizer files, shards). */
  | { kind: 'url'; url: string; headers?: Record<string, string> }
  /** A pack in memory: file name → bytes (e.g. `MemoryPackSink.files` after converting in the page). */
  | { kind: 'memory'; files: Map<string, Uint8Array> | Record<string, Uint8Array>; name?: string }
  /** A pack in the browser's store (IndexedDB), by the id it was downloaded under. */
  | { kind: 'stored'; id: string };

export interface LoadProgress {
  /** 'open': reading the manifest and tokenizer; 'weights': fetching and uploading; 'session': KV cache and kernels. */
  stage: 'open' | 'weights' | 'session' | 'ready';
  /** Weight bytes read so far (from the network, memory or the store) and uploaded. */
  loadedBytes: number;
  totalBytes: number;
  tensorsLoaded: number;
  tensorsTotal: number;
  /** Seconds since loadModel started. */
  seconds: number;
}

export interface LoadModelOptions {
  source: ModelSource;
  /** Tokens the KV cache holds (prompt + answer). Default: the model's maximum, capped at 2048. */
  contextSize?: number;
  /**
   * Prompt tokens per prefill step. Default 512 where the GPU runs the W4A8 prefill on matrix units
   * (several times faster per token than 64-token steps), else 64.
   */
  prefillChunk?: number;
  /**
   * How the KV cache stores keys and values: 'f16' (default for quantized models) or 'int8' (half
   * the cache's memory and the bytes a long conversation's every token reads; needs a head size
   * that is a multiple of 16). See docs/sdk.md.
   */
  kvCache?: 'f16' | 'int8';
  /** Default policy for requests that do not say (see ContextOverflowPolicy). Default 'error'. */
  contextOverflow?: ContextOverflowPolicy;
  /**
   * Models without a chat template are driven as plain text completion: the message contents are
   * joined with this separator (default '': the answer continues the text) and encoded with the
   * tokenizer's BOS. See docs/sdk.md.
   */
  plainSeparator?: string;
  /** SHA-256 every shard before loading (reads the whole pack once more). Default false. */
  verify?: boolean;
  /** Called as the load advances (not sent over the worker protocol as a function: the proxy keeps it). */
  onProgress?: (progress: LoadProgress) => void;
}

/** How the load went (pagelm's "load time report"). */
export interface LoadReport {
  model: string;
  scheme: string;
  contextSize: number;
  /** Whether the model has a chat template (else the plain-text fallback is used). */
  chatTemplate: boolean;
  weightBytes: number;
  tensors: number;
  /** Wall seconds of the whole load, and of its stages. */
  seconds: number;
  openSeconds: number;
  weightsSeconds: number;
  sessionSeconds: number;
  /** weightBytes / weightsSeconds. */
  bytesPerSecond: number;
  /** The GPU adapter, as the browser describes it. */
  adapter: string;
}

export interface ChatCompletions {
  create(body: ChatCompletionCreateParamsStreaming, options?: RequestOptions): Promise<ChatCompletionStream>;
  create(body: ChatCompletionCreateParamsNonStreaming, options?: RequestOptions): Promise<ChatCompletion>;
  create(
    body: ChatCompletionCreateParams,
    options?: RequestOptions,
  ): Promise<ChatCompletionStream | ChatCompletion>;
}

/** The engine: the same interface in the page (createEngine) and behind a worker (createWorkerEngine). */
export interface Engine {
  /** Loads (or replaces) the model. Requests wait for it. */
  loadModel(options: LoadModelOptions): Promise<LoadReport>;
  readonly chat: { readonly completions: ChatCompletions };
  /** Forgets the KV cache: the next request prefills its whole prompt. */
  resetChat(): Promise<void>;
  /** Frees the model's GPU memory (the device is kept for the next load). */
  unload(): Promise<void>;
  /** Frees everything, including the GPU device (and the worker, for a worker engine). */
  dispose(): Promise<void>;
  /** For tests only: what a test needs to provoke rare events. */
  readonly testing: {
    /** Destroys the GPU device from inside the engine, as a driver reset would lose it. */
    loseDevice(): Promise<void>;
  };
}

/**
 * The errors an embedding page can meet, as classes it can test with `instanceof` (or by `name`,
 * which survives postMessage). GPU errors come from src/gpu/errors.ts and pack errors from
 * src/format/errors.ts; the ones below are the engine's own. Messages say what happened and what
 * the user can do, so a page may show them as-is.
 */
export { FormatError } from '../format/errors';
export {
  LimitTooSmallError,
  MissingFeatureError,
  ShaderCompileError,
  WebGPUUnavailableError,
} from '../gpu/errors';
export {
  DownloadError,
  IntegrityError,
  NotFoundError,
  NotReadyError,
  QuotaError,
  StoreError,
} from '../store/errors';

/**
 * The conversation (prompt + the tokens asked for) does not fit the context the model was loaded
 * with. Raised by default; `context_overflow: 'truncate'` drops the oldest non-system messages
 * instead (and this is raised only when even the last message alone does not fit).
 */
export class ContextWindowExceeded extends Error {
  override readonly name = 'ContextWindowExceeded';
  constructor(
    readonly promptTokens: number,
    /** Tokens the request reserved for the answer (max_tokens, or 1 when not given). */
    readonly requestedTokens: number,
    readonly contextSize: number,
  ) {
    super(
      `The conversation needs ${promptTokens} prompt + ${requestedTokens} new tokens, more than the ` +
        `context of ${contextSize} tokens. Shorten the conversation, ask for fewer tokens, load the model ` +
        `with a larger contextSize, or pass context_overflow: 'truncate' to drop the oldest messages.`,
    );
  }
}

/**
 * The request was cancelled through its AbortSignal (or by leaving a stream early). Named
 * 'AbortError' like the DOM's, so `e.name === 'AbortError'` checks keep working.
 */
export class AbortError extends Error {
  override readonly name = 'AbortError';
  constructor(message = 'The request was aborted.') {
    super(message);
  }
}

/**
 * The GPU device was lost (driver reset, GPU process crash, tab in the background too long, or
 * destroyed). The request that was running fails with this; the engine re-creates the device and
 * reloads the model from its source on the next call.
 */
export class DeviceLostError extends Error {
  override readonly name = 'DeviceLostError';
  constructor(
    /** GPUDeviceLostInfo.reason: 'destroyed' or 'unknown'. */
    readonly reason: string,
    message: string,
  ) {
    super(
      `The GPU device was lost (${reason}${message ? `: ${message}` : ''}). ` +
        'The next request reloads the model on a new device.',
    );
  }
}

/** A GPU allocation failed (weights or KV cache): the model or the context is too big for this GPU. */
export class OutOfMemoryError extends Error {
  override readonly name = 'OutOfMemoryError';
}

/** A request came before loadModel finished (or after unload). */
export class NoModelLoadedError extends Error {
  override readonly name = 'NoModelLoadedError';
  constructor(message = 'No model is loaded: call engine.loadModel({ source }) first.') {
    super(message);
  }
}

/** A request the engine cannot serve as given (bad parameter, unsupported option). */
export class InvalidRequestError extends Error {
  override readonly name = 'InvalidRequestError';
  constructor(
    /** The request field at fault, e.g. 'top_p'. */
    readonly param: string | null,
    message: string,
  ) {
    super(message);
  }
}

/** The engine was disposed, or its worker stopped. */
export class EngineClosedError extends Error {
  override readonly name = 'EngineClosedError';
}

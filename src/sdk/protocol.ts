/**
 * The messages between a page's WorkerEngine (worker-engine.ts) and the engine in a worker
 * (worker-host.ts). Every message is plain data (structured clone), tagged so that other traffic
 * on the same worker is ignored, and carries the id of the call it belongs to. A call gets zero or
 * more progress / started / chunk messages, then exactly one done or error. Errors travel as
 * {name, message, fields} and are rebuilt as the same classes on the page, so `instanceof`
 * works across the boundary.
 */
import { FormatError } from '../format/errors';
import {
  LimitTooSmallError,
  MissingFeatureError,
  ShaderCompileError,
  WebGPUUnavailableError,
} from '../gpu/errors';
import {
  DownloadError,
  IntegrityError,
  NotFoundError,
  NotReadyError,
  QuotaError,
  StoreError,
} from '../store/errors';
import {
  AbortError,
  ContextWindowExceeded,
  DeviceLostError,
  EngineClosedError,
  InvalidRequestError,
  NoModelLoadedError,
  OutOfMemoryError,
} from './errors';
import type {
  ChatCompletionChunk,
  ChatCompletionCreateParams,
  LoadModelOptions,
  LoadProgress,
} from './types';

export const PROTOCOL_TAG = 'pagelm-sdk/1';

/** loadModel's options as sent: the progress callback stays on the page. */
export type WireLoadOptions = Omit<LoadModelOptions, 'onProgress'>;

export type ToWorker = { tag: typeof PROTOCOL_TAG; id: number } & (
  | { op: 'load'; options: WireLoadOptions; progress: boolean }
  | { op: 'chat'; body: ChatCompletionCreateParams }
  /** Cancels the chat call with this id (no reply of its own). */
  | { op: 'abort' }
  | { op: 'resetChat' }
  | { op: 'unload' }
  | { op: 'dispose' }
  | { op: 'loseDevice' }
);

export type FromWorker = { tag: typeof PROTOCOL_TAG; id: number } & (
  | { kind: 'progress'; progress: LoadProgress }
  /** A streamed chat has started (its request was accepted); chunks follow. */
  | { kind: 'started' }
  | { kind: 'chunk'; chunk: ChatCompletionChunk }
  | { kind: 'done'; value?: unknown }
  | { kind: 'error'; error: WireError }
);

export interface WireError {
  name: string;
  message: string;
  stack?: string;
  /** The error's own data fields (e.g. ContextWindowExceeded.promptTokens). */
  fields: Record<string, unknown>;
}

const OPS = new Set(['load', 'chat', 'abort', 'resetChat', 'unload', 'dispose', 'loseDevice']);
const KINDS = new Set(['progress', 'started', 'chunk', 'done', 'error']);

function tagged(m: unknown): m is { tag: string; id: number } & Record<string, unknown> {
  return (
    typeof m === 'object' &&
    m !== null &&
    (m as { tag?: unknown }).tag === PROTOCOL_TAG &&
    Number.isInteger((m as { id?: unknown }).id)
  );
}

export function isToWorker(m: unknown): m is ToWorker {
  return tagged(m) && OPS.has(m.op as string);
}

export function isFromWorker(m: unknown): m is FromWorker {
  return tagged(m) && KINDS.has(m.kind as string);
}

/** Error classes rebuilt by name on the receiving side. */
const ERROR_CLASSES: Record<string, new (...args: never[]) => Error> = {
  AbortError,
  ContextWindowExceeded,
  DeviceLostError,
  EngineClosedError,
  InvalidRequestError,
  NoModelLoadedError,
  OutOfMemoryError,
  FormatError,
  LimitTooSmallError,
  MissingFeatureError,
  ShaderCompileError,
  WebGPUUnavailableError,
  StoreError,
  IntegrityError,
  QuotaError,
  DownloadError,
  NotFoundError,
  NotReadyError,
  TypeError,
  RangeError,
};

/** Adds error classes (e.g. the store's) to those rebuilt by name. */
export function registerErrorClass(name: string, cls: new (...args: never[]) => Error): void {
  ERROR_CLASSES[name] = cls;
}

function cloneable(v: unknown): boolean {
  if (v === null || ['string', 'number', 'boolean', 'undefined'].includes(typeof v)) return true;
  if (Array.isArray(v)) return v.every(cloneable);
  return false;
}

export function serializeError(e: unknown): WireError {
  if (!(e instanceof Error)) {
    return { name: 'Error', message: typeof e === 'string' ? e : String(e), fields: {} };
  }
  const fields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e)) if (k !== 'stack' && cloneable(v)) fields[k] = v;
  return { name: e.name, message: e.message, stack: e.stack, fields };
}

export function deserializeError(w: WireError): Error {
  const cls = Object.hasOwn(ERROR_CLASSES, w.name) ? ERROR_CLASSES[w.name] : Error;
  // A real Error object (stack, message) with the class's prototype, without re-running its
  // constructor (whose arguments differ from class to class).
  const e = Reflect.construct(Error, [w.message], cls) as Error;
  Object.assign(e, w.fields);
  if (e.name !== w.name) Object.defineProperty(e, 'name', { value: w.name, enumerable: true });
  if (w.stack) Object.defineProperty(e, 'stack', { value: w.stack, writable: true, configurable: true });
  return e;
}

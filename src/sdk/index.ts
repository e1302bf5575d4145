/**
 * pagelm's embeddable SDK: `import { createWorkerEngine } from 'pagelm'`. See docs/sdk.md.
 */
export { createEngine, type EngineOptions } from './engine';
export {
  AbortError,
  ContextWindowExceeded,
  DeviceLostError,
  EngineClosedError,
  FormatError,
  InvalidRequestError,
  LimitTooSmallError,
  MissingFeatureError,
  NoModelLoadedError,
  OutOfMemoryError,
  ShaderCompileError,
  WebGPUUnavailableError,
} from './errors';
export { registerErrorClass } from './protocol';
export type { StoredPack, StoredPackOpener } from './sources';
export type * from './types';
export { createWorkerEngine, type WorkerLike } from './worker-engine';
export { type PortLike, serveEngine } from './worker-host';

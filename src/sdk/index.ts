/**
 * pagelm's embeddable SDK: `import { createWorkerEngine } from 'pagelm'`. See docs/sdk.md.
 */

/** The offline model store (docs/store.md): download, import, list, verify, delete packs. */
export * as store from '../store/index';
export { createEngine, type EngineOptions } from './engine';
export {
  AbortError,
  ContextWindowExceeded,
  DeviceLostError,
  DownloadError,
  EngineClosedError,
  FormatError,
  IntegrityError,
  InvalidRequestError,
  LimitTooSmallError,
  MissingFeatureError,
  NoModelLoadedError,
  NotFoundError,
  NotReadyError,
  OutOfMemoryError,
  QuotaError,
  ShaderCompileError,
  StoreError,
  WebGPUUnavailableError,
} from './errors';
export { registerErrorClass } from './protocol';
export type { StoredPackLike, StoredPackOpener } from './sources';
export type * from './types';
export { createWorkerEngine, type WorkerLike } from './worker-engine';
export { type PortLike, serveEngine } from './worker-host';

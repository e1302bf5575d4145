/** The offline model store (docs/store.md). */
export {
  DownloadError,
  IntegrityError,
  isQuotaExceeded,
  NotFoundError,
  NotReadyError,
  QuotaError,
  StoreError,
} from './errors';
export type { HttpFetchOptions } from './http-fetch';
export type { IngestOptions, StoreProgress, StoreResult } from './ingest';
export {
  defaultModelStore,
  ModelStore,
  type ModelStoreOptions,
  openStoredPack,
  type PackInput,
  type RepairOptions,
} from './model-store';
export type { UrlOriginOptions } from './origins';
export { defaultModelId } from './pack-files';
export { type ChosenFolder, choosePackFolder } from './pick-folder';
export type { StorageLike } from './quota';
export type { StoredSource } from './records';
export type { ModelStatus, StoredModelInfo } from './status';
export type { OpenStoredOptions, StoredPack, StoredPackStats } from './stored-pack';

/**
 * The engine's default opener for `{ kind: 'stored', id }` sources: the page's IndexedDB model
 * store (src/store, database "pagelm-models"). IndexedDB is shared by the page and its workers,
 * so a model the page downloaded with the store opens in the worker engine by id. Engines made
 * with createEngine({ openStoredPack }) use theirs instead (another database, tests).
 */
import { openStoredPack } from '../store/model-store';
import type { StoredPackOpener } from './sources';

export const defaultStoredPackOpener: StoredPackOpener = (id) => openStoredPack(id);

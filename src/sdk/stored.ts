/**
 * The engine's default opener for `{ kind: 'stored', id }` sources. The IndexedDB store
 * (src/store/) is not part of the tree yet; until it is, stored sources need an opener passed to
 * createEngine({ openStoredPack }).
 */
import type { StoredPackOpener } from './sources';

export const defaultStoredPackOpener: StoredPackOpener | undefined = undefined;

/**
 * The worker entry that createWorkerEngine() starts by default: an engine on this worker thread,
 * served over the worker's message port, so decoding never blocks the page. Pages that need a
 * custom engine (e.g. their own stored-pack opener) write a two-line worker of their own with
 * serveEngine(self, createEngine({...})).
 */
import { createEngine } from './engine';
import { defaultStoredPackOpener } from './stored';
import { type PortLike, serveEngine } from './worker-host';

serveEngine(globalThis as unknown as PortLike, createEngine({ openStoredPack: defaultStoredPackOpener }));

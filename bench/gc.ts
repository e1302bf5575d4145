import v8 from 'node:v8';
import vm from 'node:vm';

/**
 * A full garbage collection on demand. The decode suite runs one before every timed stream, so
 * that the garbage an earlier variant left (a synthetic 7B pack is 3.4 GB of ArrayBuffers, which
 * V8 counts as external memory) is not collected inside a timed run: session 23's four 7B packs in
 * one process put 11–18 ms major GCs into 5 of its 12 timed 32-token runs. A page holding one
 * model has no such backlog. The GC columns still report every pause that lands in a run.
 * Node exposes `gc` only with --expose-gc; setting the flag at run time and taking the function
 * from a fresh context is the documented way to get it without restarting the process.
 */
export const collectGarbage: () => void = (() => {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return exposed;
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
})();

import v8 from 'node:v8';
import vm from 'node:vm';

/**
 * Forced full garbage collections in the decode suite (bench --forced-gc), against the garbage an
 * earlier variant leaves (a synthetic 7B pack is 3.4 GB of ArrayBuffers, which V8 counts as
 * external memory): session 23's four 7B packs in one process put 11–18 ms major GCs into 5 of its
 * 12 timed 32-token runs. A page holding one model has no such backlog.
 * - 'runs', before every timed stream: no GC landed in a run, but the host then recorded and
 *   submitted every step ~1.6–1.8× slower, for the rest of the process (session 24 run 2, H100,
 *   W4A8 7B in one process each: host encode 1,052 vs 676 µs, submit 576 vs 369, 421.2 vs 436.9
 *   tok/s). Why is not known; a diagnostic only.
 * - 'load', once per variant after its model is loaded and before the warm-up: the earlier
 *   variant's garbage goes before any step code is compiled.
 * - 'off' (default): one process per variant remains the way to compare JS-timed figures.
 */
export type ForcedGc = 'off' | 'load' | 'runs';

export const FORCED_GC_MODES: ForcedGc[] = ['off', 'load', 'runs'];

/**
 * A full garbage collection on demand (set up on first use). Node exposes `gc` only with --expose-gc; setting the flag
 * at run time and taking the function from a fresh context gets it without restarting the process.
 */
let gc: (() => void) | undefined;

export function collectGarbage(): void {
  if (!gc) {
    gc = (globalThis as { gc?: () => void }).gc;
    if (!gc) {
      v8.setFlagsFromString('--expose-gc');
      gc = vm.runInNewContext('gc') as () => void;
    }
  }
  gc();
}

import { spawn } from 'node:child_process';
import { constants } from 'node:os';

/**
 * Node entry points (the `pagelm` CLI, the benchmark) run with glibc's malloc fastbins off.
 *
 * Why: while a mapAsync is pending, Dawn's Node binding (npm `webgpu`) re-arms setImmediate with a
 * new N-API function every event-loop turn, each with a small malloc'd callback record. When V8
 * collects those functions their finalizers free the records into glibc's fastbins, and the next
 * large allocation — the first block of a command encoder's commands, in beginComputePass — merges
 * every one of them (malloc_consolidate) before it returns. After a long wait (a 2,048-token
 * prompt's readback) that was one 16–29 ms call in the first decode step on the H100, and
 * 6–25 ms calls every few steps on lavapipe, where a profile of the stalls is all
 * malloc_consolidate. With `glibc.malloc.mxfast=0` there are no fastbins and the stalls are gone
 * (docs/benchmarks.md, session 16). glibc reads tunables only at process start, so the process
 * re-executes itself once with the tunable set. Browsers are not affected (no such binding).
 */
export const NO_FASTBINS = 'glibc.malloc.mxfast=0';

/** Set to 1 to keep the process as started (no re-execution). */
export const NO_REEXEC_ENV = 'PAGELM_NO_REEXEC';

/**
 * The environment to re-execute with, or null where that is not needed or not possible: not
 * glibc (other platforms, musl), the tunable already set (by us or the user), or opted out.
 */
export function fastbinsOffEnv(
  env: Readonly<Record<string, string | undefined>>,
  glibc: boolean,
): Record<string, string | undefined> | null {
  if (!glibc || env[NO_REEXEC_ENV] === '1') return null;
  const tunables = env.GLIBC_TUNABLES ?? '';
  if (tunables.includes('glibc.malloc.mxfast')) return null;
  return { ...env, GLIBC_TUNABLES: tunables ? `${tunables}:${NO_FASTBINS}` : NO_FASTBINS };
}

/** Whether this process runs on glibc (Node's report names the runtime glibc version there). */
export function runsOnGlibc(): boolean {
  if (process.platform !== 'linux') return false;
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)
    ?.header;
  return Boolean(header?.glibcVersionRuntime);
}

/** 'off' when this process runs with the tunable, 'on' on glibc without it, null elsewhere. */
export function fastbinsState(): 'off' | 'on' | null {
  if (!runsOnGlibc()) return null;
  return (process.env.GLIBC_TUNABLES ?? '').includes(NO_FASTBINS) ? 'off' : 'on';
}

/**
 * Re-executes this script with fastbins off and resolves to the child's exit code (signals the
 * parent gets are passed on; a child killed by a signal gives 128 + its number), or resolves to
 * null at once where no re-execution is needed: the caller then carries on.
 */
export function reexecWithoutFastbins(): Promise<number | null> {
  const env = fastbinsOffEnv(process.env, runsOnGlibc());
  if (!env) return Promise.resolve(null);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
      stdio: 'inherit',
      env,
    });
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
    for (const s of signals) process.on(s, forward);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      for (const s of signals) process.off(s, forward);
      resolve(code ?? 128 + (signal ? constants.signals[signal] : 0));
    });
  });
}

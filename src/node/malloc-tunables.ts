import { type ChildProcess, spawn } from 'node:child_process';
import { constants } from 'node:os';

/**
 * Node entry points (the `pagelm` CLI, the benchmark) run with glibc's malloc fastbins off.
 *
 * Why: while a mapAsync is pending, Dawn's Node binding (npm `webgpu`) re-arms setImmediate with a
 * new N-API function every event-loop turn, each with a small malloc'd callback record. When V8
 * collects those functions their finalizers free the records into glibc's fastbins, and the next
 * large allocation — the first block of a command encoder's commands, in beginComputePass — merges
 * every one of them (malloc_consolidate) before it returns. After a long wait (a 2,048-token
 * prompt's readback) the first decode step on the H100 spent 9–12 ms in beginComputePass; on
 * lavapipe such calls take 6–25 ms every few steps, and a profile of them is malloc_consolidate.
 * With `glibc.malloc.mxfast=0` there are no fastbins and neither stall shows (docs/benchmarks.md,
 * session 16). glibc reads tunables only at process start, so the process
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
  return (process.env.GLIBC_TUNABLES ?? '').split(':').includes(NO_FASTBINS) ? 'off' : 'on';
}

/**
 * Re-executes this script with fastbins off and resolves to the child's exit code, or resolves to
 * null where no re-execution is needed or the child cannot be started: the caller then carries on
 * in this process. A child killed by a signal kills this process with the same signal. SIGTERM and
 * SIGHUP sent to this process are passed on; SIGINT is not (a terminal's Ctrl-C already reaches
 * the whole process group, and `pagelm convert` reads a second SIGINT as "stop now"), but it no
 * longer ends this process before the child.
 */
export function reexecWithoutFastbins(): Promise<number | null> {
  const env = fastbinsOffEnv(process.env, runsOnGlibc());
  if (!env) return Promise.resolve(null);
  return new Promise((resolve) => {
    // The handlers go in before the child exists: a SIGTERM that arrived between the spawn and
    // their installation would take this process's default action and orphan the child (a CI run
    // caught it). Installed first, a signal is queued as an event and runs `forward` only after
    // this synchronous block, when `child` is set.
    let child: ChildProcess | undefined;
    const forward = (signal: NodeJS.Signals) => child?.kill(signal);
    const ignore = () => {};
    const handlers: [NodeJS.Signals, (s: NodeJS.Signals) => void][] = [
      ['SIGTERM', forward],
      ['SIGHUP', forward],
      ['SIGINT', ignore],
    ];
    for (const [s, h] of handlers) process.on(s, h);
    child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
      stdio: 'inherit',
      env,
    });
    const release = () => {
      for (const [s, h] of handlers) process.off(s, h);
    };
    child.on('error', () => {
      release();
      resolve(null);
    });
    child.on('exit', (code, signal) => {
      release();
      if (signal) process.kill(process.pid, signal);
      resolve(code ?? 128 + (signal ? constants.signals[signal] : 0));
    });
  });
}

/**
 * A Node entry point's body run with fastbins off: in the re-executed child, or here where no
 * re-execution is needed. Resolves to the exit code (0 once `main` is done); `main`'s errors reject.
 */
export async function runWithoutFastbins(main: () => Promise<void>): Promise<number> {
  const code = await reexecWithoutFastbins();
  if (code !== null) return code;
  await main();
  return 0;
}

/**
 * Runs the real `pagelm` CLI: bundled exactly as `npm run build:cli` does, into a temp dir (so it
 * never races a build in dist/), and spawned, so exit codes, stdout and stderr are real.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { build } from 'vite';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface Cli {
  root: string;
  run(...args: string[]): CliResult;
  /** run() with these variables added to the environment. */
  runEnv(env: Record<string, string>, ...args: string[]): CliResult;
  /** The bundled CLI script (to spawn it yourself). */
  script: string;
  /** For runs that talk to a server living in the test process (spawnSync would block it). */
  runAsync(...args: string[]): Promise<CliResult>;
  dispose(): void;
}

export async function buildCli(): Promise<Cli> {
  // Inside the repo (ignored): the bundle's `import('webgpu')` resolves through node_modules,
  // as it does from dist/.
  const cache = resolve(__dirname, '../../node_modules/.cache');
  mkdirSync(cache, { recursive: true });
  const root = mkdtempSync(join(cache, 'pagelm-cli-'));
  const outDir = join(root, 'dist');
  await build({ configFile: 'vite.cli.config.ts', logLevel: 'error', build: { outDir, emptyOutDir: true } });
  const cli = join(outDir, 'pagelm.js');
  const runEnv = (env: Record<string, string>, ...args: string[]): CliResult => {
    const r = spawnSync(process.execPath, [cli, ...args], {
      encoding: 'utf8',
      cwd: root,
      timeout: 300_000,
      env: { ...process.env, ...env },
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  return {
    root,
    script: cli,
    run: (...args) => runEnv({}, ...args),
    runEnv,
    runAsync: (...args) =>
      new Promise((done, fail) => {
        const child = spawn(process.execPath, [cli, ...args], { cwd: root });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d) => (stdout += d));
        child.stderr.on('data', (d) => (stderr += d));
        child.on('error', fail);
        child.on('close', (code) => done({ code, stdout, stderr }));
      }),
    dispose: () => rmSync(root, { recursive: true, force: true }),
  };
}

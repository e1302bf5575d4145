/**
 * Runs the real `pagelm` CLI: bundled exactly as `npm run build:cli` does, into a temp dir (so it
 * never races a build in dist/), and spawned, so exit codes, stdout and stderr are real.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { build } from 'vite';

export interface Cli {
  root: string;
  run(...args: string[]): { code: number | null; stdout: string; stderr: string };
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
  return {
    root,
    run: (...args) => {
      const r = spawnSync(process.execPath, [cli, ...args], {
        encoding: 'utf8',
        cwd: root,
        timeout: 300_000,
      });
      return { code: r.status, stdout: r.stdout, stderr: r.stderr };
    },
    dispose: () => rmSync(root, { recursive: true, force: true }),
  };
}

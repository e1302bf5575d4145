#!/usr/bin/env node
// `npm start`: prepares what the chat page needs, then serves it.
// On first run it converts ../shared/models/tinystories-656k (when that folder exists) into a
// w4a8 GPTQ pack under public/models/tinystories-656k-w4a8/ (git-ignored); the page offers that
// pack as its default model and downloads it into the browser's store on the first visit.
// Then it builds the page (dist/app) and serves the build: the service worker, which makes the page
// work offline, is only active in the built page. `npm run dev` serves the sources with hot reload.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const checkpoint = resolve(root, '../shared/models/tinystories-656k');
const pack = resolve(root, 'public/models/tinystories-656k-w4a8');

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal})`);
}

if (existsSync(resolve(pack, 'manifest.json'))) {
  console.log(`default model: ${pack} (already converted)`);
} else if (existsSync(checkpoint)) {
  console.log(`default model: converting ${checkpoint} → ${pack} (w4a8, gptq; first run only)`);
  run('npm', ['run', '-s', 'build:cli']);
  run('node', ['dist/cli/pagelm.js', 'convert', checkpoint, '--out', pack, '--quant', 'w4a8', '--method', 'gptq', '--force']);
} else {
  console.log('default model: none (no ../shared/models/tinystories-656k); add one in the page\'s model manager');
}

const { build, preview } = await import('vite');
const outDir = resolve(root, 'dist/app');
await build({
  configFile: false,
  root,
  logLevel: 'warn',
  build: { outDir, emptyOutDir: true, target: 'es2022' },
  worker: { format: 'es' },
});
const server = await preview({
  configFile: false,
  root,
  build: { outDir },
  preview: { host: '127.0.0.1', port: Number(process.env.PORT ?? 5173), strictPort: true },
});
server.printUrls();

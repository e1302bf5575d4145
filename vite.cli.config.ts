import { execSync } from 'node:child_process';
import { defineConfig } from 'vite';

function commit(): string {
  try {
    const sha = execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim();
    const dirty = execSync('git status --porcelain --untracked-files=no', { encoding: 'utf8' }).trim();
    return dirty ? `${sha}+dirty` : sha;
  } catch {
    return 'unknown';
  }
}

// Builds the Node entry points (the `pagelm` CLI and the benchmark) into self-contained ES
// modules. Everything is bundled except Dawn (`webgpu`, a native addon), so the bundle runs on
// the lent GPU machine where only node + webgpu are unpacked (../shared/gpu/device-pack.sh).
// WGSL files are inlined through `?raw` imports, exactly as in the browser build.
export default defineConfig({
  define: { __PAGELM_COMMIT__: JSON.stringify(commit()) },
  build: {
    ssr: true,
    target: 'node20',
    outDir: 'dist/cli',
    emptyOutDir: true,
    minify: false,
    sourcemap: true,
    rollupOptions: {
      input: { pagelm: 'src/cli/pagelm.ts', bench: 'bench/main.ts' },
      output: { format: 'es', entryFileNames: '[name].js' },
    },
  },
  ssr: { noExternal: true, external: ['webgpu'] },
});

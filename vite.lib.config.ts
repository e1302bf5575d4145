import { defineConfig } from 'vite';

// The embeddable SDK (`import { createWorkerEngine } from 'pagelm'`): one ES module,
// dist/lib/pagelm.js, plus the engine's worker as a separate bundled file next to it (the SDK
// starts it with `new Worker(new URL(...), import.meta.url)`, so it is found wherever the library
// is served from). Dawn (`webgpu`, Node only) stays external. Types: `tsc -p tsconfig.lib.json`.
export default defineConfig({
  // Relative asset URLs: the worker is found next to pagelm.js, wherever that is served from.
  base: './',
  build: {
    outDir: 'dist/lib',
    emptyOutDir: true,
    target: 'es2022',
    minify: false,
    sourcemap: true,
    lib: {
      entry: 'src/sdk/index.ts',
      formats: ['es'],
      fileName: () => 'pagelm.js',
    },
    rollupOptions: {
      external: ['webgpu'],
    },
  },
  worker: {
    format: 'es',
    rollupOptions: { external: ['webgpu'], output: { entryFileNames: 'pagelm-worker.js' } },
  },
});

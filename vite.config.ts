import { defineConfig } from 'vite';

// The chat page (index.html + src/app). Library and CLI builds have their own configs.
export default defineConfig({
  server: { host: '127.0.0.1', port: 5173 },
  build: { outDir: 'dist/app', target: 'es2022' },
});

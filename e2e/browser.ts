/**
 * Browser test harness: a Vite dev server over the repo and Debian's Chromium driven by
 * playwright-core (no browser download: `npx playwright install` cannot work on these machines).
 */

import { resolve } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { createServer, type ViteDevServer } from 'vite';

export const CHROMIUM = process.env.PAGELM_CHROMIUM ?? '/usr/bin/chromium';
export const SHARED_MODELS = resolve(process.cwd(), '../shared/models');

// Flags from ../shared/gpu/README.md: WebGPU on SwiftShader, and no background networking
// (the closed network otherwise gets flooded with refused connections).
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

export interface Harness {
  server: ViteDevServer;
  browser: Browser;
  baseUrl: string;
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

export async function startHarness(opts: { extraArgs?: string[] } = {}): Promise<Harness> {
  const server = await createServer({
    configFile: false,
    root: process.cwd(),
    logLevel: 'error',
    // 404 for missing files (the SPA fallback would answer them with index.html and 200).
    appType: 'mpa',
    // The shared real models live beside the repo; tests fetch them through /@fs/.
    server: { host: '127.0.0.1', port: 0, strictPort: false, fs: { allow: [process.cwd(), SHARED_MODELS] } },
  });
  await server.listen();
  const address = server.httpServer?.address();
  if (!address || typeof address === 'string') throw new Error('vite server has no port');
  const baseUrl = `http://127.0.0.1:${address.port}`;
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_ARGS, ...(opts.extraArgs ?? [])],
  });
  return {
    server,
    browser,
    baseUrl,
    async newPage() {
      const page = await browser.newPage();
      page.on('pageerror', (e) => console.error('[page error]', e.message));
      return page;
    },
    async close() {
      await browser.close();
      await server.close();
    },
  };
}

#!/usr/bin/env node
// Regenerates the table of docs/quality.md: converts each test model with every scheme/method
// through the real CLI (`pagelm convert`), scores each pack with `pagelm quality --json`, and
// prints the markdown tables on stdout. Packs go to a temp directory that is removed at the end.
//
//   npm run -s build:cli && node scripts/quality-table.mjs > /tmp/table.md
//
// Options: --models DIR (default ../shared/models beside the repo), --text FILE (passed to quality).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    models: { type: 'string', default: fileURLToPath(new URL('../../shared/models', import.meta.url)) },
    text: { type: 'string' },
  },
});
const CLI = join(import.meta.dirname, '..', 'dist', 'cli', 'pagelm.js');

const MODELS = [
  { name: 'tinystories-656k', ref: join(values.models, 'tinystories-656k') },
  // stories260K was trained on 512-token sequences (llama2.c); its GGUF says 2048 positions, so
  // the window is capped at what the model actually knows.
  { name: 'stories260k (GGUF)', ref: join(values.models, 'stories260k-gguf', 'stories260K.gguf'), window: 512 },
];

const ROWS = [
  ['f16', 'rtn'],
  ['w4a16', 'rtn'],
  ['w4a8', 'rtn'],
  ['w4a8', 'clip'],
  ['w4a8', 'gptq'],
  ['w2-4-16', 'rtn'],
  ['w2-4-16', 'clip'],
  ['w2-4-16', 'gptq'],
];

function pagelm(args) {
  return execFileSync(process.execPath, [CLI, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

const fmt = (x, d) => (Number.isFinite(x) ? x.toFixed(d) : String(x));

const tmp = mkdtempSync(join(tmpdir(), 'pagelm-quality-'));
try {
  const out = [];
  for (const model of MODELS) {
    const results = [];
    for (const [scheme, method] of ROWS) {
      const dir = join(tmp, `${results.length}`);
      process.stderr.write(`${model.name} ${scheme} ${method}: converting… `);
      pagelm(['convert', model.ref, '--out', dir, '--quant', scheme, '--method', method]);
      process.stderr.write('scoring… ');
      const args = ['quality', dir, '--ref', model.ref, '--json'];
      if (values.text) args.push('--text', values.text);
      if (model.window) args.push('--window', String(model.window));
      const q = JSON.parse(pagelm(args));
      process.stderr.write(`KL ${fmt(q.klMean, 4)}\n`);
      results.push(q);
      rmSync(dir, { recursive: true, force: true });
    }
    const r0 = results[0];
    out.push(
      `### ${model.name}`,
      '',
      `fp32 reference perplexity **${fmt(r0.pplRef, 2)}** on ${r0.tokens + 1} tokens of the eval text ` +
        `(${r0.tokens} predictions, ${r0.windows} window(s)${model.window ? ` of ≤ ${model.window}` : ''}).`,
      '',
      '| scheme | method | bits/weight | KL mean (nats) | KL p99 (nats) | top-1 agreement | perplexity |',
      '|---|---|---:|---:|---:|---:|---:|',
      ...results.map(
        (q) =>
          `| ${q.scheme}${q.activationQuant ? ' (int8 act.)' : ''} | ${q.scheme === 'f16' ? '—' : q.method} | ` +
          `${fmt(q.bitsPerWeight, 2)} | ${fmt(q.klMean, 4)} | ${fmt(q.klP99, 3)} | ` +
          `${fmt(100 * q.top1Agreement, 1)}% | ${fmt(q.pplTest, 2)} |`,
      ),
      '',
    );
  }
  console.log(out.join('\n'));
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

/**
 * `pagelm run` (and `pagelm quality --kv-cache`) end to end in Node (Dawn/lavapipe): convert the shared real models with the CLI,
 * then generate. Greedy text must match ../shared/models/README.md (Hugging Face transformers).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runsOnGlibc } from '../../src/node/malloc-tunables';
import { buildCli, type Cli } from '../helpers/cli';
import { STORIES260K, TINYSTORIES } from '../helpers/packs';

let cli: Cli;
let tiny: string;
let stories: string;
beforeAll(async () => {
  cli = await buildCli();
  tiny = join(cli.root, 'tiny-f32');
  stories = join(cli.root, 'stories-f32');
  for (const [src, out] of [
    [TINYSTORIES, tiny],
    [STORIES260K, stories],
  ]) {
    const r = cli.run('convert', src, '--out', out, '--quant', 'f32');
    if (r.code !== 0) throw new Error(`convert failed: ${r.stderr}`);
  }
}, 300_000);
afterAll(() => cli?.dispose());

describe('pagelm run', () => {
  test('tinystories from BOS (--tokens 1): the transformers greedy text', () => {
    const r = cli.run('run', tiny, '--tokens', '1', '--max-tokens', '24', '--json');
    expect(r.stderr).not.toMatch(/pagelm:/);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.prompt_tokens).toEqual([1]);
    expect(out.text).toContain(
      'Once upon a time, there was a little girl named Lily. She had a toy car that she loved',
    );
  });

  test('--kv-cache int8 (half the cache bytes) keeps the greedy text from BOS', () => {
    const r = cli.run('run', tiny, '--tokens', '1', '--max-tokens', '24', '--json', '--kv-cache', 'int8');
    expect(r.stderr).not.toMatch(/pagelm:/);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).text).toContain(
      'Once upon a time, there was a little girl named Lily. She had a toy car that she loved',
    );
  });

  test('tinystories with a prompt streams the transformers continuation as text', () => {
    const r = cli.run('run', tiny, '--prompt', 'Once upon a time', '--max-tokens', '20');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(', a little girl named Lily lived in a small house with her mom, dad');
  });

  test('stories260k (from GGUF) from BOS; --logits writes the last prompt position', () => {
    const logits = join(cli.root, 'logits.json');
    const r = cli.run('run', stories, '--tokens', '1', '--max-tokens', '16', '--json', '--logits', logits);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).text).toContain('Once upon a time, there was a little girl named Lily.');
    const l = JSON.parse(readFileSync(logits, 'utf8'));
    expect(l).toHaveLength(512);
    expect(l.every((v: unknown) => typeof v === 'number' && Number.isFinite(v))).toBe(true);
  });

  test('seeded sampling is reproducible, and differs across seeds', () => {
    const go = (seed: string) =>
      JSON.parse(
        cli.run(
          'run',
          tiny,
          '--tokens',
          '1',
          '--max-tokens',
          '20',
          '--temperature',
          '1',
          '--top-p',
          '0.9',
          '--seed',
          seed,
          '--json',
        ).stdout,
      ).tokens;
    const a = go('7');
    expect(go('7')).toEqual(a);
    expect(go('8')).not.toEqual(a);
  });

  test('bad input: missing pack → exit 1 naming it; bad --tokens → exit 2', () => {
    const missing = join(cli.root, 'no-such-pack');
    const r = cli.run('run', missing, '--tokens', '1');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no-such-pack/);
    expect(existsSync(missing)).toBe(false);
    const bad = cli.run('run', tiny, '--tokens', '1,x');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--tokens/);
    const kv = cli.run('run', tiny, '--tokens', '1', '--kv-cache', 'fp8');
    expect(kv.code).toBe(2);
    expect(kv.stderr).toMatch(/--kv-cache: 'fp8' is not f16 or int8/);
  });
});

/** `pagelm quality` on the tiny f32 pack over 80 tokens with `extra` options, as parsed JSON (exit 0 checked). */
function qualityJson(...extra: string[]) {
  const r = cli.run('quality', tiny, '--ref', TINYSTORIES, '--max-tokens', '80', ...extra, '--json');
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

describe('pagelm quality --kv-cache', () => {
  test('int8 scores the pack with the int8 cache; a bad value exits 2 naming it', () => {
    const q = qualityJson('--kv-cache', 'int8');
    expect(q.kvCache).toBe('int8');
    // An f32 pack with the int8 cache: only the cache differs from the reference.
    expect(q.klMean).toBeGreaterThan(0);
    expect(q.klMean).toBeLessThan(1e-3);
    const exact = qualityJson();
    expect(exact.kvCache).toBe('f32');
    expect(exact.activationQuant).toBe(false);
    expect(exact.klMean).toBeLessThan(1e-9);
    const bad = cli.run('quality', tiny, '--ref', TINYSTORIES, '--kv-cache', 'fp8');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--kv-cache: 'fp8'/);
  });
});

describe('pagelm quality --activations', () => {
  test("int8 quantizes the f32 pack's linear inputs; a bad value exits 2 naming it", () => {
    const q = qualityJson('--activations', 'int8');
    expect(q.activationQuant).toBe(true);
    // An f32 pack: only the activations' rounding differs from the reference (exact: < 1e-9 above).
    expect(q.klMean).toBeGreaterThan(1e-6);
    const table = cli.run(
      'quality',
      tiny,
      '--ref',
      TINYSTORIES,
      '--max-tokens',
      '20',
      '--activations',
      'int8',
    );
    expect(table.stdout).toMatch(/activations\s+int8 per token \(--activations int8\)/);
    const bad = cli.run('quality', tiny, '--ref', TINYSTORIES, '--activations', 'int4');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--activations: 'int4' is not int8/);
  });
});

describe('the CLI re-executes itself with glibc malloc fastbins off (src/node/malloc-tunables.ts)', () => {
  test('pagelm doctor reports fastbins off, and on with PAGELM_NO_REEXEC=1', () => {
    if (!runsOnGlibc()) return; // the tunable is glibc's; elsewhere nothing is re-executed
    const off = cli.runEnv({ GLIBC_TUNABLES: '', PAGELM_NO_REEXEC: '' }, 'doctor', '--json');
    expect(off.code).toBe(0);
    expect(JSON.parse(off.stdout).host.mallocFastbins).toBe('off');
    const on = cli.runEnv({ GLIBC_TUNABLES: '', PAGELM_NO_REEXEC: '1' }, 'doctor', '--json');
    expect(on.code).toBe(0);
    expect(JSON.parse(on.stdout).host.mallocFastbins).toBe('on');
  });

  test("a failing command's exit code and message pass through the re-execution", () => {
    if (!runsOnGlibc()) return;
    const r = cli.runEnv({ GLIBC_TUNABLES: '', PAGELM_NO_REEXEC: '' }, 'no-such-command');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command 'no-such-command'/);
  });

  test('SIGTERM to the CLI reaches the re-executed child: both end by it, none is left behind', async () => {
    if (!runsOnGlibc()) return;
    // A generation long enough to be killed mid-way.
    const parent = spawn(
      process.execPath,
      [cli.script, 'run', tiny, '--tokens', '1', '--max-tokens', '400'],
      {
        cwd: cli.root,
        env: { ...process.env, GLIBC_TUNABLES: '', PAGELM_NO_REEXEC: '' },
        stdio: 'ignore',
      },
    );
    const exited = new Promise<NodeJS.Signals | null>((done) =>
      parent.on('exit', (_, signal) => done(signal)),
    );
    let child = 0;
    for (let i = 0; i < 200 && !child; i++) {
      await new Promise((r) => setTimeout(r, 10));
      const ps = spawnSync('ps', ['-o', 'pid=', '--ppid', String(parent.pid)], { encoding: 'utf8' });
      child = Number(ps.stdout.trim().split('\n')[0] || 0);
    }
    expect(child).toBeGreaterThan(0);
    parent.kill('SIGTERM');
    expect(await exited).toBe('SIGTERM'); // the child's end, passed on
    expect(() => process.kill(child, 0)).toThrow(); // gone
  });
});

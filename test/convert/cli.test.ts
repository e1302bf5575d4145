import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertCheckpoint } from '../../src/convert/convert';
import { FormatError } from '../../src/format/errors';
import { openHfCheckpoint } from '../../src/format/hf-checkpoint';
import { openPack } from '../../src/format/pack-reader';
import { tensorNames } from '../../src/model/config';
import { directorySource } from '../../src/node/file-source';
import { PackDirSink } from '../../src/node/pack-dir';
import { buildCli, type Cli } from '../helpers/cli';
import { SHARED_MODELS } from '../helpers/models';
import { startStaticServer } from '../helpers/static-server';
import { STORIES260K, TINYSTORIES } from './helpers';

/** `pagelm convert` end to end through the real, spawned CLI (test/helpers/cli.ts). */
let cli: Cli;
let root: string;

beforeAll(async () => {
  cli = await buildCli();
  root = cli.root;
}, 120_000);

afterAll(() => cli?.dispose());

const pagelm = (...args: string[]) => cli.run(...args);
const pagelmAsync = (...args: string[]) => cli.runAsync(...args);

/** Nothing of a failed run may remain: no output dir, no temp dir beside it. */
function expectNothingLeft(parent: string, out: string) {
  expect(existsSync(out)).toBe(false);
  expect(readdirSync(parent).filter((f) => f.includes('.tmp-'))).toEqual([]);
}

function copyModel(name: string): string {
  const dir = join(root, name);
  cpSync(TINYSTORIES, dir, { recursive: true });
  for (const f of readdirSync(dir)) writeFileSync(join(dir, f), readFileSync(join(dir, f))); // writable copies
  return dir;
}

describe('pagelm convert (CLI)', () => {
  it('converts an HF directory; --json prints a machine-readable summary; the pack opens', async () => {
    const out = join(root, 'ok-w4a8');
    const r = pagelm('convert', TINYSTORIES, '--out', out, '--quant', 'w4a8', '--json');
    expect(r.stderr).not.toMatch(/pagelm:/);
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({ scheme: 'w4a8', method: 'rtn', out, shards: 1 });
    expect(summary.bitsPerWeight).toBeCloseTo(4.225, 2);
    expect(summary.tensors).toHaveLength(14);
    // Not a TTY: one progress line per tensor on stderr.
    expect(r.stderr.trim().split('\n')).toHaveLength(14);
    const pack = await openPack(directorySource(out), { verify: true });
    expect(pack.manifest.name).toBe('tinystories-656k');
    expect(readdirSync(root).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('human summary on stdout; a .gguf file and a directory holding one are both recognised', () => {
    const out = join(root, 'gguf-f16');
    const r = pagelm('convert', STORIES260K, '--out', out, '--quant', 'f16');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/bits\/weight +16\.000 linear weights/);
    expect(r.stdout).toMatch(/scheme +f16 \(no quantization\)/);
    const dir = join(root, 'gguf-dir');
    mkdirSync(dir);
    cpSync(STORIES260K, join(dir, 'model.gguf'));
    const r2 = pagelm('convert', dir, '--out', join(root, 'gguf-dir-out'), '--quant', 'w4a16', '--json');
    expect(r2.code).toBe(0);
    expect(JSON.parse(r2.stdout).source).toBe(join(dir, 'model.gguf'));
  });

  it('http(s) URLs: a .gguf URL and an HF checkpoint base URL', async () => {
    const server = await startStaticServer(SHARED_MODELS);
    try {
      const r = await pagelmAsync(
        'convert',
        `${server.url}stories260k-gguf/stories260K.gguf`,
        '--out',
        join(root, 'url-gguf'),
        '--quant',
        'w4a8',
        '--json',
      );
      expect(r.stderr).not.toMatch(/pagelm:/);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout).name).toBe('stories260K');
      const r2 = await pagelmAsync(
        'convert',
        `${server.url}tinystories-656k`,
        '--out',
        join(root, 'url-hf'),
        '--quant',
        'w4a16',
        '--json',
      );
      expect(r2.code).toBe(0);
      expect(JSON.parse(r2.stdout).name).toBe('tinystories-656k');
      const missing = `${server.url}nothing-here/`;
      const r3 = await pagelmAsync('convert', missing, '--out', join(root, 'url-missing'), '--quant', 'f32');
      expect(r3.code).toBe(1);
      expect(r3.stderr).toContain(`pagelm: ${missing}config.json: missing`);
      expectNothingLeft(root, join(root, 'url-missing'));
    } finally {
      await server.close();
    }
  });

  it('nonexistent source: exit 1, the message names it, nothing is created', () => {
    const missing = join(root, 'no-such-model');
    const out = join(root, 'out-missing');
    const r = pagelm('convert', missing, '--out', out, '--quant', 'w4a8');
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`pagelm: ${missing}: no such file or directory`);
    expectNothingLeft(root, out);
  });

  it('truncated safetensors: exit 1, the message names the file, nothing is created', () => {
    const dir = copyModel('truncated');
    const st = join(dir, 'model.safetensors');
    truncateSync(st, statSync(st).size - 1000);
    const out = join(root, 'out-truncated');
    const r = pagelm('convert', dir, '--out', out, '--quant', 'w4a16');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`pagelm: ${st}`);
    expect(r.stderr).toMatch(/truncated|beyond|past the end|shorter/i);
    expectNothingLeft(root, out);
  });

  it('unsupported architecture (model_type gpt2): exit 1 naming config.json', () => {
    const dir = copyModel('gpt2');
    const cfg = join(dir, 'config.json');
    const json = JSON.parse(readFileSync(cfg, 'utf8'));
    json.model_type = 'gpt2';
    json.architectures = ['GPT2LMHeadModel'];
    writeFileSync(cfg, JSON.stringify(json));
    const out = join(root, 'out-gpt2');
    const r = pagelm('convert', dir, '--out', out, '--quant', 'w4a8');
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`pagelm: ${cfg}: unsupported architecture GPT2LMHeadModel`);
    expectNothingLeft(root, out);
  });

  it('a directory that is no checkpoint, and a file that is no GGUF', () => {
    const empty = join(root, 'empty');
    mkdirSync(empty);
    const r = pagelm('convert', empty, '--out', join(root, 'x1'), '--quant', 'f32');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`pagelm: ${empty}: not a checkpoint`);
    const txt = join(root, 'notes.txt');
    writeFileSync(txt, 'hello');
    const r2 = pagelm('convert', txt, '--out', join(root, 'x2'), '--quant', 'f32');
    expect(r2.code).toBe(1);
    expect(r2.stderr).toContain(`pagelm: ${txt}: not a checkpoint`);
    const bad = join(root, 'bad.gguf');
    writeFileSync(bad, 'GGUF\x03\x00');
    const r3 = pagelm('convert', bad, '--out', join(root, 'x3'), '--quant', 'f32');
    expect(r3.code).toBe(1);
    expect(r3.stderr).toContain(`pagelm: ${bad}`);
    expectNothingLeft(root, join(root, 'x3'));
  });

  it('an existing non-empty --out is refused (untouched) unless --force', () => {
    const out = join(root, 'existing');
    mkdirSync(out);
    writeFileSync(join(out, 'keep.txt'), 'mine');
    const r = pagelm('convert', STORIES260K, '--out', out, '--quant', 'f32');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`pagelm: ${out}: output directory exists and is not empty (use --force`);
    expect(readdirSync(out)).toEqual(['keep.txt']);
    const r2 = pagelm('convert', STORIES260K, '--out', out, '--quant', 'f32', '--force');
    expect(r2.code).toBe(0);
    expect(readdirSync(out)).toContain('manifest.json');
    expect(readdirSync(out)).not.toContain('keep.txt');
  });

  it('usage errors exit 2', () => {
    expect(pagelm('convert', TINYSTORIES, '--out', join(root, 'u'), '--quant', 'q3').code).toBe(2);
    expect(pagelm('convert', TINYSTORIES, '--quant', 'w4a8').code).toBe(2);
    expect(
      pagelm('convert', TINYSTORIES, '--out', join(root, 'u'), '--quant', 'w4a16', '--group-size', '64').code,
    ).toBe(2);
    expect(
      pagelm('convert', TINYSTORIES, '--out', join(root, 'u'), '--quant', 'f16', '--method', 'gptq').code,
    ).toBe(2);
    expect(
      pagelm('convert', TINYSTORIES, '--out', join(root, 'u'), '--quant', 'w4a16', '--smooth').code,
    ).toBe(2);
    const missingCalib = join(root, 'nope.txt');
    const r = pagelm(
      'convert',
      TINYSTORIES,
      '--out',
      join(root, 'u'),
      '--quant',
      'w4a8',
      '--method',
      'gptq',
      '--calib',
      missingCalib,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`pagelm: ${missingCalib}: cannot read calibration text`);
    expect(existsSync(join(root, 'u'))).toBe(false);
  });
});

describe('a failure mid-conversion leaves nothing behind', () => {
  it('NaN in the last tensor: shards already written are removed with the temp dir', async () => {
    const ckpt = await openHfCheckpoint(directorySource(TINYSTORIES));
    const broken = {
      ...ckpt,
      readTensor: async (name: string) => {
        const w = await ckpt.readTensor(name);
        if (name === tensorNames.lmHead) {
          const copy = w.slice();
          copy[12345] = Number.NaN;
          return copy;
        }
        return w;
      },
    };
    const parent = mkdtempSync(join(tmpdir(), 'pagelm-midfail-'));
    const out = join(parent, 'pack');
    const sink = await PackDirSink.create(out);
    let shardsWritten = 0;
    const err = await convertCheckpoint(broken, sink, {
      scheme: 'f32',
      writer: { shardTargetBytes: 64 * 1024 },
      onProgress: () => {
        if (existsSync(sink.tmp)) shardsWritten = readdirSync(sink.tmp).length;
      },
    }).catch((e) => e);
    expect(err).toBeInstanceOf(FormatError);
    expect(err.message).toBe(`${TINYSTORIES} (tensor lm_head.weight): non-finite value NaN at element 12345`);
    expect(shardsWritten).toBeGreaterThan(3);
    expect(readdirSync(parent)).toEqual([]);
    rmSync(parent, { recursive: true, force: true });
  });
});

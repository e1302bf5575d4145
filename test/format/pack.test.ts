import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { memoryDirectory } from '../../src/format/byte-source';
import { FormatError } from '../../src/format/errors';
import { COMPONENT_ALIGN, MANIFEST_FILE, type PackManifest } from '../../src/format/pack';
import { manifestGroupSize } from '../../src/format/pack-layout';
import { openPack } from '../../src/format/pack-reader';
import { type ManifestFields, MemoryPackSink, PackWriter, shardFileName } from '../../src/format/pack-writer';
import type { ModelConfig } from '../../src/model/config';
import { directorySource } from '../../src/node/file-source';
import { PackDirSink } from '../../src/node/pack-dir';
import { dequantize, packF32, quantizeLinear, w2Geometry } from '../../src/quant';
import type { Scheme } from '../../src/quant/types';
import { rng } from '../helpers/check';

const config: ModelConfig = {
  architecture: 'llama',
  hiddenSize: 96,
  intermediateSize: 160,
  numLayers: 1,
  numHeads: 4,
  numKvHeads: 2,
  headDim: 24,
  vocabSize: 64,
  rmsNormEps: 1e-6,
  ropeTheta: 10000,
  ropeScaling: {
    type: 'none',
    factor: 1,
    lowFreqFactor: 1,
    highFreqFactor: 1,
    originalMaxPositionEmbeddings: 64,
  },
  maxPositionEmbeddings: 64,
  tieWordEmbeddings: true,
  bosTokenId: 1,
  eosTokenIds: [2],
};

function fields(): ManifestFields {
  return {
    name: 'synthetic',
    config,
    scheme: 'w4a8',
    method: 'rtn',
    generation: {},
    tokenizer: { tokenizerJson: '{"model":{}}', tokenizerConfigJson: '{"chat_template":"x"}' },
    chatTemplate: 'x',
    provenance: { source: 'test', converter: 'test', created: new Date(0).toISOString(), bitsPerWeight: 4 },
  };
}

function randomMatrix(N: number, K: number, seed: number): Float32Array {
  const r = rng(seed);
  const W = new Float32Array(N * K);
  for (let i = 0; i < W.length; i++) W[i] = (r() - 0.5) * (r() < 0.01 ? 20 : 1);
  return W;
}

const SCHEMES: Scheme[] = ['f32', 'f16', 'w4a8', 'w4a16', 'w2-4-16'];
const N = 150;
const K = 200;

/** One tensor per scheme plus a norm, with tiny pieces and shards so both mechanisms are exercised. */
async function buildPack(opts: { pieceMaxBytes?: number; shardTargetBytes?: number } = {}) {
  const sink = new MemoryPackSink();
  const writer = new PackWriter(sink, opts);
  const expected = new Map<string, Float32Array>();
  for (const [i, scheme] of SCHEMES.entries()) {
    const W = randomMatrix(N, K, 100 + i);
    const q = quantizeLinear(W, N, K, { scheme });
    expected.set(scheme, dequantize(scheme, q.components, N, K));
    await writer.addTensor(scheme, [N, K], scheme, manifestGroupSize(scheme, K), q.components);
  }
  const norm = randomMatrix(1, K, 7);
  expected.set('norm', norm);
  await writer.addTensor('norm', [K], 'f32', undefined, packF32(norm, 1, K));
  const manifest = await writer.finish(fields());
  return { sink, manifest, expected };
}

describe('pack writer + reader', () => {
  it('round-trips every scheme; pieces and shards are aligned and within limits', async () => {
    const pieceMaxBytes = 4096;
    const shardTargetBytes = 16 * 1024;
    const { sink, manifest, expected } = await buildPack({ pieceMaxBytes, shardTargetBytes });
    expect(sink.committed).toBe(true);
    expect(manifest.shards.length).toBeGreaterThan(3);
    for (const s of manifest.shards) expect(s.bytes).toBeLessThanOrEqual(shardTargetBytes);
    const pack = await openPack(memoryDirectory('mem', Object.fromEntries(sink.files)), { verify: true });
    for (const t of pack.manifest.tensors) {
      if (t.shape.length === 2) expect(t.pieces.length, t.name).toBeGreaterThan(1);
      for (const p of t.pieces) {
        for (const ref of Object.values(p.components)) {
          expect(ref.offset % COMPONENT_ALIGN).toBe(0);
          expect(ref.bytes).toBeLessThanOrEqual(pieceMaxBytes);
        }
      }
      expect(await pack.dequantizeTensor(t.name), t.name).toEqual(expected.get(t.name));
    }
    expect(pack.tensor('w2-4-16').groupSize).toBe(64);
    expect(pack.tensor('w4a8').groupSize).toBe(K);
    expect(await pack.readTokenizer()).toEqual(fields().tokenizer);
    expect(manifest.provenance.totalBytes).toBe(
      manifest.shards.reduce((s, x) => s + x.bytes, 0) +
        manifest.tokenizer.json.bytes +
        manifest.tokenizer.config!.bytes,
    );
  });

  it('default limits: one piece per tensor, one shard', async () => {
    const { sink, manifest, expected } = await buildPack();
    expect(manifest.shards).toHaveLength(1);
    const pack = await openPack(memoryDirectory('mem', Object.fromEntries(sink.files)));
    for (const t of manifest.tensors) {
      expect(t.pieces).toHaveLength(1);
      expect(await pack.dequantizeTensor(t.name)).toEqual(expected.get(t.name));
    }
  });

  it('a component larger than the shard target gets a shard of its own, written as is', async () => {
    const sink = new MemoryPackSink();
    const writer = new PackWriter(sink, { shardTargetBytes: 1024 });
    const small = new Float32Array(10).fill(1);
    const big = new Float32Array(1000).fill(2);
    await writer.addTensor('a', [10], 'f32', undefined, { data: small });
    await writer.addTensor('b', [1000], 'f32', undefined, { data: big });
    await writer.addTensor('c', [10], 'f32', undefined, { data: small });
    const m = await writer.finish(fields());
    expect(m.shards.map((s) => s.bytes)).toEqual([40, 4000, 40]);
    expect(m.tensors.map((t) => t.pieces[0].components.data.shard)).toEqual([0, 1, 2]);
  });

  it('refuses a row too large for the piece limit and duplicate names', async () => {
    const writer = new PackWriter(new MemoryPackSink(), { pieceMaxBytes: 64 });
    await expect(
      writer.addTensor('x', [2, 100], 'f32', undefined, { data: new Float32Array(200) }),
    ).rejects.toThrow(/piece limit/);
    const w2 = new PackWriter(new MemoryPackSink());
    await w2.addTensor('x', [4], 'f32', undefined, { data: new Float32Array(4) });
    await expect(w2.addTensor('x', [4], 'f32', undefined, { data: new Float32Array(4) })).rejects.toThrow(
      /twice/,
    );
  });
});

describe('pack validation', () => {
  async function files() {
    const { sink } = await buildPack({ pieceMaxBytes: 4096, shardTargetBytes: 16 * 1024 });
    return Object.fromEntries([...sink.files].map(([k, v]) => [k, v.slice()]));
  }

  it('a flipped byte in a shard: verifyShard and verify-at-open name that shard', async () => {
    const f = await files();
    const victim = shardFileName(2);
    f[victim][100] ^= 0x01;
    const dir = memoryDirectory('mem', f);
    const pack = await openPack(dir); // sizes are fine: opening without verify succeeds
    await pack.verifyShard(0);
    await expect(pack.verifyShard(2)).rejects.toThrow(`mem/${victim}: checksum mismatch`);
    await expect(openPack(dir, { verify: true })).rejects.toThrow(FormatError);
    await expect(openPack(dir, { verify: true })).rejects.toThrow(`mem/${victim}: checksum mismatch`);
  });

  it('a truncated or missing shard fails at open, naming it', async () => {
    const f = await files();
    const victim = shardFileName(1);
    await expect(
      openPack(memoryDirectory('mem', { ...f, [victim]: f[victim].subarray(0, 1000) })),
    ).rejects.toThrow(new RegExp(`mem/${victim}: truncated`));
    const { [victim]: _, ...without } = f;
    await expect(openPack(memoryDirectory('mem', without))).rejects.toThrow(`mem/${victim}: missing`);
  });

  function withManifest(f: Record<string, Uint8Array>, edit: (m: PackManifest) => void) {
    const m = JSON.parse(new TextDecoder().decode(f[MANIFEST_FILE])) as PackManifest;
    edit(m);
    return memoryDirectory('mem', { ...f, [MANIFEST_FILE]: JSON.stringify(m) });
  }

  it('rejects a newer version, a foreign format, and out-of-range or misaligned components', async () => {
    const f = await files();
    await expect(openPack(withManifest(f, (m) => ((m as { version: number }).version = 3)))).rejects.toThrow(
      /pack format version 3 is newer than this pagelm reads \(version 2\)/,
    );
    await expect(
      openPack(withManifest(f, (m) => ((m as { format: string }).format = 'other'))),
    ).rejects.toThrow(/not a pagelm pack/);
    await expect(
      openPack(
        withManifest(
          f,
          (m) => (m.tensors[0].pieces[0].components.data.offset = Math.ceil(m.shards[0].bytes / 256) * 256),
        ),
      ),
    ).rejects.toThrow(/lie outside shard-00000.bin/);
    await expect(
      openPack(withManifest(f, (m) => (m.tensors[0].pieces[0].components.data.offset += 4))),
    ).rejects.toThrow(/not 256-byte aligned/);
    await expect(
      openPack(withManifest(f, (m) => (m.tensors[2].pieces[0].components.qweight.bytes -= 4))),
    ).rejects.toThrow(/\(tensor w4a8\): component qweight: \d+ bytes, expected/);
    await expect(openPack(withManifest(f, (m) => (m.tensors[1].pieces[1].rows[0] += 1)))).rejects.toThrow(
      /pieces do not tile rows/,
    );
    await expect(openPack(withManifest(f, (m) => (m.shards[0].file = '../x')))).rejects.toThrow(
      /bad shard 0 entry/,
    );
    await expect(openPack(memoryDirectory('mem', {}))).rejects.toThrow(`mem/${MANIFEST_FILE}: missing`);
  });
});

describe('version-1 packs', () => {
  /** Version 1's w2-4-16 words: every row's groups in K order (group g at word 4·(g + rank4(g))). */
  function slotToKOrder(q: Uint32Array, mask: Uint32Array, rows: number, K: number): Uint32Array {
    const { nG, n4, wordsPerRow, maskWords } = w2Geometry(K);
    const out = new Uint32Array(q.length);
    for (let n = 0; n < rows; n++) {
      let at = n * wordsPerRow;
      let rank4 = 0;
      for (let g = 0; g < nG; g++) {
        const four = (mask[n * maskWords + (g >> 5)] >>> (g & 31)) & 1;
        const from = n * wordsPerRow + (four ? 4 * (nG - n4) + 8 * rank4 : 4 * (g - rank4));
        const words = four ? 8 : 4;
        out.set(q.subarray(from, from + words), at);
        at += words;
        rank4 += four;
      }
    }
    return out;
  }

  /** The version-2 files rewritten as version 1: w2-4-16 words in K order, shard checksums redone. */
  async function asVersion1(f: Record<string, Uint8Array>, edit?: (mask: Uint32Array) => void) {
    const m = JSON.parse(new TextDecoder().decode(f[MANIFEST_FILE])) as PackManifest;
    const out = Object.fromEntries(Object.entries(f).map(([k, v]) => [k, v.slice()]));
    const t = m.tensors.find((x) => x.scheme === 'w2-4-16')!;
    for (const p of t.pieces) {
      const view = (ref: (typeof p.components)[string]) =>
        new Uint32Array(out[m.shards[ref.shard].file].buffer, ref.offset, ref.bytes / 4);
      const mask = view(p.components.mask);
      const q = view(p.components.qweight);
      q.set(slotToKOrder(q.slice(), mask, p.rows[1] - p.rows[0], t.shape[1]));
      edit?.(mask);
    }
    for (const s of m.shards) s.sha256 = createHash('sha256').update(out[s.file]).digest('hex');
    (m as { version: number }).version = 1;
    return memoryDirectory('mem', { ...out, [MANIFEST_FILE]: new TextEncoder().encode(JSON.stringify(m)) });
  }

  it('reads a version-1 pack: its w2-4-16 words are reordered into slot order, values unchanged', async () => {
    const { sink, expected } = await buildPack({ pieceMaxBytes: 4096, shardTargetBytes: 16 * 1024 });
    const f = Object.fromEntries(sink.files);
    const v2 = await openPack(memoryDirectory('mem', f));
    const v1 = await openPack(await asVersion1(f), { verify: true });
    expect(v1.manifest.version).toBe(1);
    const t = v1.tensor('w2-4-16');
    expect(t.pieces.length).toBeGreaterThan(1);
    for (let i = 0; i < t.pieces.length; i++) {
      const stored = await v1.readComponent(t.pieces[i].components.qweight);
      const read = (await v1.readTensorComponents('w2-4-16', i)).qweight;
      const want = (await v2.readTensorComponents('w2-4-16', i)).qweight;
      expect(Array.from(read)).toEqual(Array.from(want));
      expect(Array.from(stored)).not.toEqual(Array.from(want)); // the test's v1 words do differ
    }
    for (const name of SCHEMES) expect(await v1.dequantizeTensor(name), name).toEqual(expected.get(name));
  });

  it('a version-1 w2-4-16 mask with the wrong count of 4-bit groups is an error naming the tensor', async () => {
    const { sink } = await buildPack();
    const dir = await asVersion1(Object.fromEntries(sink.files), (mask) => {
      mask[0] ^= 1;
    });
    const pack = await openPack(dir, { verify: true });
    await expect(pack.readTensorComponents('w2-4-16', 0)).rejects.toThrow(
      /\(tensor w2-4-16\): piece 0: w2-4-16: row 0's mask does not have exactly \d+ 4-bit groups/,
    );
  });
});

describe('PackDirSink', () => {
  const root = mkdtempSync(join(tmpdir(), 'pagelm-packdir-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('writes into a temp dir and renames on commit; abort leaves nothing', async () => {
    const out = join(root, 'a');
    const sink = await PackDirSink.create(out);
    await sink.writeFile('x.bin', new Uint8Array([1, 2, 3]));
    expect(existsSync(out)).toBe(false);
    expect(existsSync(sink.tmp)).toBe(true);
    await sink.commit();
    expect(readFileSync(join(out, 'x.bin'))).toEqual(Buffer.from([1, 2, 3]));
    expect(readdirSync(root)).toEqual(['a']);

    const b = join(root, 'b');
    const s2 = await PackDirSink.create(b);
    await s2.writeFile('y.bin', new Uint8Array(10));
    await s2.abort();
    expect(readdirSync(root)).toEqual(['a']);
  });

  it('refuses a non-empty output directory unless forced; an empty one is fine', async () => {
    const out = join(root, 'c');
    mkdirSync(out);
    writeFileSync(join(out, 'old.txt'), 'old');
    await expect(PackDirSink.create(out)).rejects.toThrow(/not empty.*--force/);
    const sink = await PackDirSink.create(out, { force: true });
    await sink.writeFile('new.bin', new Uint8Array(1));
    await sink.commit();
    expect(readdirSync(out)).toEqual(['new.bin']);

    const empty = join(root, 'd');
    mkdirSync(empty);
    const s2 = await PackDirSink.create(empty);
    await s2.writeFile('z.bin', new Uint8Array(1));
    await s2.commit();
    expect(readdirSync(empty)).toEqual(['z.bin']);
    expect(readdirSync(root).sort()).toEqual(['a', 'c', 'd']);
  });

  it('a pack written through PackDirSink opens from disk; a truncated shard file is reported', async () => {
    const out = join(root, 'pack');
    const writer = new PackWriter(await PackDirSink.create(out), { shardTargetBytes: 16 * 1024 });
    const W = randomMatrix(64, 96, 3);
    await writer.addTensor('w', [64, 96], 'f32', undefined, packF32(W, 64, 96));
    await writer.finish(fields());
    const pack = await openPack(directorySource(out), { verify: true });
    expect(await pack.dequantizeTensor('w')).toEqual(W);
    const shard = join(out, pack.manifest.shards[0].file);
    truncateSync(shard, 100);
    await expect(openPack(directorySource(out))).rejects.toThrow(`${shard}: truncated`);
  });
});

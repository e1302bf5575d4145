// The store's pure parts, in Node: status derived from records, default ids, the worker pool,
// the speed meter, and how a chosen folder's files are resolved.
import { describe, expect, test } from 'vitest';
import type { PackManifest } from '../../src/format/pack';
import { StoreError } from '../../src/store/errors';
import { TransferMeter } from '../../src/store/meter';
import { filesOrigin } from '../../src/store/origins';
import { defaultModelId, packFiles } from '../../src/store/pack-files';
import { runPool } from '../../src/store/pool';
import type { ModelRecord } from '../../src/store/records';
import { describeModel } from '../../src/store/status';

const sha = (c: string) => c.repeat(64);
const manifest = {
  name: 'Tiny Stories/656k',
  scheme: 'w4a8',
  method: 'gptq',
  tokenizer: { json: { file: 'tokenizer.json', bytes: 10, sha256: sha('a') }, config: null },
  shards: [0, 1, 2].map((i) => ({
    file: `shard-0000${i}.bin`,
    bytes: 100 * (i + 1),
    sha256: sha(String(i)),
  })),
} as unknown as PackManifest;
const record = (bad: string[] = []): ModelRecord => ({
  id: 'm',
  manifest,
  manifestSha256: sha('f'),
  source: { kind: 'url', url: 'http://x/' },
  added: '2026-01-01T00:00:00.000Z',
  bad,
});

describe('describeModel', () => {
  test('ready only when every listed file is stored', () => {
    const all = packFiles(manifest).map((f) => f.file);
    expect(describeModel(record(), all)).toMatchObject({
      status: 'ready',
      bytes: 610,
      storedBytes: 610,
      shards: { total: 3, present: [0, 1, 2], missing: [], bad: [] },
    });
    const partial = describeModel(record(), ['tokenizer.json', 'shard-00000.bin', 'shard-00002.bin']);
    expect(partial).toMatchObject({ status: 'downloading', storedBytes: 410, shards: { missing: [1] } });
    expect(partial.missingFiles).toEqual(['shard-00001.bin']);
  });

  test('a shard marked bad makes the model broken, even with the other files stored', () => {
    const info = describeModel(record(['shard-00001.bin']), [
      'tokenizer.json',
      'shard-00000.bin',
      'shard-00002.bin',
    ]);
    expect(info).toMatchObject({
      status: 'broken',
      badFiles: ['shard-00001.bin'],
      shards: { bad: [1], missing: [1] },
    });
  });
});

test('defaultModelId: name slug, scheme and manifest hash', () => {
  expect(defaultModelId(manifest, 'abcdef0123456789')).toBe('tiny-stories-656k-w4a8-abcdef01');
});

describe('runPool', () => {
  test('at most n at once, every item once', async () => {
    let active = 0;
    let peak = 0;
    const seen: number[] = [];
    await runPool([1, 2, 3, 4, 5, 6, 7], 3, async (i) => {
      active++;
      peak = Math.max(peak, active);
      await new Promise((ok) => setTimeout(ok, 5));
      seen.push(i);
      active--;
    });
    expect(peak).toBe(3);
    expect(seen.sort()).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  test('the first failure aborts the others, waits for them, and is the one thrown', async () => {
    const aborted: number[] = [];
    const started: number[] = [];
    const err = await runPool([1, 2, 3, 4, 5], 2, async (i, signal) => {
      started.push(i);
      if (i === 1) throw new Error('first');
      await new Promise<void>((_ok, fail) =>
        signal.addEventListener('abort', () => {
          aborted.push(i);
          fail(new Error('aborted'));
        }),
      );
    }).catch((e) => e);
    expect(err.message).toBe('first');
    expect(aborted).toEqual([2]);
    expect(started).toEqual([1, 2]);
  });
});

test('TransferMeter: the rate of the last window', () => {
  const m = new TransferMeter(1000, 0);
  m.add(500, 100);
  m.add(500, 500);
  expect(m.rate(500)).toBe(2000); // 1000 bytes over the 500 ms since the start
  expect(m.rate(1000)).toBe(1000);
  expect(m.rate(2400)).toBe(0); // both samples left the window
});

describe('filesOrigin', () => {
  const file = (path: string, text = path) => {
    const f = new File([text], path.split('/').pop()!);
    Object.defineProperty(f, 'webkitRelativePath', { value: path });
    return f;
  };

  test('the pack is the folder holding manifest.json; other files are ignored', async () => {
    const origin = filesOrigin([
      file('picked/pack/manifest.json', '{}'),
      file('picked/pack/shard-00000.bin', 'abc'),
      file('picked/notes.txt'),
    ]);
    expect(origin.source).toEqual({ kind: 'files', name: 'picked/pack' });
    expect(new TextDecoder().decode(await origin.readManifest(new AbortController().signal))).toBe('{}');
    const entry = { file: 'shard-00000.bin', bytes: 3, sha256: sha('0'), shard: 0 };
    expect(await origin.readFile(entry, 'm', () => {}, new AbortController().signal)).toEqual(
      new TextEncoder().encode('abc'),
    );
    await expect(
      origin.readFile({ ...entry, file: 'shard-00001.bin' }, 'm', () => {}, new AbortController().signal),
    ).rejects.toMatchObject({ name: 'IntegrityError', file: 'shard-00001.bin', where: 'source' });
  });

  test('no manifest, or two packs: a StoreError that says so', () => {
    expect(() => filesOrigin([file('a/x.bin')])).toThrow(StoreError);
    expect(() => filesOrigin([file('a/manifest.json'), file('b/manifest.json')])).toThrow(/several packs/);
  });
});

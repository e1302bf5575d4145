import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryDirectory, memorySource, readAllText } from '../../src/format/byte-source';
import type { Checkpoint } from '../../src/format/checkpoint';
import { FormatError } from '../../src/format/errors';
import { openHfCheckpoint, parseHfConfig } from '../../src/format/hf-checkpoint';
import { decodeToF32, f16ToF32, parseSafetensors } from '../../src/format/safetensors';
import { tensorNames } from '../../src/model/config';
import { directorySource, fileSource } from '../../src/node/file-source';
import { TINYSTORIES } from '../helpers/models';

const MODEL_DIR = TINYSTORIES;
const DIR = 'mem/tinystories';
const ST_FILE = `${DIR}/model.safetensors`;
const CONFIG_FILE = `${DIR}/config.json`;

interface RawTensor {
  name: string;
  dtype: string;
  shape: number[];
  bytes: Uint8Array;
}

/** Writes a safetensors file; `edit` may tamper with the header before it is serialized. */
function buildSafetensors(
  tensors: RawTensor[],
  metadata?: Record<string, string>,
  edit?: (header: Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>) => void,
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.length] };
    offset += t.bytes.length;
  }
  edit?.(header as never);
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(new TextEncoder().encode(json), 8);
  let pos = 8 + json.length;
  for (const t of tensors) {
    out.set(t.bytes, pos);
    pos += t.bytes.length;
  }
  return out;
}

let realBytes: Uint8Array;
let realTensors: RawTensor[];
let realMetadata: Record<string, string>;
const textFiles: Record<string, string> = {};

beforeAll(async () => {
  realBytes = new Uint8Array(readFileSync(join(MODEL_DIR, 'model.safetensors')));
  const parsed = await parseSafetensors(memorySource('real', realBytes));
  realMetadata = parsed.metadata;
  realTensors = [...parsed.tensors.values()].map((t) => ({
    name: t.name,
    dtype: t.dtype,
    shape: t.shape,
    bytes: realBytes.slice(t.offset, t.offset + t.byteLength),
  }));
  for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) {
    textFiles[f] = readFileSync(join(MODEL_DIR, f), 'utf8');
  }
});

/** Bitwise equality; much faster than toEqual on 262k-element arrays. */
function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return x.every((v, i) => v === y[i]);
}

/** The tinystories directory in memory, with some files replaced. */
function memDir(overrides: Record<string, Uint8Array | string> = {}) {
  return memoryDirectory(DIR, { ...textFiles, 'model.safetensors': realBytes, ...overrides });
}

function withConfig(patch: Record<string, unknown>) {
  return JSON.stringify({ ...JSON.parse(textFiles['config.json']), ...patch });
}

/** Asserts `p` rejects with a FormatError whose message names `file` (and `tensor`) and matches `reason`. */
async function expectFormatError(p: Promise<unknown>, file: string, reason: RegExp, tensor?: string) {
  const err = await p.then(
    () => {
      throw new Error('expected a FormatError, got success');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FormatError);
  const fe = err as FormatError;
  expect(fe.file).toBe(file);
  expect(fe.message).toContain(file);
  expect(fe.message).toMatch(reason);
  if (tensor) {
    expect(fe.tensor).toBe(tensor);
    expect(fe.message).toContain(tensor);
  }
}

describe('byte sources', () => {
  it('memorySource reads ranges and reports truncation with the file name', async () => {
    const src = memorySource('a.bin', new Uint8Array([1, 2, 3, 4]));
    expect(await src.size()).toBe(4);
    expect([...(await src.read(1, 2))]).toEqual([2, 3]);
    await expectFormatError(src.read(2, 5), 'a.bin', /truncated: wanted 5 bytes at offset 2, file has 4/);
  });

  it('blobSource reads slices of a Blob', async () => {
    const { blobSource } = await import('../../src/format/byte-source');
    const src = blobSource(new Blob([new Uint8Array([9, 8, 7, 6, 5])]), 'b.bin');
    expect([...(await src.read(3, 2))]).toEqual([6, 5]);
    await expectFormatError(src.read(4, 2), 'b.bin', /truncated: wanted 2 bytes at offset 4, file has 5/);
  });

  it('fileSource reads positionally and reports truncation', async () => {
    const path = join(MODEL_DIR, 'config.json');
    const src = fileSource(path);
    const size = await src.size();
    expect(await readAllText(src)).toBe(textFiles['config.json']);
    await expectFormatError(
      src.read(size - 1, 10),
      path,
      new RegExp(`truncated: wanted 10 bytes at offset ${size - 1}, file has ${size}`),
    );
  });

  it('directorySource returns null for missing files and paths outside the directory', async () => {
    const dir = directorySource(MODEL_DIR);
    expect(await dir.open('nope.json')).toBeNull();
    expect(await dir.open('../tinystories-656k/config.json')).not.toBeNull();
    expect(await dir.open('../stories260k-gguf/stories260K.gguf')).toBeNull();
  });
});

describe('safetensors decoding', () => {
  it('decodes F16 (normal, subnormal, inf, nan) and BF16 exactly', () => {
    expect(f16ToF32(0x3c00)).toBe(1);
    expect(f16ToF32(0xc000)).toBe(-2);
    expect(f16ToF32(0x7bff)).toBe(65504);
    expect(f16ToF32(0x0001)).toBe(2 ** -24);
    expect(f16ToF32(0x7c00)).toBe(Number.POSITIVE_INFINITY);
    expect(f16ToF32(0x7e00)).toBeNaN();
    const f16 = new Uint8Array(new Uint16Array([0x3c00, 0xb800, 0x3555]).buffer);
    expect([...decodeToF32('F16', f16)]).toEqual([1, -0.5, Math.fround(0.333251953125)]);
    const bf16 = new Uint8Array(new Uint16Array([0x3f80, 0xc040, 0x4049]).buffer);
    expect([...decodeToF32('BF16', bf16)]).toEqual([1, -3, 3.140625]);
  });

  it('reads F16 and BF16 tensors from a file', async () => {
    const bytes = buildSafetensors([
      {
        name: 'a',
        dtype: 'F16',
        shape: [2],
        bytes: new Uint8Array(new Uint16Array([0x3c00, 0x4000]).buffer),
      },
      { name: 'b', dtype: 'BF16', shape: [1], bytes: new Uint8Array(new Uint16Array([0xbf80]).buffer) },
    ]);
    const file = await parseSafetensors(memorySource('x.safetensors', bytes));
    const { readSafetensor } = await import('../../src/format/safetensors');
    expect([...(await readSafetensor(file, 'a'))]).toEqual([1, 2]);
    expect([...(await readSafetensor(file, 'b'))]).toEqual([-1]);
  });
});

describe('tinystories-656k checkpoint', () => {
  let ckpt: Checkpoint;
  beforeAll(async () => {
    ckpt = await openHfCheckpoint(directorySource(MODEL_DIR));
  });

  it('reads the config', () => {
    expect(ckpt.config).toEqual({
      architecture: 'llama',
      hiddenSize: 128,
      intermediateSize: 384,
      numLayers: 2,
      numHeads: 8,
      numKvHeads: 4,
      headDim: 16,
      vocabSize: 2048,
      rmsNormEps: 1e-6,
      ropeTheta: 10000,
      ropeScaling: {
        type: 'none',
        factor: 1,
        lowFreqFactor: 1,
        highFreqFactor: 1,
        originalMaxPositionEmbeddings: 512,
      },
      maxPositionEmbeddings: 512,
      tieWordEmbeddings: true,
      bosTokenId: 1,
      eosTokenIds: [2],
    });
    expect(ckpt.source).toBe(MODEL_DIR);
    expect(ckpt.generation).toEqual({});
    expect(JSON.parse(ckpt.tokenizer.tokenizerJson).model.type).toBe('BPE');
    expect(JSON.parse(ckpt.tokenizer.tokenizerConfigJson!).bos_token).toBe('<|start_story|>');
  });

  it('lists every canonical tensor with its shape, embed aliased to lm_head', async () => {
    expect(ckpt.tensors).toHaveLength(2 + 2 * 9 + 1);
    const byName = new Map(ckpt.tensors.map((t) => [t.name, t]));
    expect(byName.get(tensorNames.embed)).toEqual({
      name: tensorNames.embed,
      shape: [2048, 128],
      dtype: 'F32',
    });
    expect(byName.get(tensorNames.lmHead)?.shape).toEqual([2048, 128]);
    const l1 = tensorNames.layer(1);
    expect(byName.get(l1.q)?.shape).toEqual([128, 128]);
    expect(byName.get(l1.k)?.shape).toEqual([64, 128]);
    expect(byName.get(l1.v)?.shape).toEqual([64, 128]);
    expect(byName.get(l1.o)?.shape).toEqual([128, 128]);
    expect(byName.get(l1.gate)?.shape).toEqual([384, 128]);
    expect(byName.get(l1.up)?.shape).toEqual([384, 128]);
    expect(byName.get(l1.down)?.shape).toEqual([128, 384]);
    expect(byName.get(l1.attnNorm)?.shape).toEqual([128]);
    expect(byName.get(tensorNames.finalNorm)?.shape).toEqual([128]);
    const embed = await ckpt.readTensor(tensorNames.embed);
    const head = await ckpt.readTensor(tensorNames.lmHead);
    expect(embed.length).toBe(2048 * 128);
    expect(sameBits(embed, head)).toBe(true);
    // Matches the raw file bytes.
    const raw = realTensors.find((t) => t.name === l1.down)!;
    expect(sameBits(await ckpt.readTensor(l1.down), new Float32Array(raw.bytes.slice().buffer))).toBe(true);
  });

  it('reads the same checkpoint from memory', async () => {
    const mem = await openHfCheckpoint(memDir());
    expect(mem.config).toEqual(ckpt.config);
    expect(mem.tensors).toEqual(ckpt.tensors);
  });

  it('aliases lm_head to embed_tokens when tied and only the embedding is stored', async () => {
    const renamed = realTensors.map((t) =>
      t.name === tensorNames.lmHead ? { ...t, name: tensorNames.embed } : t,
    );
    const c = await openHfCheckpoint(memDir({ 'model.safetensors': buildSafetensors(renamed) }));
    expect(sameBits(await c.readTensor(tensorNames.lmHead), await c.readTensor(tensorNames.embed))).toBe(
      true,
    );
  });

  it('maps generation_config.json and merges its eos ids', async () => {
    const c = await openHfCheckpoint(
      memDir({
        'generation_config.json': JSON.stringify({
          eos_token_id: [2, 7],
          temperature: 0.7,
          top_p: 0.9,
          top_k: 40,
          repetition_penalty: 1.1,
          max_new_tokens: 64,
          do_sample: true,
        }),
      }),
    );
    expect(c.generation).toEqual({
      temperature: 0.7,
      topP: 0.9,
      topK: 40,
      repetitionPenalty: 1.1,
      maxNewTokens: 64,
    });
    expect(c.config.eosTokenIds).toEqual([2, 7]);
  });
});

describe('bad checkpoints', () => {
  it('truncated file', async () => {
    const cut = realBytes.slice(0, 2_000_000);
    // The first tensor (in header order) whose data lies past the cut is reported.
    const dataStart = 8 + Number(new DataView(realBytes.buffer).getBigUint64(0, true));
    let end = 0;
    const victim = realTensors.find((t) => (end += t.bytes.length) > cut.length - dataStart)!;
    await expectFormatError(
      openHfCheckpoint(memDir({ 'model.safetensors': cut })),
      ST_FILE,
      /out of range/,
      victim.name,
    );
    await expectFormatError(
      parseSafetensors(memorySource('tiny.safetensors', realBytes.slice(0, 5))),
      'tiny.safetensors',
      /truncated/,
    );
  });

  it('garbage header', async () => {
    const bytes = new Uint8Array(64);
    new DataView(bytes.buffer).setBigUint64(0, 16n, true);
    bytes.set(new TextEncoder().encode('{"not json":::}'), 8);
    await expectFormatError(
      openHfCheckpoint(memDir({ 'model.safetensors': bytes })),
      ST_FILE,
      /invalid header JSON/,
    );
  });

  it('oversized header length', async () => {
    const bytes = realBytes.slice();
    new DataView(bytes.buffer).setBigUint64(0, 1n << 40n, true);
    await expectFormatError(
      openHfCheckpoint(memDir({ 'model.safetensors': bytes })),
      ST_FILE,
      /header too large/,
    );
    new DataView(bytes.buffer).setBigUint64(0, BigInt(bytes.length), true);
    await expectFormatError(
      openHfCheckpoint(memDir({ 'model.safetensors': bytes })),
      ST_FILE,
      /header too large/,
    );
  });

  it('offsets out of range', async () => {
    const name = tensorNames.finalNorm;
    const bytes = buildSafetensors(realTensors, realMetadata, (h) => {
      const [begin, end] = h[name].data_offsets;
      h[name].data_offsets = [begin + 1024, end + 1024];
    });
    await expectFormatError(
      openHfCheckpoint(memDir({ 'model.safetensors': bytes })),
      ST_FILE,
      /data_offsets .* out of range/,
      name,
    );
  });

  it('end before start and size not matching the shape', async () => {
    const name = tensorNames.layer(0).attnNorm;
    const swapped = buildSafetensors(realTensors, realMetadata, (h) => {
      const [begin, end] = h[name].data_offsets;
      h[name].data_offsets = [end, begin];
    });
    await expectFormatError(
      openHfCheckpoint(memDir({ 'model.safetensors': swapped })),
      ST_FILE,
      /end before start/,
      name,
    );
    const short = buildSafetensors(realTensors, realMetadata, (h) => {
      h[name].data_offsets = [h[name].data_offsets[0], h[name].data_offsets[1] - 4];
    });
    await expectFormatError(
      openHfCheckpoint(memDir({ 'model.safetensors': short })),
      ST_FILE,
      /needs 512/,
      name,
    );
  });

  it('overlapping tensors', async () => {
    const a = tensorNames.layer(0).attnNorm; // 512 bytes
    const b = tensorNames.layer(0).mlpNorm; // 512 bytes
    const bytes = buildSafetensors(realTensors, realMetadata, (h) => {
      const start = h[a].data_offsets[0] + 256;
      h[b].data_offsets = [start, start + 512];
    });
    await expectFormatError(openHfCheckpoint(memDir({ 'model.safetensors': bytes })), ST_FILE, /overlaps/);
  });

  it('missing tensor', async () => {
    const name = tensorNames.layer(1).up;
    const bytes = buildSafetensors(
      realTensors.filter((t) => t.name !== name),
      realMetadata,
    );
    await expectFormatError(
      openHfCheckpoint(memDir({ 'model.safetensors': bytes })),
      ST_FILE,
      /missing tensor/,
      name,
    );
  });

  it('missing lm_head when the embeddings are not tied', async () => {
    const c = withConfig({ tie_word_embeddings: false });
    const renamed = realTensors.map((t) =>
      t.name === tensorNames.lmHead ? { ...t, name: tensorNames.embed } : t,
    );
    await expectFormatError(
      openHfCheckpoint(memDir({ 'config.json': c, 'model.safetensors': buildSafetensors(renamed) })),
      ST_FILE,
      /missing tensor/,
      tensorNames.lmHead,
    );
  });

  it('extra tensor', async () => {
    const name = 'model.layers.99.mlp.up_proj.weight';
    const extra = { ...realTensors.find((t) => t.name === tensorNames.layer(1).up)!, name };
    const bytes = buildSafetensors([...realTensors, extra], realMetadata);
    await expectFormatError(
      openHfCheckpoint(memDir({ 'model.safetensors': bytes })),
      ST_FILE,
      /unexpected tensor/,
      name,
    );
  });

  it('ignores rotary_emb.inv_freq', async () => {
    const inv = {
      name: 'model.layers.0.self_attn.rotary_emb.inv_freq',
      dtype: 'F32',
      shape: [8],
      bytes: new Uint8Array(32),
    };
    const c = await openHfCheckpoint(
      memDir({ 'model.safetensors': buildSafetensors([...realTensors, inv], realMetadata) }),
    );
    expect(c.tensors.some((t) => t.name.includes('inv_freq'))).toBe(false);
  });

  it('shape mismatch', async () => {
    const name = tensorNames.layer(0).q;
    const bytes = buildSafetensors(
      realTensors.map((t) => (t.name === name ? { ...t, shape: [64, 256] } : t)),
      realMetadata,
    );
    await expectFormatError(
      openHfCheckpoint(memDir({ 'model.safetensors': bytes })),
      ST_FILE,
      /shape \[64,256\], expected \[128,128\]/,
      name,
    );
  });

  it('unsupported architecture', async () => {
    const c = withConfig({ architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2' });
    await expectFormatError(
      openHfCheckpoint(memDir({ 'config.json': c })),
      CONFIG_FILE,
      /unsupported architecture Qwen2ForCausalLM/,
    );
    const mistral = withConfig({
      architectures: ['MistralForCausalLM'],
      model_type: 'mistral',
      sliding_window: 4096,
    });
    await expectFormatError(
      openHfCheckpoint(memDir({ 'config.json': mistral })),
      CONFIG_FILE,
      /unsupported architecture MistralForCausalLM/,
    );
    const ok = withConfig({
      architectures: ['MistralForCausalLM'],
      model_type: 'mistral',
      sliding_window: null,
    });
    expect((await openHfCheckpoint(memDir({ 'config.json': ok }))).config.numLayers).toBe(2);
  });

  it('unsupported dtype', async () => {
    const name = tensorNames.layer(0).v;
    const bytes = buildSafetensors(realTensors, realMetadata, (h) => {
      h[name].dtype = 'I8';
    });
    await expectFormatError(
      openHfCheckpoint(memDir({ 'model.safetensors': bytes })),
      ST_FILE,
      /unsupported dtype I8/,
      name,
    );
  });

  it('NaN weight', async () => {
    const name = tensorNames.layer(1).o;
    const tensors = realTensors.map((t) => {
      if (t.name !== name) return t;
      const f = new Float32Array(t.bytes.slice().buffer);
      f[77] = Number.NaN;
      return { ...t, bytes: new Uint8Array(f.buffer) };
    });
    const c = await openHfCheckpoint(
      memDir({ 'model.safetensors': buildSafetensors(tensors, realMetadata) }),
    );
    await expectFormatError(c.readTensor(name), ST_FILE, /non-finite value NaN at element 77/, name);
    await c.readTensor(tensorNames.layer(1).q); // others still readable
  });

  it('missing config.json / tokenizer.json / weights', async () => {
    const files = { ...textFiles, 'model.safetensors': realBytes };
    const without = (k: string) => {
      const copy: Record<string, string | Uint8Array> = { ...files };
      delete copy[k];
      return memoryDirectory(DIR, copy);
    };
    await expectFormatError(openHfCheckpoint(without('config.json')), CONFIG_FILE, /missing/);
    await expectFormatError(openHfCheckpoint(without('tokenizer.json')), `${DIR}/tokenizer.json`, /missing/);
    await expectFormatError(openHfCheckpoint(without('model.safetensors')), DIR, /no model.safetensors/);
  });
});

describe('config.json parsing', () => {
  const base = () => JSON.parse(textFiles['config.json']);

  it('reads llama3 and linear rope scaling, head_dim and eos lists', () => {
    const c = parseHfConfig(
      {
        ...base(),
        head_dim: 32,
        eos_token_id: [2, 5],
        rope_theta: 500000,
        rope_scaling: {
          rope_type: 'llama3',
          factor: 8,
          low_freq_factor: 1,
          high_freq_factor: 4,
          original_max_position_embeddings: 8192,
        },
      },
      'c.json',
    );
    expect(c.headDim).toBe(32);
    expect(c.eosTokenIds).toEqual([2, 5]);
    expect(c.ropeTheta).toBe(500000);
    expect(c.ropeScaling).toEqual({
      type: 'llama3',
      factor: 8,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalMaxPositionEmbeddings: 8192,
    });
    const lin = parseHfConfig({ ...base(), rope_scaling: { type: 'linear', factor: 2 } }, 'c.json');
    expect(lin.ropeScaling.type).toBe('linear');
    expect(lin.ropeScaling.factor).toBe(2);
    const { tie_word_embeddings: _, ...untied } = base();
    expect(parseHfConfig(untied, 'c.json').tieWordEmbeddings).toBe(false);
  });

  it('rejects unsupported rope scaling and variants', () => {
    const bad = (patch: Record<string, unknown>, reason: RegExp) => {
      let err: unknown;
      try {
        parseHfConfig({ ...base(), ...patch }, 'c.json');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(FormatError);
      expect((err as FormatError).message).toMatch(/^c\.json: /);
      expect((err as FormatError).message).toMatch(reason);
    };
    bad({ rope_scaling: { rope_type: 'yarn', factor: 4 } }, /unsupported rope_scaling type "yarn"/);
    bad({ rope_scaling: { rope_type: 'llama3', factor: 8 } }, /low_freq_factor/);
    bad({ hidden_act: 'gelu' }, /unsupported hidden_act/);
    bad({ attention_bias: true }, /attention_bias/);
    bad({ num_key_value_heads: 3 }, /not a multiple/);
  });
});

describe('sharded checkpoint', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pagelm-shards-'));
    const half = Math.ceil(realTensors.length / 2);
    const shards = [realTensors.slice(0, half), realTensors.slice(half)];
    const weightMap: Record<string, string> = {};
    shards.forEach((tensors, i) => {
      const file = `model-0000${i + 1}-of-00002.safetensors`;
      writeFileSync(join(dir, file), buildSafetensors(tensors, i === 0 ? realMetadata : { format: 'pt' }));
      for (const t of tensors) weightMap[t.name] = file;
    });
    writeFileSync(
      join(dir, 'model.safetensors.index.json'),
      JSON.stringify({ metadata: { total_size: realBytes.length }, weight_map: weightMap }),
    );
    for (const [name, text] of Object.entries(textFiles)) writeFileSync(join(dir, name), text);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads identically to the single file', async () => {
    const single = await openHfCheckpoint(directorySource(MODEL_DIR));
    const sharded = await openHfCheckpoint(directorySource(dir));
    expect(sharded.config).toEqual(single.config);
    expect(sharded.tensors).toEqual(single.tensors);
    for (const t of single.tensors) {
      expect(sameBits(await sharded.readTensor(t.name), await single.readTensor(t.name)), t.name).toBe(true);
    }
  });

  it('rejects an index that disagrees with the shards', async () => {
    const index = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8'));
    const name = tensorNames.finalNorm;
    index.weight_map[name] = 'model-00001-of-00002.safetensors';
    const files: Record<string, string | Uint8Array> = { ...textFiles };
    for (const f of ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']) {
      files[f] = new Uint8Array(readFileSync(join(dir, f)));
    }
    files['model.safetensors.index.json'] = JSON.stringify(index);
    await expectFormatError(
      openHfCheckpoint(memoryDirectory(DIR, files)),
      `${DIR}/model-00001-of-00002.safetensors`,
      /not in this shard/,
      name,
    );
  });
});

import { describe, expect, it } from 'vitest';
import { memorySource } from '../../src/format/byte-source';
import { FormatError } from '../../src/format/errors';
import { readGguf, readGgufTensor } from '../../src/format/gguf';
import { openGgufCheckpoint } from '../../src/format/gguf-checkpoint';
import { tensorNames } from '../../src/model/config';
import { applyRope, greedy, ReferenceModel, ropeInvFreq } from '../../src/model/reference';
import { fileSource } from '../../src/node/file-source';
import { TextTokenizer } from '../../src/tokenizer/tokenizer';
import {
  f32Bytes,
  type GgufSpec,
  gv,
  type MetaValue,
  quantizeQ8_0,
  type TensorSpec,
  writeGguf,
} from '../helpers/gguf-writer';
import { STORIES260K } from '../helpers/models';

const STORIES = STORIES260K;
const T = { F32: 0, Q8_1: 9, Q8_0: 8 };

async function formatError(p: Promise<unknown>): Promise<FormatError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(FormatError);
  return e as FormatError;
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  };
}

/**
 * HF -> llama.cpp, as convert_hf_to_gguf.py's LlamaModel.permute does it with numpy:
 * w.reshape(n_head, 2, rows/n_head/2, cols).swapaxes(1, 2).reshape(rows, cols).
 * Written with explicit index arithmetic on the reshaped view, independently of unpermuteRows.
 */
function hfPermute(w: Float32Array, rows: number, cols: number, nHead: number): Float32Array {
  const half = rows / nHead / 2;
  const out = new Float32Array(w.length);
  let dst = 0;
  // Iterate the output in C order over the swapped shape (n_head, half, 2, cols).
  for (let h = 0; h < nHead; h++)
    for (let i = 0; i < half; i++)
      for (let two = 0; two < 2; two++)
        for (let c = 0; c < cols; c++) out[dst++] = w[((h * 2 + two) * half + i) * cols + c];
  return out;
}

// ---- a tiny synthetic llama ----------------------------------------------------------------------

const H = 64;
const HEADS = 4;
const KV = 2;
const HD = H / HEADS;
const FF = 96;
const VOCAB = 40;

interface Tiny {
  /** The weights in Hugging Face layout, by canonical name. */
  hf: Map<string, Float32Array>;
  spec: GgufSpec;
  bytes: Uint8Array;
}

function tinyLlama(
  opts: { tied?: boolean; extraMeta?: [string, MetaValue][]; arch?: string; quantize?: boolean } = {},
): Tiny {
  const r = rng(42);
  const hf = new Map<string, Float32Array>();
  const tensors: TensorSpec[] = [];
  const add = (canonical: string, gguf: string, rows: number, cols: number, permuteHeads = 0) => {
    const w = Float32Array.from({ length: rows * cols }, () => r());
    hf.set(canonical, w);
    const stored = permuteHeads ? hfPermute(w, rows, cols, permuteHeads) : w;
    const quant = opts.quantize && cols % 32 === 0 && rows > 1;
    tensors.push({
      name: gguf,
      dims: rows === 1 ? [cols] : [cols, rows],
      type: quant ? T.Q8_0 : T.F32,
      data: quant ? quantizeQ8_0(stored) : f32Bytes(stored),
    });
  };
  add(tensorNames.embed, 'token_embd.weight', VOCAB, H);
  for (let i = 0; i < 2; i++) {
    const l = tensorNames.layer(i);
    add(l.attnNorm, `blk.${i}.attn_norm.weight`, 1, H);
    add(l.q, `blk.${i}.attn_q.weight`, HEADS * HD, H, HEADS);
    add(l.k, `blk.${i}.attn_k.weight`, KV * HD, H, KV);
    add(l.v, `blk.${i}.attn_v.weight`, KV * HD, H);
    add(l.o, `blk.${i}.attn_output.weight`, H, HEADS * HD);
    add(l.mlpNorm, `blk.${i}.ffn_norm.weight`, 1, H);
    add(l.gate, `blk.${i}.ffn_gate.weight`, FF, H);
    add(l.up, `blk.${i}.ffn_up.weight`, FF, H);
    add(l.down, `blk.${i}.ffn_down.weight`, H, FF);
  }
  add(tensorNames.finalNorm, 'output_norm.weight', 1, H);
  if (!opts.tied) add(tensorNames.lmHead, 'output.weight', VOCAB, H);
  const tokens = ['<unk>', '<s>', '</s>', ...Array.from({ length: VOCAB - 3 }, (_, i) => `t${i}`)];
  const metadata: [string, MetaValue][] = [
    ['general.architecture', gv.str(opts.arch ?? 'llama')],
    ['llama.embedding_length', gv.u32(H)],
    ['llama.feed_forward_length', gv.u32(FF)],
    ['llama.block_count', gv.u32(2)],
    ['llama.attention.head_count', gv.u32(HEADS)],
    ['llama.attention.head_count_kv', gv.u32(KV)],
    ['llama.attention.layer_norm_rms_epsilon', gv.f32(1e-5)],
    ['llama.rope.freq_base', gv.f32(500000)],
    ['llama.context_length', gv.u32(4096)],
    ['llama.rope.dimension_count', gv.u32(HD)],
    ['tokenizer.ggml.model', gv.str('llama')],
    ['tokenizer.ggml.tokens', gv.arr(8, tokens)],
    [
      'tokenizer.ggml.scores',
      gv.arr(
        6,
        tokens.map((_, i) => -i),
      ),
    ],
    [
      'tokenizer.ggml.token_type',
      gv.arr(
        5,
        tokens.map((_, i) => (i === 0 ? 2 : i < 3 ? 3 : 1)),
      ),
    ],
    ['tokenizer.ggml.bos_token_id', gv.u32(1)],
    ['tokenizer.ggml.eos_token_id', gv.u32(2)],
    ...(opts.extraMeta ?? []),
  ];
  const spec = { metadata, tensors };
  return { hf, spec, bytes: writeGguf(spec) };
}

/** The tiny model's file with edits: tensors dropped/replaced/added, metadata set/removed. */
function edited(
  tiny: Tiny,
  edit: {
    drop?: string;
    replace?: TensorSpec;
    add?: TensorSpec[];
    setMeta?: [string, MetaValue][];
    dropMeta?: string;
  },
): Uint8Array {
  let tensors = tiny.spec.tensors!.filter((t) => t.name !== edit.drop);
  if (edit.replace) tensors = tensors.map((t) => (t.name === edit.replace!.name ? edit.replace! : t));
  tensors = [...tensors, ...(edit.add ?? [])];
  const set = new Map(edit.setMeta ?? []);
  let metadata = tiny.spec.metadata!.filter(([k]) => k !== edit.dropMeta && !set.has(k));
  metadata = [...metadata, ...set];
  return writeGguf({ metadata, tensors });
}

describe('GGUF llama checkpoint: stories260K', () => {
  it('maps metadata to ModelConfig and tensors to canonical names in canonical order', async () => {
    const ck = await openGgufCheckpoint(fileSource(STORIES));
    expect(ck.source).toBe(STORIES);
    expect(ck.config).toEqual({
      architecture: 'llama',
      hiddenSize: 64,
      intermediateSize: 172,
      numLayers: 5,
      numHeads: 8,
      numKvHeads: 4,
      headDim: 8,
      vocabSize: 512,
      rmsNormEps: Math.fround(1e-5),
      ropeTheta: 10000,
      ropeScaling: {
        type: 'none',
        factor: 1,
        lowFreqFactor: 1,
        highFreqFactor: 1,
        originalMaxPositionEmbeddings: 2048,
      },
      maxPositionEmbeddings: 2048,
      tieWordEmbeddings: false,
      bosTokenId: 1,
      eosTokenIds: [2],
    });
    expect(ck.tensors).toHaveLength(3 + 5 * 9);
    expect(ck.tensors[0]).toEqual({ name: tensorNames.embed, shape: [512, 64], dtype: 'F32' });
    expect(ck.tensors[1]).toEqual({ name: tensorNames.layer(0).attnNorm, shape: [64], dtype: 'F32' });
    expect(ck.tensors.find((t) => t.name === tensorNames.layer(4).k)).toEqual({
      name: tensorNames.layer(4).k,
      shape: [32, 64],
      dtype: 'F32',
    });
    expect(ck.tensors.at(-1)!.name).toBe(tensorNames.lmHead);
    expect(ck.generation).toEqual({});
  });

  it('q/k rows are un-permuted per head; other tensors are as stored', async () => {
    const ck = await openGgufCheckpoint(fileSource(STORIES));
    const raw = await readGguf(fileSource(STORIES));
    const rawQ = await readGgufTensor(raw, 'blk.2.attn_q.weight');
    const q = await ck.readTensor(tensorNames.layer(2).q);
    // Head 3, HF row j*hd/2 + i  <-  GGUF row 2i + j (hd = 8).
    const row = (w: Float32Array, r: number) => Array.from(w.subarray(r * 64, r * 64 + 64));
    expect(row(q, 3 * 8 + 0 * 4 + 1)).toEqual(row(rawQ, 3 * 8 + 2));
    expect(row(q, 3 * 8 + 1 * 4 + 1)).toEqual(row(rawQ, 3 * 8 + 3));
    expect(hfPermute(q, 64, 64, 8)).toEqual(rawQ);
    const rawK = await readGgufTensor(raw, 'blk.2.attn_k.weight');
    expect(hfPermute(await ck.readTensor(tensorNames.layer(2).k), 32, 64, 4)).toEqual(rawK);
    expect(await ck.readTensor(tensorNames.layer(2).v)).toEqual(
      await readGgufTensor(raw, 'blk.2.attn_v.weight'),
    );
  });

  it('greedy decoding from BOS with the CPU reference tells the llama2.c story', async () => {
    const ck = await openGgufCheckpoint(fileSource(STORIES));
    const model = await ReferenceModel.load(ck);
    const tok = TextTokenizer.fromFiles(ck.tokenizer);
    const ids = greedy(model.newSession(256), [ck.config.bosTokenId!], 40, ck.config.eosTokenIds);
    expect(tok.decode(ids)).toMatch(/^Once upon a time, there was a little girl named Lily\./);
  });
});

describe('GGUF llama checkpoint: synthetic files', () => {
  it('un-permutes q/k back to the original HF weights (F32 and Q8_0), other tensors unchanged', async () => {
    const tiny = tinyLlama();
    const ck = await openGgufCheckpoint(memorySource('tiny.gguf', tiny.bytes));
    for (const [name, w] of tiny.hf) expect(await ck.readTensor(name), name).toEqual(w);
    expect(ck.config).toMatchObject({
      headDim: HD,
      ropeTheta: 500000,
      maxPositionEmbeddings: 4096,
      vocabSize: VOCAB,
    });

    const q = tinyLlama({ quantize: true });
    const qck = await openGgufCheckpoint(memorySource('tiny-q8.gguf', q.bytes));
    const name = tensorNames.layer(1).q;
    expect(qck.tensors.find((t) => t.name === name)!.dtype).toBe('Q8_0');
    const got = await qck.readTensor(name);
    const want = q.hf.get(name)!;
    let worst = 0;
    for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
    expect(worst).toBeLessThan(0.01); // Q8_0 step for |w| <= 1 is 1/127
  });

  it('stored q/k with interleaved RoPE give the same attention scores as un-permuted q/k with rotate_half', async () => {
    // llama.cpp's NORM RoPE on the stored rows vs HF rotate_half on our rows: per head, the
    // rotated q·k dot products must agree at every pair of positions.
    const tiny = tinyLlama();
    const ck = await openGgufCheckpoint(memorySource('tiny.gguf', tiny.bytes));
    const raw = await readGguf(memorySource('tiny.gguf', tiny.bytes));
    const storedQ = await readGgufTensor(raw, 'blk.0.attn_q.weight');
    const storedK = await readGgufTensor(raw, 'blk.0.attn_k.weight');
    const hfQ = await ck.readTensor(tensorNames.layer(0).q);
    const hfK = await ck.readTensor(tensorNames.layer(0).k);
    const r = rng(9);
    const x = Float32Array.from({ length: H }, () => r());
    const invFreq = ropeInvFreq(ck.config);
    const project = (w: Float32Array, rows: number) => {
      const y = new Float32Array(rows);
      for (let n = 0; n < rows; n++) for (let c = 0; c < H; c++) y[n] += w[n * H + c] * x[c];
      return y;
    };
    const interleaved = (v: Float32Array, heads: number, pos: number) => {
      for (let h = 0; h < heads; h++)
        for (let i = 0; i < HD / 2; i++) {
          const angle = Math.fround(pos * invFreq[i]);
          const [cos, sin] = [Math.fround(Math.cos(angle)), Math.fround(Math.sin(angle))];
          const o = h * HD + 2 * i;
          const [a, b] = [v[o], v[o + 1]];
          v[o] = a * cos - b * sin;
          v[o + 1] = b * cos + a * sin;
        }
    };
    for (const [pq, pk] of [
      [0, 0],
      [7, 3],
      [100, 42],
    ]) {
      const q1 = project(storedQ, HEADS * HD);
      const k1 = project(storedK, KV * HD);
      interleaved(q1, HEADS, pq);
      interleaved(k1, KV, pk);
      const q2 = project(hfQ, HEADS * HD);
      const k2 = project(hfK, KV * HD);
      applyRope(q2, 1, HEADS, HD, pq, invFreq);
      applyRope(k2, 1, KV, HD, pk, invFreq);
      for (let h = 0; h < HEADS; h++) {
        const kv = Math.floor(h / (HEADS / KV));
        let s1 = 0;
        let s2 = 0;
        for (let d = 0; d < HD; d++) {
          s1 += q1[h * HD + d] * k1[kv * HD + d];
          s2 += q2[h * HD + d] * k2[kv * HD + d];
        }
        expect(Math.abs(s1 - s2)).toBeLessThan(1e-4 * (1 + Math.abs(s1)));
      }
    }
    // And without the un-permutation the scores would differ (the check has teeth).
    const q3 = project(storedQ, HEADS * HD);
    const k3 = project(storedK, KV * HD);
    applyRope(q3, 1, HEADS, HD, 7, invFreq);
    applyRope(k3, 1, KV, HD, 3, invFreq);
    const q1 = project(storedQ, HEADS * HD);
    const k1 = project(storedK, KV * HD);
    interleaved(q1, HEADS, 7);
    interleaved(k1, KV, 3);
    let diff = 0;
    for (let d = 0; d < HD; d++) diff += q1[d] * k1[d] - q3[d] * k3[d];
    expect(Math.abs(diff)).toBeGreaterThan(1e-3);
  });

  it('tied embeddings: no output.weight, lm_head reads token_embd', async () => {
    const tiny = tinyLlama({ tied: true });
    const ck = await openGgufCheckpoint(memorySource('tied.gguf', tiny.bytes));
    expect(ck.config.tieWordEmbeddings).toBe(true);
    expect(ck.tensors.at(-1)).toEqual({ name: tensorNames.lmHead, shape: [VOCAB, H], dtype: 'F32' });
    expect(await ck.readTensor(tensorNames.lmHead)).toEqual(tiny.hf.get(tensorNames.embed));
  });

  it('rope scaling, extra eos ids, key_length and sampling hints', async () => {
    const linear = tinyLlama({
      extraMeta: [
        ['llama.rope.scaling.type', gv.str('linear')],
        ['llama.rope.scaling.factor', gv.f32(4)],
        ['tokenizer.ggml.eot_token_id', gv.u32(3)],
        ['tokenizer.ggml.eom_token_id', gv.i32(-1)],
        ['llama.attention.key_length', gv.u32(HD)],
        ['general.sampling.temp', gv.f32(0.5)],
        ['general.sampling.top_k', gv.i32(40)],
      ],
    });
    const ck = await openGgufCheckpoint(memorySource('linear.gguf', linear.bytes));
    expect(ck.config.ropeScaling).toMatchObject({ type: 'linear', factor: 4 });
    expect(ck.config.eosTokenIds).toEqual([2, 3]);
    expect(ck.generation).toEqual({ temperature: 0.5, topK: 40 });

    const yarn = tinyLlama({ extraMeta: [['llama.rope.scaling.type', gv.str('yarn')]] });
    expect((await formatError(openGgufCheckpoint(memorySource('y.gguf', yarn.bytes)))).message).toMatch(
      /unsupported RoPE scaling type yarn/,
    );
  });

  it('Llama 3 RoPE scaling is recovered from rope_freqs.weight, and checked', async () => {
    // Factors as llama.cpp's converter computes them for factor 8, low 1, high 4, context 8192.
    const theta = 500000;
    const freqs = Array.from({ length: HD / 2 }, (_, i) => {
      const wavelen = (2 * Math.PI) / (1 / theta ** ((2 * i) / HD));
      if (wavelen < 8192 / 4) return 1;
      if (wavelen > 8192 / 1) return 8;
      const smooth = (8192 / wavelen - 1) / (4 - 1);
      return 1 / ((1 - smooth) / 8 + smooth);
    });
    expect(new Set(freqs).size).toBeGreaterThan(2); // exercises all three bands
    const tiny = tinyLlama();
    const build = (values: number[]) =>
      edited(tiny, {
        add: [{ name: 'rope_freqs.weight', dims: [HD / 2], type: T.F32, data: f32Bytes(values) }],
      });
    const ck = await openGgufCheckpoint(memorySource('l3.gguf', build(freqs)));
    expect(ck.config.ropeScaling).toEqual({
      type: 'llama3',
      factor: 8,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalMaxPositionEmbeddings: 8192,
    });
    expect(ck.tensors.some((t) => t.name.includes('rope'))).toBe(false);
    const odd = freqs.map((f, i) => (i === 3 ? f * 1.5 : f));
    expect((await formatError(openGgufCheckpoint(memorySource('l3.gguf', build(odd))))).message).toMatch(
      /rope_freqs.weight does not match Llama 3 RoPE scaling/,
    );
  });
});

describe('GGUF llama checkpoint: bad files are clear FormatErrors', () => {
  const tiny = tinyLlama();
  const open = (bytes: Uint8Array) => openGgufCheckpoint(memorySource('bad.gguf', bytes));

  it('unsupported architecture', async () => {
    const e = await formatError(open(edited(tiny, { setMeta: [['general.architecture', gv.str('qwen2')]] })));
    expect(e.message).toBe('bad.gguf: unsupported architecture qwen2');
    const none = await formatError(open(edited(tiny, { dropMeta: 'general.architecture' })));
    expect(none.message).toMatch(/unsupported architecture \(none\)/);
  });

  it('missing or mistyped metadata', async () => {
    const e = await formatError(open(edited(tiny, { dropMeta: 'llama.block_count' })));
    expect(e.message).toBe('bad.gguf: missing metadata llama.block_count');
    const t = await formatError(open(edited(tiny, { setMeta: [['llama.embedding_length', gv.str('64')]] })));
    expect(t.message).toMatch(/metadata llama.embedding_length should be a number, got "64"/);
    const z = await formatError(open(edited(tiny, { setMeta: [['llama.attention.head_count', gv.u32(0)]] })));
    expect(z.message).toMatch(/head_count should be a positive integer, got 0/);
    const partial = await formatError(
      open(edited(tiny, { setMeta: [['llama.rope.dimension_count', gv.u32(8)]] })),
    );
    expect(partial.message).toMatch(/partial RoPE/);
  });

  it('missing tensor, wrong shape, unknown tensor', async () => {
    const missing = await formatError(open(edited(tiny, { drop: 'blk.1.ffn_up.weight' })));
    expect(missing.tensor).toBe(tensorNames.layer(1).up);
    expect(missing.message).toMatch(/missing tensor blk.1.ffn_up.weight/);

    const wrong = await formatError(
      open(
        edited(tiny, {
          replace: {
            name: 'blk.0.attn_k.weight',
            dims: [H, H],
            type: T.F32,
            data: f32Bytes(new Float32Array(H * H)),
          },
        }),
      ),
    );
    expect(wrong.tensor).toBe('blk.0.attn_k.weight');
    expect(wrong.message).toMatch(/shape \[64, 64\], expected \[32, 64\]/);

    const extra = await formatError(
      open(
        edited(tiny, {
          add: [{ name: 'blk.0.attn_q.bias', dims: [H], type: T.F32, data: f32Bytes(new Float32Array(H)) }],
        }),
      ),
    );
    expect(extra.message).toMatch(/\(tensor blk.0.attn_q.bias\): unsupported tensor for a llama model/);
  });

  it('unsupported tensor type is reported at open, naming type and tensor', async () => {
    const e = await formatError(
      open(
        edited(tiny, {
          replace: {
            name: 'blk.0.ffn_up.weight',
            // Q8_1 (ggml's activation format) has 32-element blocks of 36 bytes; not decodable here.
            dims: [H, FF],
            type: T.Q8_1,
            data: new Uint8Array((H / 32) * 36 * FF),
          },
        }),
      ),
    );
    expect(e.tensor).toBe('blk.0.ffn_up.weight');
    expect(e.message).toMatch(/unsupported tensor type Q8_1/);
  });

  it('NaN in a weight names the canonical and the GGUF tensor', async () => {
    const data = new Float32Array(H);
    data[5] = Number.NaN;
    const ck = await open(
      edited(tiny, { replace: { name: 'output_norm.weight', dims: [H], type: T.F32, data: f32Bytes(data) } }),
    );
    const e = await formatError(ck.readTensor(tensorNames.finalNorm));
    expect(e.message).toMatch(
      /\(tensor model.norm.weight \(GGUF output_norm.weight\)\): non-finite value NaN at element 5/,
    );
    expect((await formatError(ck.readTensor('nope'))).message).toMatch(/no such tensor/);
  });

  it('token list longer than the embedding table', async () => {
    const tokens = Array.from({ length: VOCAB + 5 }, (_, i) => `x${i}`);
    const e = await formatError(
      open(edited(tiny, { setMeta: [['tokenizer.ggml.tokens', gv.arr(8, tokens)]] })),
    );
    expect(e.message).toMatch(/tokenizer has 45 tokens but token_embd.weight only 40 rows/);
  });
});

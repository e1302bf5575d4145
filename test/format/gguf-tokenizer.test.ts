import { readFileSync } from 'node:fs';
import { Tokenizer } from '@huggingface/tokenizers';
import { beforeAll, describe, expect, it } from 'vitest';
import { FormatError } from '../../src/format/errors';
import { type GgufValue, readGguf } from '../../src/format/gguf';
import { ggufTokenizerFiles, spmMerges } from '../../src/format/gguf-tokenizer';
import { fileSource } from '../../src/node/file-source';
import { TextTokenizer } from '../../src/tokenizer/tokenizer';
import { SMOLLM2_SHAPE, STORIES260K } from '../helpers/models';

const STORIES = STORIES260K;
const SMOLLM_TOKENIZER = `${SMOLLM2_SHAPE}/tokenizer.json`;

let meta: Map<string, GgufValue>;

beforeAll(async () => {
  meta = (await readGguf(fileSource(STORIES))).metadata;
});

function hfTokenizer(m: Map<string, GgufValue>): Tokenizer {
  const files = ggufTokenizerFiles(m, 'test.gguf');
  return new Tokenizer(JSON.parse(files.tokenizerJson), JSON.parse(files.tokenizerConfigJson!));
}

/**
 * SentencePiece BPE encoding written from its definition, independent of the merges list:
 * normalize (prepend ▁, spaces -> ▁), start from code points, repeatedly merge the adjacent pair
 * whose concatenation is a normal piece with the highest score (leftmost on ties), then map
 * pieces to ids, unknown characters to their UTF-8 byte tokens <0xNN>.
 */
function referenceSpm(text: string, tokens: string[], scores: number[], types: number[]): number[] {
  const id = new Map<string, number>();
  tokens.forEach((t, i) => {
    if (!id.has(t)) id.set(t, i);
  });
  const mergeable = (piece: string) => {
    const i = id.get(piece);
    return i !== undefined && (types[i] === 1 || types[i] === 4);
  };
  const syms = Array.from(`▁${text.replaceAll(' ', '▁')}`);
  for (;;) {
    let best = -1;
    let bestScore = Number.NEGATIVE_INFINITY;
    for (let i = 0; i + 1 < syms.length; i++) {
      const piece = syms[i] + syms[i + 1];
      if (mergeable(piece) && scores[id.get(piece)!] > bestScore) {
        best = i;
        bestScore = scores[id.get(piece)!];
      }
    }
    if (best < 0) break;
    syms.splice(best, 2, syms[best] + syms[best + 1]);
  }
  const out: number[] = [];
  for (const s of syms) {
    if (id.has(s)) out.push(id.get(s)!);
    else
      for (const b of new TextEncoder().encode(s)) {
        out.push(id.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`)!);
      }
  }
  return out;
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Sentences with the awkward parts: punctuation, digits, repeated/leading/trailing spaces, non-ASCII. */
function randomSentences(n: number, seed: number): string[] {
  const words = [
    'Once',
    'upon',
    'a',
    'time',
    'there',
    'was',
    'little',
    'girl',
    'named',
    'Lily',
    'she',
    'loved',
    'to',
    'play',
    'outside',
    'the',
    'park',
    'with',
    'her',
    'dog',
    'Spot',
    'sun',
    'happy',
    'big',
    'tree',
    'said',
    '"Hello!"',
    "don't",
    'mom,',
    'friends.',
    '42',
    '3.14',
    'café',
    'naïve',
    '日本語',
    '😀',
    'x',
    'zzz',
    'qwerty',
    'Tim',
    'ball',
    'jumped',
    '?',
    '!!',
    '(ok)',
    'e-mail',
    'tab\there',
    'new\nline',
  ];
  const r = rng(seed);
  return Array.from({ length: n }, () => {
    const len = 1 + Math.floor(r() * 12);
    let s = Array.from({ length: len }, () => words[Math.floor(r() * words.length)]).join(
      r() < 0.2 ? '  ' : ' ',
    );
    if (r() < 0.2) s = ` ${s}`;
    if (r() < 0.2) s = `${s} `;
    return s;
  });
}

describe('GGUF SentencePiece (llama) tokenizer -> tokenizer.json', () => {
  it('encodes "Once upon a time" with BOS and decodes it back', () => {
    const tok = TextTokenizer.fromFiles(ggufTokenizerFiles(meta, STORIES));
    const ids = tok.encode('Once upon a time');
    expect(ids).toEqual([1, 403, 407, 261, 378]);
    expect(ids.map((i) => tok.idToToken(i))).toEqual(['<s>', '▁Once', '▁upon', '▁a', '▁time']);
    expect(tok.decode(ids, { skipSpecial: true })).toBe('Once upon a time');
    expect(tok.encode('Once upon a time', { addBos: false })).toEqual([403, 407, 261, 378]);
  });

  it('matches an independent SentencePiece-BPE on random sentences, and round-trips them', () => {
    const tokens = meta.get('tokenizer.ggml.tokens') as string[];
    const scores = meta.get('tokenizer.ggml.scores') as number[];
    const types = meta.get('tokenizer.ggml.token_type') as number[];
    const tok = hfTokenizer(meta);
    const sentences = randomSentences(25, 2024);
    for (const s of sentences) {
      const ids = tok.encode(s, { add_special_tokens: false }).ids;
      expect(ids, JSON.stringify(s)).toEqual(referenceSpm(s, tokens, scores, types));
      expect(tok.decode(ids), JSON.stringify(s)).toBe(s);
    }
  });

  it('byte fallback for characters outside the vocabulary', () => {
    const tok = hfTokenizer(meta);
    const e = tok.encode('日', { add_special_tokens: false });
    // ▁ then the three UTF-8 bytes of 日 (E6 97 A5), whose tokens are <0xNN> = id 3 + byte.
    expect(e.tokens).toEqual(['▁', '<0xE6>', '<0x97>', '<0xA5>']);
    expect(e.ids.slice(1)).toEqual([3 + 0xe6, 3 + 0x97, 3 + 0xa5]);
    expect(tok.decode(e.ids)).toBe('日');
  });

  it('tokenizer_config carries bos/eos/unk and add_bos_token; control tokens are special', () => {
    const files = ggufTokenizerFiles(meta, STORIES);
    expect(JSON.parse(files.tokenizerConfigJson!)).toMatchObject({
      add_bos_token: true,
      add_eos_token: false,
      bos_token: '<s>',
      eos_token: '</s>',
      unk_token: '<unk>',
      clean_up_tokenization_spaces: false,
    });
    const json = JSON.parse(files.tokenizerJson);
    expect(
      json.added_tokens.map((t: { content: string; special: boolean }) => [t.content, t.special]),
    ).toEqual([
      ['<unk>', true],
      ['<s>', true],
      ['</s>', true],
    ]);
    expect(json.model).toMatchObject({
      type: 'BPE',
      byte_fallback: true,
      fuse_unk: true,
      unk_token: '<unk>',
    });
    expect(json.model.vocab['<0x0A>']).toBe(13);
  });

  it('add_bos_token false / add_eos_token true change the template', () => {
    const m = new Map(meta);
    m.set('tokenizer.ggml.add_bos_token', false);
    m.set('tokenizer.ggml.add_eos_token', true);
    const tok = hfTokenizer(m);
    expect(tok.encode('Once upon a time').ids).toEqual([403, 407, 261, 378, 2]);
  });

  it('add_space_prefix false: no dummy "▁" in front, nothing stripped when decoding', () => {
    const m = new Map(meta);
    m.set('tokenizer.ggml.add_space_prefix', false);
    const tok = hfTokenizer(m);
    const e = tok.encode('Once upon', { add_special_tokens: false });
    expect(e.tokens[0]).toBe('O');
    expect(tok.decode(e.ids)).toBe('Once upon');
    expect(hfTokenizer(meta).encode('Once upon', { add_special_tokens: false }).tokens[0]).toBe('▁Once');
  });

  it('chat template is passed through to tokenizer_config', () => {
    const m = new Map(meta);
    m.set('tokenizer.chat_template', '{{ messages[0].content }}');
    expect(JSON.parse(ggufTokenizerFiles(m, 'x').tokenizerConfigJson!).chat_template).toBe(
      '{{ messages[0].content }}',
    );
  });

  it('merges follow transformers: splits of a piece by (left id, right id), pieces by score', () => {
    // "abc" (score -1) splits as a+bc and ab+c; "ab" (-3), "bc" (-2).
    const tokens = ['a', 'b', 'c', 'ab', 'bc', 'abc'];
    const scores = [0, 0, 0, -3, -2, -1];
    expect(spmMerges(tokens, scores)).toEqual([
      ['ab', 'c'],
      ['a', 'bc'],
      ['b', 'c'],
      ['a', 'b'],
    ]);
    // Code points, not UTF-16 units: an astral character is never split.
    expect(spmMerges(['😀', 'x', '😀x'], [0, 0, -1])).toEqual([['😀', 'x']]);
  });

  it('unsupported or missing tokenizer is a FormatError', () => {
    const m = new Map(meta);
    m.set('tokenizer.ggml.model', 'bert');
    expect(() => ggufTokenizerFiles(m, 'f.gguf')).toThrow(
      new FormatError('f.gguf', 'unsupported GGUF tokenizer model bert'),
    );
    m.delete('tokenizer.ggml.model');
    expect(() => ggufTokenizerFiles(m, 'f.gguf')).toThrow(/tokenizer.ggml.model missing/);
    const bad = new Map(meta);
    bad.set('tokenizer.ggml.scores', [1, 2]);
    expect(() => ggufTokenizerFiles(bad, 'f.gguf')).toThrow(
      /tokenizer.ggml.scores has 2 entries for 512 tokens/,
    );
    const badId = new Map(meta);
    badId.set('tokenizer.ggml.bos_token_id', 9999);
    expect(() => ggufTokenizerFiles(badId, 'f.gguf')).toThrow(/bos_token_id = 9999 is not a token id/);
  });
});

describe('GGUF byte-level BPE (gpt2) tokenizer -> tokenizer.json', () => {
  /** GGUF metadata as llama.cpp's converter writes it for SmolLM2, from the real tokenizer.json. */
  function smollmMeta(): { m: Map<string, GgufValue>; original: Tokenizer } {
    const json = JSON.parse(readFileSync(SMOLLM_TOKENIZER, 'utf8'));
    const vocab = json.model.vocab as Record<string, number>;
    const tokens: string[] = [];
    for (const [t, i] of Object.entries(vocab)) tokens[i] = t;
    const types = tokens.map(() => 1);
    for (const t of json.added_tokens) types[t.id] = t.special ? 3 : 4;
    const merges = (json.model.merges as (string | string[])[]).map((x) =>
      Array.isArray(x) ? x.join(' ') : x,
    );
    const m = new Map<string, GgufValue>([
      ['tokenizer.ggml.model', 'gpt2'],
      ['tokenizer.ggml.pre', 'smollm'],
      ['tokenizer.ggml.tokens', tokens],
      ['tokenizer.ggml.token_type', types],
      ['tokenizer.ggml.merges', merges],
      ['tokenizer.ggml.bos_token_id', 1],
      ['tokenizer.ggml.eos_token_id', 2],
      ['tokenizer.ggml.add_bos_token', false],
    ]);
    return { m, original: new Tokenizer(json, { clean_up_tokenization_spaces: false }) };
  }

  it('SmolLM2: same ids as the real tokenizer.json on random sentences, and round trip', () => {
    const { m, original } = smollmMeta();
    const tok = hfTokenizer(m);
    for (const s of [...randomSentences(20, 7), '<|im_start|>user\nHi 12345<|im_end|>']) {
      const ids = tok.encode(s).ids;
      expect(ids, JSON.stringify(s)).toEqual(original.encode(s).ids);
      expect(tok.decode(ids)).toBe(s);
    }
  });

  it('Llama 3 pre-tokenizer loads and round-trips; unknown pre-tokenizers are refused', () => {
    const { m } = smollmMeta();
    m.set('tokenizer.ggml.pre', 'llama-bpe');
    m.set('tokenizer.ggml.add_bos_token', true);
    const tok = hfTokenizer(m);
    const ids = tok.encode("Hello world, it's 2024!").ids;
    expect(ids[0]).toBe(1);
    expect(tok.decode(ids.slice(1))).toBe("Hello world, it's 2024!");
    m.set('tokenizer.ggml.pre', 'deepseek-coder');
    expect(() => ggufTokenizerFiles(m, 'f.gguf')).toThrow(
      /unsupported GGUF byte-level BPE pre-tokenizer deepseek-coder/,
    );
  });
});

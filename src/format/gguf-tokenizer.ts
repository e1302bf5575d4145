/**
 * The tokenizer embedded in GGUF metadata (tokenizer.ggml.*) rewritten as the tokenizer.json /
 * tokenizer_config.json pair that @huggingface/tokenizers loads, so GGUF and Hugging Face
 * checkpoints share one tokenizer implementation.
 *
 * - 'llama' (SentencePiece BPE): rebuilt the way transformers' LlamaConverter does it (BPE with
 *   byte fallback; merges derived from the piece scores like SentencePieceExtractor), which is
 *   what LlamaTokenizerFast ships for these models.
 * - 'gpt2' (byte-level BPE, Llama 3 / SmolLM style): vocab and merges are stored as-is; the
 *   pre-tokenizer regex is chosen from tokenizer.ggml.pre like llama.cpp does.
 */
import type { TokenizerFiles } from './checkpoint';
import { FormatError } from './errors';
import type { GgufValue } from './gguf';

/** tokenizer.ggml.token_type values (llama.cpp llama_token_type). */
export const TokenType = {
  UNDEFINED: 0,
  NORMAL: 1,
  UNKNOWN: 2,
  CONTROL: 3,
  USER_DEFINED: 4,
  UNUSED: 5,
  BYTE: 6,
} as const;

interface AddedTokenJson {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

/** What both tokenizer kinds read from the metadata. */
interface Vocab {
  tokens: string[];
  types: number[];
  bos: number | null;
  eos: number | null;
  unk: number | null;
  pad: number | null;
  addBos: boolean;
  addEos: boolean;
  chatTemplate: string | null;
}

function fail(file: string, reason: string): never {
  throw new FormatError(file, reason);
}

function stringArray(meta: Map<string, GgufValue>, key: string, file: string): string[] | null {
  const v = meta.get(key);
  if (v === undefined) return null;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))
    fail(file, `metadata ${key} should be a string array`);
  return v as string[];
}

function numberArray(
  meta: Map<string, GgufValue>,
  key: string,
  file: string,
  length: number,
): number[] | null {
  const v = meta.get(key);
  if (v === undefined) return null;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'number'))
    fail(file, `metadata ${key} should be a number array`);
  if (v.length !== length) fail(file, `metadata ${key} has ${v.length} entries for ${length} tokens`);
  return v as number[];
}

function tokenId(meta: Map<string, GgufValue>, key: string, count: number, file: string): number | null {
  const v = meta.get(key);
  // llama.cpp writes -1 (or u32 max) for "no such token".
  if (v === undefined || v === -1 || v === 0xffffffff) return null;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= count) {
    fail(file, `metadata ${key} = ${String(v)} is not a token id (vocabulary has ${count} tokens)`);
  }
  return v;
}

function bool(meta: Map<string, GgufValue>, key: string, fallback: boolean, file: string): boolean {
  const v = meta.get(key);
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') fail(file, `metadata ${key} should be a bool`);
  return v;
}

function readVocab(meta: Map<string, GgufValue>, file: string, defaultAddBos: boolean): Vocab {
  const tokens = stringArray(meta, 'tokenizer.ggml.tokens', file);
  if (!tokens || tokens.length === 0) fail(file, 'no tokenizer in the file (tokenizer.ggml.tokens missing)');
  const n = tokens.length;
  const types =
    numberArray(meta, 'tokenizer.ggml.token_type', file, n) ?? new Array(n).fill(TokenType.NORMAL);
  const template = meta.get('tokenizer.chat_template');
  return {
    tokens,
    types,
    bos: tokenId(meta, 'tokenizer.ggml.bos_token_id', n, file),
    eos: tokenId(meta, 'tokenizer.ggml.eos_token_id', n, file),
    unk: tokenId(meta, 'tokenizer.ggml.unknown_token_id', n, file),
    pad: tokenId(meta, 'tokenizer.ggml.padding_token_id', n, file),
    addBos: bool(meta, 'tokenizer.ggml.add_bos_token', defaultAddBos, file),
    addEos: bool(meta, 'tokenizer.ggml.add_eos_token', false, file),
    chatTemplate: typeof template === 'string' ? template : null,
  };
}

/**
 * token -> id. A token listed twice keeps its first id (a JSON object cannot hold both); the later
 * id still decodes through added_tokens if it is special, else it is unreachable when encoding.
 */
function vocabObject(tokens: string[]): Record<string, number> {
  const vocab: Record<string, number> = Object.create(null);
  tokens.forEach((t, i) => {
    if (!(t in vocab)) vocab[t] = i;
  });
  return vocab;
}

/** Control/unknown tokens are special; user-defined ones are matched whole but are not special. */
function addedTokens(v: Vocab): AddedTokenJson[] {
  const out: AddedTokenJson[] = [];
  v.types.forEach((type, id) => {
    const special = type === TokenType.CONTROL || type === TokenType.UNKNOWN;
    if (!special && type !== TokenType.USER_DEFINED) return;
    out.push({
      id,
      content: v.tokens[id],
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special,
    });
  });
  return out;
}

/** BOS/EOS around each sequence as the add_bos/add_eos flags say (HF TemplateProcessing). */
function postProcessor(v: Vocab): unknown {
  const specials: Record<string, { id: string; ids: number[]; tokens: string[] }> = {};
  const bos = v.addBos && v.bos !== null ? v.tokens[v.bos] : null;
  const eos = v.addEos && v.eos !== null ? v.tokens[v.eos] : null;
  if (bos !== null && v.bos !== null) specials[bos] = { id: bos, ids: [v.bos], tokens: [bos] };
  if (eos !== null && v.eos !== null) specials[eos] = { id: eos, ids: [v.eos], tokens: [eos] };
  const seq = (id: 'A' | 'B', typeId: number) => {
    const parts: unknown[] = [];
    if (bos !== null) parts.push({ SpecialToken: { id: bos, type_id: typeId } });
    parts.push({ Sequence: { id, type_id: typeId } });
    if (eos !== null) parts.push({ SpecialToken: { id: eos, type_id: typeId } });
    return parts;
  };
  return {
    type: 'TemplateProcessing',
    single: seq('A', 0),
    pair: [...seq('A', 0), ...seq('B', 1)],
    special_tokens: specials,
  };
}

/** tokenizer_config.json: what HF's tokenizer class and the chat template need. */
function tokenizerConfig(v: Vocab, extra: Record<string, unknown>): string {
  const name = (id: number | null) => (id === null ? null : v.tokens[id]);
  const config: Record<string, unknown> = {
    add_bos_token: v.addBos,
    add_eos_token: v.addEos,
    bos_token: name(v.bos),
    eos_token: name(v.eos),
    unk_token: name(v.unk),
    pad_token: name(v.pad),
    // HF Llama tokenizers do not "clean up" spaces before punctuation; tokenizers.js defaults to true.
    clean_up_tokenization_spaces: false,
    ...extra,
  };
  if (v.chatTemplate !== null) config.chat_template = v.chatTemplate;
  return JSON.stringify(config);
}

// ---- SentencePiece (tokenizer.ggml.model == 'llama') -------------------------------------------

/**
 * Merges from piece scores, as transformers' SentencePieceExtractor (generate_merges) does: every
 * split of every piece into two pieces that are both in the vocabulary is a merge; splits of one
 * piece are ordered by (left id, right id); all merges are then ordered by the merged piece's
 * score, highest first (stable), ties by longer left then longer right part. Lengths and split
 * points are in code points, as in Python.
 */
export function spmMerges(tokens: string[], scores: number[]): [string, string][] {
  const vocab = new Map<string, number>();
  tokens.forEach((t, i) => {
    if (!vocab.has(t)) vocab.set(t, i);
  });
  interface M {
    left: string;
    right: string;
    score: number;
    leftLen: number;
    rightLen: number;
  }
  const merges: M[] = [];
  // Iterate like Python's dict(vocab_scores): first occurrence's position, last occurrence's score.
  const scoreOf = new Map<string, number>();
  tokens.forEach((t, i) => {
    scoreOf.set(t, scores[i]);
  });
  for (const [piece, score] of scoreOf) {
    const chars = Array.from(piece);
    const local: M[] = [];
    for (let k = 1; k < chars.length; k++) {
      const left = chars.slice(0, k).join('');
      const right = chars.slice(k).join('');
      if (vocab.has(left) && vocab.has(right)) {
        local.push({ left, right, score, leftLen: k, rightLen: chars.length - k });
      }
    }
    local.sort(
      (a, b) => vocab.get(a.left)! - vocab.get(b.left)! || vocab.get(a.right)! - vocab.get(b.right)!,
    );
    merges.push(...local);
  }
  merges.sort((a, b) => b.score - a.score || b.leftLen - a.leftLen || b.rightLen - a.rightLen);
  return merges.map((m) => [m.left, m.right]);
}

function llamaTokenizer(meta: Map<string, GgufValue>, file: string): TokenizerFiles {
  // llama.cpp adds BOS by default for SentencePiece vocabularies.
  const v = readVocab(meta, file, true);
  const scores =
    numberArray(meta, 'tokenizer.ggml.scores', file, v.tokens.length) ?? new Array(v.tokens.length).fill(0);
  const unkToken = v.unk !== null ? v.tokens[v.unk] : null;
  // SentencePiece's add_dummy_prefix; llama.cpp records it for the few models that turn it off.
  const addSpacePrefix = bool(meta, 'tokenizer.ggml.add_space_prefix', true, file);
  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens(v),
    normalizer: {
      type: 'Sequence',
      normalizers: [
        ...(addSpacePrefix ? [{ type: 'Prepend', prepend: '▁' }] : []),
        { type: 'Replace', pattern: { String: ' ' }, content: '▁' },
      ],
    },
    pre_tokenizer: null,
    post_processor: postProcessor(v),
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        ...(addSpacePrefix ? [{ type: 'Strip', content: ' ', start: 1, stop: 0 }] : []),
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: unkToken,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab: vocabObject(v.tokens),
      merges: spmMerges(v.tokens, scores),
    },
  };
  return {
    tokenizerJson: JSON.stringify(json),
    tokenizerConfigJson: tokenizerConfig(v, { tokenizer_class: 'LlamaTokenizer', legacy: true }),
  };
}

// ---- byte-level BPE (tokenizer.ggml.model == 'gpt2') -------------------------------------------

/** Llama 3 (tokenizer.ggml.pre 'llama-bpe'). */
const LLAMA3_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const byteLevel = (useRegex: boolean) => ({
  type: 'ByteLevel',
  add_prefix_space: false,
  trim_offsets: true,
  use_regex: useRegex,
});

const split = (regex: string) => ({
  type: 'Split',
  pattern: { Regex: regex },
  behavior: 'Isolated',
  invert: false,
});

/**
 * Pre-tokenizers for the tokenizer.ggml.pre values we know (llama.cpp llama-vocab.cpp); others
 * are refused rather than tokenized subtly wrong.
 */
function gpt2PreTokenizer(pre: string, file: string): { pre: unknown; ignoreMerges: boolean } {
  switch (pre) {
    case 'default':
    case 'gpt-2':
    case 'gpt2':
      return { pre: byteLevel(true), ignoreMerges: false };
    case 'llama3':
    case 'llama-v3':
    case 'llama-bpe':
      return {
        pre: { type: 'Sequence', pretokenizers: [split(LLAMA3_REGEX), byteLevel(false)] },
        ignoreMerges: true,
      };
    case 'smollm':
    case 'starcoder':
    case 'refact':
      return {
        pre: {
          type: 'Sequence',
          pretokenizers: [{ type: 'Digits', individual_digits: true }, byteLevel(true)],
        },
        ignoreMerges: false,
      };
    default:
      return fail(file, `unsupported GGUF byte-level BPE pre-tokenizer ${pre}`);
  }
}

function gpt2Tokenizer(meta: Map<string, GgufValue>, file: string): TokenizerFiles {
  // llama.cpp's default for BPE vocabularies is no BOS unless the file says so.
  const v = readVocab(meta, file, false);
  const merges = stringArray(meta, 'tokenizer.ggml.merges', file);
  if (!merges) fail(file, 'byte-level BPE tokenizer without tokenizer.ggml.merges');
  const preName = meta.get('tokenizer.ggml.pre');
  const { pre, ignoreMerges } = gpt2PreTokenizer(typeof preName === 'string' ? preName : 'default', file);
  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens(v),
    normalizer: null,
    pre_tokenizer: pre,
    post_processor: postProcessor(v),
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: v.unk !== null ? v.tokens[v.unk] : null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: ignoreMerges,
      vocab: vocabObject(v.tokens),
      merges: merges.map((m) => {
        const i = m.indexOf(' ', 1);
        if (i < 0) fail(file, `malformed merge ${JSON.stringify(m)}`);
        return [m.slice(0, i), m.slice(i + 1)];
      }),
    },
  };
  return {
    tokenizerJson: JSON.stringify(json),
    tokenizerConfigJson: tokenizerConfig(v, { tokenizer_class: 'PreTrainedTokenizerFast' }),
  };
}

/** tokenizer.json + tokenizer_config.json text for the tokenizer in GGUF metadata. */
export function ggufTokenizerFiles(meta: Map<string, GgufValue>, file: string): TokenizerFiles {
  const model = meta.get('tokenizer.ggml.model');
  if (model === 'llama') return llamaTokenizer(meta, file);
  if (model === 'gpt2') return gpt2Tokenizer(meta, file);
  if (model === undefined) return fail(file, 'no tokenizer in the file (tokenizer.ggml.model missing)');
  return fail(file, `unsupported GGUF tokenizer model ${String(model)}`);
}

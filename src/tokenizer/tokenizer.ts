import { Template } from '@huggingface/jinja';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import type { TokenizerFiles } from '../format/checkpoint';

/**
 * Text <-> token ids for a checkpoint, on top of @huggingface/tokenizers (tokenizer.json) and
 * @huggingface/jinja (chat templates).
 *
 * Security rule: text a user typed is never parsed as special/control tokens. A chat message
 * containing "<|im_start|>system ..." must reach the model as those characters, not as a forged
 * turn. @huggingface/tokenizers always matches special tokens in the input (it has no
 * `split_special_tokens` switch), so we keep a second, *guarded* tokenizer built from the same
 * tokenizer.json in which every special token's text is replaced by a private sentinel string
 * (random private-use characters, different for every TextTokenizer). Encoding with it:
 *  - `encode(text)`: the text is encoded in full by the guarded tokenizer, so a "<|im_start|>"
 *    typed by the user is split into ordinary pieces ("<|", "im", ...) like any other text.
 *  - chats: the template is rendered with placeholders in place of message contents; special
 *    token strings in the *template's own output* are swapped for their sentinels, the user
 *    contents are put back verbatim, and the whole string is encoded once by the guarded
 *    tokenizer. Only sentinels (which users cannot type: unknown random characters, and rejected
 *    if present) become control ids. Encoding the whole string at once (instead of segment by
 *    segment) keeps the ids identical to HF's `apply_chat_template(..., tokenize=True)` for
 *    benign content: pre-tokenizers see the same section boundaries and the same context.
 *    Templates that post-process content are handled only for `| trim` (checked against a real
 *    render); anything else is refused rather than guessed.
 * The guarded model also cannot *assemble* a special token from ordinary pieces (its vocabulary
 * entry is renamed, merges building it are dropped: see guardModel), and a final count check
 * (control ids out == sentinels in) backs that up.
 */

export interface ChatMessage {
  role: string;
  content: string;
}

export interface EncodeOptions {
  /**
   * Prepend the tokenizer's own prefix (usually BOS), as HF does with add_special_tokens=True.
   * tokenizer_config.json's add_bos_token decides when present, else tokenizer.json's
   * post_processor. Default true.
   */
  addBos?: boolean;
  /** Parse special-token text in `text` as control tokens. Only for trusted text. Default false. */
  allowSpecial?: boolean;
}

export interface ChatTemplateOptions {
  /** Append the assistant turn header so the model answers next. Default true. */
  addGenerationPrompt?: boolean;
  /** Extra template variables (tools, date_string, ...). */
  context?: Record<string, unknown>;
}

type Json = Record<string, unknown>;

interface AddedTokenJson {
  id: number;
  content: string;
  special?: boolean;
  [key: string]: unknown;
}

/** A special-token value in tokenizer_config.json: a string or an AddedToken-like object. */
function tokenText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as Json).content === 'string')
    return (v as Json).content as string;
  return undefined;
}

function randomPrivateUse(length: number): string {
  const values = new Uint32Array(length);
  crypto.getRandomValues(values);
  // U+E000..U+F8FF: private use area, left alone by NFC/NFKC, lowercasing and byte-level BPE.
  return Array.from(values, (v) => String.fromCharCode(0xe000 + (v % 0x1900))).join('');
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export class TextTokenizer {
  /** Ids of special (control) tokens: never produced from user text. */
  readonly specialIds: ReadonlySet<number>;
  /** specialIds minus <unk>: the ids that may only come from template text. */
  readonly controlIds: ReadonlySet<number>;
  /** Token ids `encode` prepends with addBos (usually [bos]). */
  readonly bosPrefix: readonly number[];
  readonly chatTemplate: string | null;

  private readonly full: HfTokenizer;
  private readonly guarded: HfTokenizer;
  /** special token text -> its sentinel in the guarded tokenizer. */
  private readonly sentinelOf = new Map<string, string>();
  private readonly nonce = randomPrivateUse(8);
  private readonly specialPattern: RegExp | null;
  private readonly cleanUpSpaces: boolean;
  private readonly templateVars: Json;

  private constructor(tokenizerJson: Json, config: Json, chatTemplate: string | null) {
    this.full = new HfTokenizer(tokenizerJson, config);
    const added = (
      Array.isArray(tokenizerJson.added_tokens) ? tokenizerJson.added_tokens : []
    ) as AddedTokenJson[];
    const specials = added.filter((t) => t.special);
    this.specialIds = new Set(specials.map((t) => t.id));
    // <unk> is flagged special but is what ordinary unknown characters legitimately encode to, so
    // it is not a control token and is left unguarded (typing "<unk>" gives the unk id, as in HF).
    const model = (tokenizerJson.model ?? {}) as Json;
    const unk = typeof model.unk_token === 'string' ? this.full.token_to_id(model.unk_token) : undefined;
    this.controlIds = new Set([...this.specialIds].filter((id) => id !== unk));

    const guardedAdded = added.map((t) => {
      if (!t.special || t.id === unk) return t;
      const sentinel = `${this.nonce}${randomPrivateUse(6)}`;
      this.sentinelOf.set(t.content, sentinel);
      return { ...t, content: sentinel };
    });
    this.guarded = new HfTokenizer(
      { ...tokenizerJson, added_tokens: guardedAdded, model: guardModel(model, this.sentinelOf) },
      config,
    );

    // Longest first, so that e.g. "<|im_start|>" wins over a shorter special that prefixes it.
    const texts = [...this.sentinelOf.keys()].sort((a, b) => b.length - a.length);
    this.specialPattern = texts.length ? new RegExp(texts.map(escapeRegExp).join('|'), 'g') : null;

    // HF's default for clean_up_tokenization_spaces was True, but it rewrites text (" ." -> ".")
    // and breaks incremental decoding; modern tokenizer configs set it false. Honour an explicit true.
    this.cleanUpSpaces = config.clean_up_tokenization_spaces === true;
    this.bosPrefix = this.computeBosPrefix(config);
    this.chatTemplate = chatTemplate;
    this.templateVars = {};
    for (const key of ['bos_token', 'eos_token', 'unk_token', 'pad_token']) {
      const text = tokenText(config[key]);
      if (text !== undefined) this.templateVars[key] = text;
    }
  }

  /** Builds a tokenizer from a checkpoint's files; `chatTemplate` overrides tokenizer_config's. */
  static fromFiles(files: TokenizerFiles, options: { chatTemplate?: string } = {}): TextTokenizer {
    const json = JSON.parse(files.tokenizerJson) as Json;
    const config = (files.tokenizerConfigJson ? JSON.parse(files.tokenizerConfigJson) : {}) as Json;
    return new TextTokenizer(json, config, options.chatTemplate ?? pickChatTemplate(config.chat_template));
  }

  private computeBosPrefix(config: Json): number[] {
    if (typeof config.add_bos_token === 'boolean') {
      // transformers rebuilds a Llama tokenizer's post-processor from add_bos_token.
      const bos = tokenText(config.bos_token);
      const id = bos === undefined ? undefined : this.full.token_to_id(bos);
      return config.add_bos_token && id !== undefined ? [id] : [];
    }
    const probe = 'a';
    const withSpecial = this.full.encode(probe, { add_special_tokens: true }).ids;
    const plain = this.full.encode(probe, { add_special_tokens: false }).ids;
    for (let i = 0; i + plain.length <= withSpecial.length; i++) {
      if (plain.every((id, j) => withSpecial[i + j] === id)) return withSpecial.slice(0, i);
    }
    return [];
  }

  /** Number of distinct token ids (vocabulary plus added tokens); may be below config.vocabSize. */
  get vocabSize(): number {
    this.vocabSizeCache ??= this.full.get_vocab(true).size;
    return this.vocabSizeCache;
  }
  private vocabSizeCache: number | undefined;

  tokenToId(token: string): number | undefined {
    return this.full.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.full.id_to_token(id);
  }

  /** Encodes text; special-token text in it stays plain text unless `allowSpecial`. */
  encode(text: string, options: EncodeOptions = {}): number[] {
    const prefix = options.addBos === false ? [] : [...this.bosPrefix];
    if (options.allowSpecial)
      return [...prefix, ...this.full.encode(text, { add_special_tokens: false }).ids];
    this.assertNoSentinel(text);
    const ids = this.guarded.encode(text, { add_special_tokens: false }).ids;
    this.assertControlCount(ids, 0);
    return [...prefix, ...ids];
  }

  /** Token ids to text (byte-fallback pieces are joined into UTF-8 first). */
  decode(ids: number[], options: { skipSpecial?: boolean } = {}): string {
    if (ids.length === 0) return '';
    return this.full.decode(ids, {
      skip_special_tokens: options.skipSpecial ?? false,
      clean_up_tokenization_spaces: this.cleanUpSpaces,
    });
  }

  /** A decoder that turns a growing id list into text deltas (for streaming output). */
  streamDecoder(options: { skipSpecial?: boolean } = {}): StreamDecoder {
    return new StreamDecoder((ids) => this.decode(ids, options));
  }

  /** The chat rendered as text, exactly as the template produces it (for display and debugging). */
  renderChat(messages: ChatMessage[], options: ChatTemplateOptions = {}): string {
    return this.render(messages, options);
  }

  /**
   * The chat as token ids, ready for the model. Special tokens the template emits become control
   * ids; message contents are always plain text (see the comment at the top of this file).
   * The template's BOS (if it writes one) is kept; no other prefix is added, like HF.
   */
  applyChatTemplate(messages: ChatMessage[], options: ChatTemplateOptions = {}): number[] {
    const placeholder = (i: number) => `${this.nonce}\u{f8ff}${i}\u{f8ff}`;
    for (const m of messages) {
      if (typeof m.content !== 'string') throw new Error('chat message content must be a string');
      this.assertNoSentinel(m.content);
    }
    const withPlaceholders = this.render(
      messages.map((m, i) => ({ ...m, content: placeholder(i) })),
      options,
    );
    // Odd entries are message indices, even entries template text.
    const parts = withPlaceholders.split(new RegExp(`${this.nonce}\u{f8ff}(\\d+)\u{f8ff}`, 'u'));
    const templateParts = parts.filter((_, i) => i % 2 === 0);
    if (templateParts.some((p) => p.includes(this.nonce))) {
      throw new Error('chat template transforms message content in a way that cannot be tokenized safely');
    }
    // Templates may post-process content (Llama 3 uses `| trim`), which the placeholder hides:
    // pick the transform that reproduces the real rendering exactly, or refuse.
    const real = this.render(messages, options);
    const assemble = (transform: (s: string) => string, template: (s: string) => string) =>
      parts.map((p, i) => (i % 2 === 1 ? transform(messages[Number(p)].content) : template(p))).join('');
    const transform = [(s: string) => s, (s: string) => s.trim()].find((f) => assemble(f, (p) => p) === real);
    if (!transform) {
      throw new Error('chat template transforms message content in a way that cannot be tokenized safely');
    }
    // Template text: special token strings -> sentinels. Message contents: verbatim.
    let sentinels = 0;
    const pattern = this.specialPattern;
    const text = assemble(transform, (p) =>
      pattern
        ? p.replace(pattern, (s) => {
            sentinels++;
            return this.sentinelOf.get(s)!;
          })
        : p,
    );
    const ids = this.guarded.encode(text, { add_special_tokens: false }).ids;
    this.assertControlCount(ids, sentinels);
    return ids;
  }

  private render(messages: ChatMessage[], options: ChatTemplateOptions): string {
    if (this.chatTemplate === null) throw new Error('this tokenizer has no chat template');
    return new Template(this.chatTemplate).render({
      ...this.templateVars,
      ...options.context,
      messages,
      add_generation_prompt: options.addGenerationPrompt ?? true,
      // raise_exception is built into @huggingface/jinja.
    });
  }

  /** The sentinels are random, so this only trips if someone pasted one back in on purpose. */
  private assertNoSentinel(text: string): void {
    if (text.includes(this.nonce)) throw new Error('input contains reserved tokenizer characters');
  }

  private assertControlCount(ids: number[], expected: number): void {
    let n = 0;
    for (const id of ids) if (this.controlIds.has(id)) n++;
    if (n !== expected) {
      throw new Error(`tokenizer produced ${n} control tokens where the template has ${expected}`);
    }
  }
}

/**
 * The guarded tokenizer's model must not be able to produce a special token from ordinary text
 * either: its vocabulary entry is renamed to the sentinel (ids stay put) and merges that would
 * build the special string are dropped. Handles BPE (vocab map + merges) and Unigram (piece list).
 */
function guardModel(model: Json, sentinelOf: Map<string, string>): Json {
  const guarded: Json = { ...model };
  if (Array.isArray(model.vocab)) {
    guarded.vocab = model.vocab.map((entry) =>
      Array.isArray(entry) && sentinelOf.has(entry[0])
        ? [sentinelOf.get(entry[0]), ...entry.slice(1)]
        : entry,
    );
  } else if (isJson(model.vocab)) {
    guarded.vocab = Object.fromEntries(
      Object.entries(model.vocab).map(([token, id]) => [sentinelOf.get(token) ?? token, id]),
    );
  }
  if (Array.isArray(model.merges)) {
    guarded.merges = model.merges.filter((m) => {
      const [a, b] = typeof m === 'string' ? splitMerge(m) : (m as [string, string]);
      return !sentinelOf.has(a + b);
    });
  }
  return guarded;
}

/** "a b" -> [a, b], split exactly as @huggingface/tokenizers splits legacy merges. */
function splitMerge(m: string): [string, string] {
  const [a, b = ''] = m.split(' ', 2);
  return [a, b];
}

function isJson(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** tokenizer_config's chat_template is a string or a list of {name, template}; take 'default'. */
function pickChatTemplate(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) {
    const named = v.find((t) => t && (t as Json).name === 'default') ?? v[0];
    const template = named ? (named as Json).template : undefined;
    return typeof template === 'string' ? template : null;
  }
  return null;
}

/**
 * Incremental detokenization: feed ids one at a time, get the new text. Decoding token by token
 * is wrong in two ways: byte-fallback pieces (<0xE4><0xBD><0xA0>) only form a character together,
 * and decoders strip a leading space from the *first* token of whatever they decode. So (as in
 * HF's TextStreamer / TGI) we decode a window that starts one emitted chunk back, subtract the
 * text of that chunk, and hold output back while it ends in U+FFFD (an incomplete character).
 * The concatenated deltas equal decode(allIds) whenever that does not end in an incomplete character.
 */
export class StreamDecoder {
  private readonly ids: number[] = [];
  private prefixOffset = 0;
  private readOffset = 0;
  private emitted = '';

  constructor(private readonly decodeIds: (ids: number[]) => string) {}

  /** All text emitted so far. */
  get text(): string {
    return this.emitted;
  }

  /** Adds one or more ids; returns the text that became final ('' while a character is incomplete). */
  push(idOrIds: number | number[]): string {
    if (typeof idOrIds === 'number') this.ids.push(idOrIds);
    else this.ids.push(...idOrIds);
    const prefixText = this.decodeIds(this.ids.slice(this.prefixOffset, this.readOffset));
    const newText = this.decodeIds(this.ids.slice(this.prefixOffset));
    if (newText.length > prefixText.length && !newText.endsWith('\uFFFD')) {
      const delta = newText.slice(prefixText.length);
      this.prefixOffset = this.readOffset;
      this.readOffset = this.ids.length;
      this.emitted += delta;
      return delta;
    }
    return '';
  }

  /** At the end of generation: whatever is still held back (incomplete bytes decode to U+FFFD). */
  flush(): string {
    const prefixText = this.decodeIds(this.ids.slice(this.prefixOffset, this.readOffset));
    const newText = this.decodeIds(this.ids.slice(this.prefixOffset));
    const delta = newText.slice(prefixText.length);
    this.prefixOffset = this.readOffset = this.ids.length;
    this.emitted += delta;
    return delta;
  }
}

import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { FormatError } from '../format/errors';
import { openPack } from '../format/pack-reader';
import { directorySource } from '../node/file-source';
import { EVAL_TEXT } from '../quality/eval-text';
import { evaluatePack, type PackQuality } from '../quality/evaluate';
import { TextTokenizer } from '../tokenizer/tokenizer';
import { openCheckpointArg } from './convert';
import { UsageError } from './usage';

export const QUALITY_HELP =
  'KL / top-1 / perplexity of a pack vs its fp32 checkpoint: <pack-dir> --ref CKPT [--help]';

const USAGE = `usage: pagelm quality <pack-dir> --ref <checkpoint dir | file.gguf> [options]

  Runs the pack (dequantized, on the CPU reference; w4a8 with int8 per-token activations, as
  the GPU kernels compute) and the original fp32 checkpoint over a text, and reports the mean and
  99th-percentile KL(ref ‖ pack) of the next-token distributions, how often their top-1 tokens
  agree, and both perplexities.

  --ref CKPT          the checkpoint the pack was converted from (HF dir, .gguf, or URL)
  --text FILE         text to evaluate on (default: built-in English prose, ~850 tokens)
  --max-tokens N      use at most the first N tokens of the text
  --window N          longest context per window (default: the model's max positions)
  --kv-cache int8     run the pack with an int8 KV cache, quantized as the GPU's kvCache 'int8'
                      stores it (on the CPU reference; default: an exact cache)
  --activations int8  quantize every linear's input per token to int8 whatever the scheme, as
                      the GPU's 2/4/16 decode option w2DecodeActivationBits 8 computes (default:
                      the scheme's own, int8 for w4a8 and f32 for the others)
  --json              print the result as JSON on stdout`;

interface Args {
  pack: string;
  ref: string;
  text?: string;
  maxTokens?: number;
  window?: number;
  kvCache: 'f32' | 'int8';
  activations?: 'int8';
  json: boolean;
}

function positiveInt(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 2) throw new UsageError(`--${name} must be an integer ≥ 2, got ${v}`);
  return n;
}

function parse(argv: string[]): Args | null {
  const options = {
    ref: { type: 'string' },
    text: { type: 'string' },
    'max-tokens': { type: 'string' },
    window: { type: 'string' },
    'kv-cache': { type: 'string' },
    activations: { type: 'string' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  } as const;
  let parsed: ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n\n${USAGE}`);
  }
  const { values, positionals } = parsed;
  if (values.help) return null;
  if (positionals.length !== 1)
    throw new UsageError(
      `${positionals.length ? 'one pack only' : 'missing the pack directory'}\n\n${USAGE}`,
    );
  if (!values.ref) throw new UsageError(`missing --ref <checkpoint>\n\n${USAGE}`);
  const kv = values['kv-cache'];
  if (kv !== undefined && kv !== 'f32' && kv !== 'int8') {
    throw new UsageError(`--kv-cache: '${kv}' is not int8 (or f32, the default)\n\n${USAGE}`);
  }
  const act = values.activations;
  if (act !== undefined && act !== 'int8') {
    throw new UsageError(`--activations: '${act}' is not int8 (the scheme's own is the default)\n\n${USAGE}`);
  }
  return {
    pack: positionals[0],
    ref: values.ref,
    text: values.text,
    maxTokens: positiveInt('max-tokens', values['max-tokens']),
    window: positiveInt('window', values.window),
    kvCache: kv ?? 'f32',
    activations: act,
    json: values.json,
  };
}

function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}

/** The small human-readable table. */
export function formatQuality(q: PackQuality, info: { pack: string; ref: string; text: string }): string {
  const rows: [string, string][] = [
    [
      'scheme',
      `${q.scheme}${q.method !== 'none' ? ` (${q.method})` : ''}, ${q.bitsPerWeight.toFixed(2)} bits/weight`,
    ],
    [
      'activations',
      q.activationQuant
        ? `int8 per token (${q.scheme === 'w4a8' ? 'as the W4A8 kernels' : '--activations int8'})`
        : 'f32',
    ],
    ['KV cache', q.kvCache === 'int8' ? 'int8 per token and head (--kv-cache int8)' : 'exact'],
    ['text', `${info.text}: ${q.tokens + 1} tokens, ${q.tokens} predictions, ${q.windows} window(s)`],
    ['KL mean', `${q.klMean.toPrecision(4)} nats`],
    ['KL p99', `${q.klP99.toPrecision(4)} nats`],
    ['top-1 agreement', pct(q.top1Agreement)],
    ['perplexity', `${q.pplTest.toFixed(3)} (reference ${q.pplRef.toFixed(3)})`],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  return [`pack ${info.pack} vs ${info.ref}`, ...rows.map(([k, v]) => `  ${k.padEnd(w)}  ${v}`)].join('\n');
}

export async function qualityCommand(argv: string[]): Promise<void> {
  const args = parse(argv);
  if (!args) {
    console.log(USAGE);
    return;
  }
  let text = EVAL_TEXT;
  if (args.text !== undefined) {
    try {
      text = await readFile(args.text, 'utf8');
    } catch (e) {
      throw new FormatError(args.text, `cannot read text: ${(e as Error).message}`);
    }
    if (text.trim() === '') throw new FormatError(args.text, 'the text is empty');
  }
  const pack = await openPack(directorySource(args.pack));
  const ckpt = await openCheckpointArg(args.ref);
  // The pack carries the tokenizer it was converted with; the text is tokenized once, for both.
  const tokenizer = TextTokenizer.fromFiles(await pack.readTokenizer());
  let tokens = tokenizer.encode(text);
  if (args.maxTokens !== undefined) tokens = tokens.slice(0, args.maxTokens);
  if (tokens.length < 2) throw new Error('the text is too short (fewer than 2 tokens)');

  const tty = process.stderr.isTTY === true && !args.json;
  const q = await evaluatePack(pack, ckpt, tokens, {
    window: args.window,
    kvCache: args.kvCache,
    activations: args.activations,
    onProgress: tty
      ? (done, total) => process.stderr.write(`\rscoring ${done}/${total} positions`)
      : undefined,
  });
  if (tty) process.stderr.write('\r\x1b[K');
  const info = { pack: args.pack, ref: args.ref, text: args.text ?? 'built-in eval text' };
  if (args.json) {
    console.log(JSON.stringify({ pack: args.pack, reference: args.ref, text: info.text, ...q }, null, 2));
  } else {
    console.log(formatQuality(q, info));
  }
}

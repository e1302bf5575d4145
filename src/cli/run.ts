import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { openPack } from '../format/pack-reader';
import { acquireDevice } from '../gpu/device';
import { GpuModel } from '../model/gpu-model';
import type { SamplingParams } from '../model/sampling-reference';
import { directorySource } from '../node/file-source';
import { TextTokenizer } from '../tokenizer/tokenizer';
import { UsageError } from './usage';

export const RUN_HELP =
  'generate with a pack on the GPU (Node + Dawn): <pack> (--prompt "…" | --tokens 1,2,3) [--max-tokens N] ' +
  '[--temperature T] [--top-k K] [--top-p P] [--repetition-penalty R] [--seed S] [--context N] [--kv-cache f16|int8] ' +
  '[--json] [--logits FILE] ' +
  "[--unsafe (Dawn's experimental features: W4A8 prefill on matrix units where the GPU has them)]";

function num(v: string | undefined, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`--${name}: '${v}' is not a number`);
  return n;
}

export async function runCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      prompt: { type: 'string' },
      tokens: { type: 'string' },
      'max-tokens': { type: 'string' },
      temperature: { type: 'string' },
      'top-k': { type: 'string' },
      'top-p': { type: 'string' },
      'repetition-penalty': { type: 'string' },
      seed: { type: 'string' },
      context: { type: 'string' },
      'kv-cache': { type: 'string' },
      json: { type: 'boolean', default: false },
      logits: { type: 'string' },
      unsafe: { type: 'boolean', default: false },
    },
  });
  if (positionals.length !== 1) throw new UsageError(`run: expected one pack directory\n  ${RUN_HELP}`);
  if ((values.prompt === undefined) === (values.tokens === undefined)) {
    throw new UsageError('run: give exactly one of --prompt and --tokens');
  }
  const pack = await openPack(directorySource(positionals[0]));
  const tokenizer = await TextTokenizer.fromFiles(await pack.readTokenizer());
  const { config, generation } = pack.manifest;
  let prompt: number[];
  if (values.tokens !== undefined) {
    // Exactly these ids, no BOS added.
    prompt = values.tokens.split(',').map((s) => {
      const id = Number(s.trim());
      if (!Number.isInteger(id) || id < 0 || id >= config.vocabSize) {
        throw new UsageError(
          `--tokens: '${s}' is not a token id of this model (0 … ${config.vocabSize - 1})`,
        );
      }
      return id;
    });
  } else {
    prompt = tokenizer.encode(values.prompt ?? '');
  }
  if (prompt.length === 0) throw new UsageError('run: the prompt has no tokens');
  const maxTokens = num(values['max-tokens'], 'max-tokens', 64);
  const sampling: SamplingParams = {
    temperature: num(values.temperature, 'temperature', 0),
    topK: num(values['top-k'], 'top-k', generation.topK ?? 0),
    topP: num(values['top-p'], 'top-p', generation.topP ?? 1),
    repetitionPenalty: num(
      values['repetition-penalty'],
      'repetition-penalty',
      generation.repetitionPenalty ?? 1,
    ),
  };
  const seed = num(values.seed, 'seed', 0);
  const context = num(values.context, 'context', Math.min(config.maxPositionEmbeddings, 2048));
  if (prompt.length + maxTokens > context) {
    throw new UsageError(
      `run: ${prompt.length} prompt + ${maxTokens} new tokens exceed the context of ${context}`,
    );
  }

  const kvCache = values['kv-cache'];
  if (kvCache !== undefined && kvCache !== 'f16' && kvCache !== 'int8') {
    throw new UsageError(`--kv-cache: '${kvCache}' is not f16 or int8`);
  }

  // --unsafe: Dawn offers experimental features (subgroup matrices) only with allow_unsafe_apis.
  const gpu = await acquireDevice({
    dawnToggles: values.unsafe ? ['enable-dawn-features=allow_unsafe_apis'] : [],
  });
  const tLoad = performance.now();
  const model = await GpuModel.load(gpu, pack);
  const session = await model.createSession({ maxContext: context, kvCache });
  session.setSampling(sampling, seed);
  const loadSeconds = (performance.now() - tLoad) / 1e3;

  const stream = tokenizer.streamDecoder({ skipSpecial: true });
  const out: number[] = [];
  const t0 = performance.now();
  let next = await session.prefill(prompt);
  const tPrefill = performance.now();
  if (values.logits) writeFileSync(values.logits, JSON.stringify(Array.from(await session.readLogits())));
  const eos = new Set(config.eosTokenIds);
  // Keeps the id (streams its text) unless it ends generation; false stops.
  const accept = (id: number): boolean => {
    next = id;
    if (eos.has(id) || out.length >= maxTokens) return false;
    out.push(id);
    const delta = stream.push(id);
    if (!values.json) process.stdout.write(delta);
    return out.length < maxTokens;
  };
  if (accept(next)) await session.decodeStream(maxTokens - out.length, accept);
  const tEnd = performance.now();
  const tail = stream.flush();
  if (!values.json) process.stdout.write(tail);
  const text = stream.text;
  if (values.json) {
    console.log(
      JSON.stringify({
        prompt_tokens: prompt,
        tokens: out,
        text,
        stopped: eos.has(next) ? 'eos' : 'max_tokens',
        timing: {
          load_s: loadSeconds,
          prefill_tokens_per_s: prompt.length / ((tPrefill - t0) / 1e3),
          decode_tokens_per_s: out.length > 1 ? (out.length - 1) / ((tEnd - tPrefill) / 1e3) : null,
        },
      }),
    );
  } else {
    process.stdout.write('\n');
  }
  session.destroy();
  model.destroy();
  gpu.device.destroy();
}

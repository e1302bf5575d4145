import { rmSync } from 'node:fs';
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { convertCheckpoint } from '../convert/convert';
import type { Checkpoint } from '../format/checkpoint';
import { FormatError } from '../format/errors';
import { openGgufCheckpoint } from '../format/gguf-checkpoint';
import { openHfCheckpoint } from '../format/hf-checkpoint';
import { isScheme, SCHEMES } from '../format/pack-layout';
import { urlDirectory, urlSource } from '../format/url-source';
import { directorySource, fileSource } from '../node/file-source';
import { PackDirSink } from '../node/pack-dir';
import type { Method } from '../quant/types';
import { formatSummary, jsonSummary, progressReporter } from './convert-report';
import { UsageError } from './usage';

export const CONVERT_HELP =
  'convert a checkpoint (HF dir, .gguf, URL) to a pack: <source> --out DIR --quant SCHEME [--help]';

const USAGE = `usage: pagelm convert <dir | file.gguf | URL> --out <dir> --quant <scheme> [options]

  <dir>               a Hugging Face checkpoint (config.json, *.safetensors, tokenizer.json),
                      or a directory holding exactly one .gguf file
  <file.gguf>         a llama GGUF file
  <URL>               http(s)://…/model.gguf, or the base URL of a Hugging Face checkpoint
  --out DIR           the pack directory to create (written atomically)
  --quant SCHEME      ${SCHEMES.join(' | ')}
  --method M          rtn (default) | clip | gptq   (clip and gptq calibrate on text)
  --group-size N      w4a8 scale groups of N columns (multiple of 32; default per channel)
  --smooth            w4a8: SmoothQuant folded into the RMSNorm weights (calibrates)
  --calib FILE        calibration text (default: built-in English prose)
  --json              print a machine-readable summary on stdout
  --force             replace an existing non-empty --out directory`;

const METHODS: Method[] = ['rtn', 'clip', 'gptq'];

/**
 * Hugging Face hub page URLs (what a browser's address bar shows) to file URLs:
 * `https://huggingface.co/org/repo` and `…/tree/<rev>` → `…/resolve/<rev>/`, `…/blob/<rev>/f.gguf`
 * → `…/resolve/<rev>/f.gguf`. Anything else is returned unchanged.
 */
export function resolveHubUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return url;
  }
  if (u.hostname !== 'huggingface.co' && u.hostname !== 'www.huggingface.co') return url;
  const parts = u.pathname.split('/').filter(Boolean);
  if (parts.length === 2 || (parts.length === 4 && parts[2] === 'tree')) {
    const rev = parts.length === 4 ? parts[3] : 'main';
    return `${u.origin}/${parts[0]}/${parts[1]}/resolve/${rev}/`;
  }
  if (parts.length >= 5 && parts[2] === 'blob') {
    return `${u.origin}/${[parts[0], parts[1], 'resolve', ...parts.slice(3)].join('/')}${u.search}`;
  }
  return url;
}

/** Recognises what the argument names and opens it as a Checkpoint (FormatError naming it if it cannot). */
export async function openCheckpointArg(arg: string): Promise<Checkpoint> {
  if (/^https?:\/\//i.test(arg)) {
    const url = resolveHubUrl(arg);
    return /\.gguf([?#]|$)/i.test(url)
      ? openGgufCheckpoint(urlSource(url))
      : openHfCheckpoint(urlDirectory(url));
  }
  let st: Awaited<ReturnType<typeof stat>>;
  try {
    st = await stat(arg);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new FormatError(
      arg,
      code === 'ENOENT' ? 'no such file or directory' : `cannot stat: ${(e as Error).message}`,
    );
  }
  if (st.isDirectory()) {
    const entries = await readdir(arg);
    if (entries.includes('config.json')) return openHfCheckpoint(directorySource(arg));
    const ggufs = entries.filter((f) => f.toLowerCase().endsWith('.gguf'));
    if (ggufs.length === 1) return openGgufCheckpoint(fileSource(join(arg, ggufs[0])));
    if (ggufs.length > 1) {
      throw new FormatError(
        arg,
        `holds ${ggufs.length} .gguf files (${ggufs.join(', ')}); name the one to convert`,
      );
    }
    throw new FormatError(arg, 'not a checkpoint: no config.json (Hugging Face) and no .gguf file');
  }
  if (arg.toLowerCase().endsWith('.gguf') || (await hasGgufMagic(arg)))
    return openGgufCheckpoint(fileSource(arg));
  throw new FormatError(arg, 'not a checkpoint: expected a directory, a .gguf file or an http(s) URL');
}

async function hasGgufMagic(path: string): Promise<boolean> {
  const h = await open(path, 'r');
  try {
    const buf = Buffer.alloc(4);
    const { bytesRead } = await h.read(buf, 0, 4, 0);
    return bytesRead === 4 && buf.toString('latin1') === 'GGUF';
  } finally {
    await h.close();
  }
}

interface Args {
  source: string;
  out: string;
  scheme: (typeof SCHEMES)[number];
  method: Method;
  groupSize?: number;
  smooth: boolean;
  calib?: string;
  json: boolean;
  force: boolean;
}

function parse(argv: string[]): Args | null {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>;
  const options = {
    out: { type: 'string' },
    quant: { type: 'string' },
    method: { type: 'string', default: 'rtn' },
    'group-size': { type: 'string' },
    smooth: { type: 'boolean', default: false },
    calib: { type: 'string' },
    json: { type: 'boolean', default: false },
    force: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  } as const;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n\n${USAGE}`);
  }
  const { values, positionals } = parsed;
  if (values.help) return null;
  if (positionals.length !== 1) {
    throw new UsageError(
      `${positionals.length ? 'one source only' : 'missing the checkpoint to convert'}\n\n${USAGE}`,
    );
  }
  if (!values.out) throw new UsageError(`missing --out <dir>\n\n${USAGE}`);
  if (!values.quant) throw new UsageError(`missing --quant <scheme>\n\n${USAGE}`);
  if (!isScheme(values.quant))
    throw new UsageError(`unknown --quant ${values.quant} (one of ${SCHEMES.join(', ')})`);
  const method = values.method as Method;
  if (!METHODS.includes(method))
    throw new UsageError(`unknown --method ${values.method} (one of ${METHODS.join(', ')})`);
  const scheme = values.quant;
  if (method !== 'rtn' && (scheme === 'f32' || scheme === 'f16')) {
    throw new UsageError(`--method ${method} needs a quantized scheme (w4a8, w4a16, w2-4-16)`);
  }
  let groupSize: number | undefined;
  if (values['group-size'] !== undefined) {
    groupSize = Number(values['group-size']);
    if (scheme !== 'w4a8')
      throw new UsageError(`--group-size applies to w4a8 only (${scheme} has fixed groups)`);
    if (!Number.isInteger(groupSize) || groupSize <= 0 || groupSize % 32 !== 0) {
      throw new UsageError(`--group-size must be a positive multiple of 32, got ${values['group-size']}`);
    }
  }
  if (values.smooth && scheme !== 'w4a8') throw new UsageError('--smooth applies to --quant w4a8 only');
  return {
    source: positionals[0],
    out: values.out,
    scheme,
    method,
    groupSize,
    smooth: values.smooth,
    calib: values.calib,
    json: values.json,
    force: values.force,
  };
}

export async function convertCommand(argv: string[]): Promise<void> {
  const args = parse(argv);
  if (!args) {
    console.log(USAGE);
    return;
  }
  let calibText: string | undefined;
  if (args.calib !== undefined) {
    try {
      calibText = await readFile(args.calib, 'utf8');
    } catch (e) {
      throw new FormatError(args.calib, `cannot read calibration text: ${(e as Error).message}`);
    }
    if (calibText.trim() === '') throw new FormatError(args.calib, 'calibration text is empty');
  }
  if (args.calib !== undefined && args.method === 'rtn' && !args.smooth) {
    process.stderr.write('pagelm: note: --calib is unused with --method rtn (no calibration needed)\n');
  }
  // Open (and so validate) the source before anything is created on disk.
  const ckpt = await openCheckpointArg(args.source);
  const sink = await PackDirSink.create(args.out, { force: args.force });

  // Ctrl-C: stop after the current tensor and remove the temp directory; a second Ctrl-C removes it now.
  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    if (++interrupts === 1) {
      controller.abort(new Error('interrupted'));
      process.stderr.write(
        '\npagelm: interrupted, stopping after the current tensor (Ctrl-C again to quit now)\n',
      );
    } else {
      rmSync(sink.tmp, { recursive: true, force: true });
      process.exit(130);
    }
  };
  process.on('SIGINT', onSigint);
  const progress = progressReporter(process.stderr);
  try {
    const summary = await convertCheckpoint(ckpt, sink, {
      scheme: args.scheme,
      method: args.method,
      groupSize: args.groupSize,
      smoothQuant: args.smooth,
      calibText,
      onProgress: progress.onProgress,
      signal: controller.signal,
    });
    progress.done();
    if (args.json) console.log(JSON.stringify(jsonSummary(summary, sink.out), null, 2));
    else console.log(formatSummary(summary, sink.out));
  } catch (e) {
    progress.done();
    throw e;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

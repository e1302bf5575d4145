// Browser check of the whole pipeline: fetch a real checkpoint over HTTP (range requests),
// convert it in the page, run it on WebGPU, and publish the greedy text on window.__generate.
// Query: ?src=<URL of an HF model dir or a .gguf file>&scheme=f32&tokens=24
import { convertCheckpoint } from '../../src/convert/convert';
import { memoryDirectory } from '../../src/format/byte-source';
import { openGgufCheckpoint } from '../../src/format/gguf-checkpoint';
import { openHfCheckpoint } from '../../src/format/hf-checkpoint';
import { openPack } from '../../src/format/pack-reader';
import { MemoryPackSink } from '../../src/format/pack-writer';
import { urlDirectory, urlSource } from '../../src/format/url-source';
import { acquireDevice } from '../../src/gpu/device';
import { GpuModel } from '../../src/model/gpu-model';
import type { Scheme } from '../../src/quant/types';
import { TextTokenizer } from '../../src/tokenizer/tokenizer';

async function main() {
  const q = new URLSearchParams(location.search);
  const src = q.get('src') ?? '';
  const scheme = (q.get('scheme') ?? 'f32') as Scheme;
  const n = Number(q.get('tokens') ?? 24);
  const ckpt = src.endsWith('.gguf')
    ? await openGgufCheckpoint(urlSource(src))
    : await openHfCheckpoint(urlDirectory(src));
  const sink = new MemoryPackSink();
  await convertCheckpoint(ckpt, sink, { scheme });
  const pack = await openPack(memoryDirectory('pack', Object.fromEntries(sink.files)));
  const gpu = await acquireDevice();
  const model = await GpuModel.load(gpu, pack);
  const session = await model.createSession({ maxContext: 128 });
  const tok = await TextTokenizer.fromFiles(await pack.readTokenizer());
  const ids: number[] = [];
  let next = await session.prefill([pack.manifest.config.bosTokenId ?? 1]);
  while (ids.length < n) {
    ids.push(next);
    if (ids.length < n) next = await session.decode();
  }
  return { ids, text: tok.decode(ids), adapter: gpu.caps.adapter, shaderF16: gpu.caps.features.shaderF16 };
}

const out = document.getElementById('out')!;
main().then(
  (r) => {
    (window as unknown as { __generate: unknown }).__generate = r;
    out.textContent = r.text;
  },
  (e) => {
    (window as unknown as { __generate: unknown }).__generate = { error: String(e?.stack ?? e) };
    out.textContent = String(e?.stack ?? e);
  },
);

/** Test helpers: convert the shared real models into in-memory packs. */

import { readFileSync } from 'node:fs';
import { type ConvertOptions, convertCheckpoint } from '../../src/convert/convert';
import { memoryDirectory, memorySource } from '../../src/format/byte-source';
import type { Checkpoint } from '../../src/format/checkpoint';
import { openGgufCheckpoint } from '../../src/format/gguf-checkpoint';
import { openHfCheckpoint } from '../../src/format/hf-checkpoint';
import { openPack, type Pack } from '../../src/format/pack-reader';
import { MemoryPackSink } from '../../src/format/pack-writer';
import { directorySource } from '../../src/node/file-source';
import { STORIES260K, TINYSTORIES } from './models';

export { STORIES260K, TINYSTORIES } from './models';

export async function tinystories(): Promise<Checkpoint> {
  return openHfCheckpoint(directorySource(TINYSTORIES));
}

export async function stories260k(): Promise<Checkpoint> {
  return openGgufCheckpoint(memorySource('stories260K.gguf', new Uint8Array(readFileSync(STORIES260K))));
}

export async function memoryPack(ckpt: Checkpoint, opts: ConvertOptions): Promise<Pack> {
  const sink = new MemoryPackSink();
  await convertCheckpoint(ckpt, sink, opts);
  return openPack(memoryDirectory(`${opts.scheme}-pack`, Object.fromEntries(sink.files)));
}

// The SDK test page: exposes the SDK (from source, as the library build bundles it) and a few
// helpers on window.sdkPage; e2e/sdk.test.ts drives it with page.evaluate.
import { convertCheckpoint } from '../../src/convert/convert';
import { openHfCheckpoint } from '../../src/format/hf-checkpoint';
import { MemoryPackSink } from '../../src/format/pack-writer';
import { urlDirectory } from '../../src/format/url-source';
import * as sdk from '../../src/sdk/index';
import type { ChatCompletionChunk, ChatCompletionStream } from '../../src/sdk/types';

/** Converts an HF checkpoint directory (over HTTP) to an f32 pack in memory, in the page. */
async function convertInPage(checkpointUrl: string): Promise<Map<string, Uint8Array>> {
  const sink = new MemoryPackSink();
  await convertCheckpoint(await openHfCheckpoint(urlDirectory(checkpointUrl)), sink, { scheme: 'f32' });
  return sink.files;
}

/** Reads a stream to the end, noting when each chunk arrived (ms, performance.now()). */
async function collect(
  stream: ChatCompletionStream,
  onChunk?: (n: number) => void | Promise<void>,
): Promise<{ text: string; chunks: ChatCompletionChunk[]; at: number[] }> {
  const chunks: ChatCompletionChunk[] = [];
  const at: number[] = [];
  for await (const c of stream) {
    chunks.push(c);
    at.push(performance.now());
    await onChunk?.(chunks.length);
  }
  return { text: chunks.map((c) => c.choices[0]?.delta.content ?? '').join(''), chunks, at };
}

/** An error as plain data (page.evaluate cannot return Error objects faithfully). */
function describeError(e: unknown): { name: string; message: string; fields: Record<string, unknown> } {
  const err = e as Error;
  return { name: err?.name, message: err?.message, fields: { ...err } };
}

export const page = { sdk, convertInPage, collect, describeError };
export type SdkPage = typeof page;

(window as unknown as { sdkPage: SdkPage }).sdkPage = page;
document.getElementById('out')!.textContent = 'ready';

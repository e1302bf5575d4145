/**
 * Quantizes a checkpoint the user picked (a Hugging Face folder or a GGUF file) inside a module
 * worker, so the page stays responsive: convertCheckpoint into a MemoryPackSink, then the pack's
 * files go back to the page, which stores them with ModelStore.importPack.
 */
import { convertCheckpoint } from '../convert/convert';
import { blobDirectory, blobSource } from '../format/byte-source';
import { openGgufCheckpoint } from '../format/gguf-checkpoint';
import { openHfCheckpoint } from '../format/hf-checkpoint';
import { MemoryPackSink } from '../format/pack-writer';
import type { Method, Scheme } from '../quant/types';

export interface ConvertRequest {
  kind: 'hf' | 'gguf';
  /** For 'hf': every file with its path inside the picked folder (first segment = folder name). */
  files: { path: string; file: File }[];
  scheme: Scheme;
  method: Method;
}

export type ConvertReply =
  | { kind: 'progress'; index: number; total: number; name: string; seconds: number; stage: string }
  | { kind: 'done'; files: Map<string, Uint8Array> }
  | { kind: 'error'; message: string };

const post = (m: ConvertReply, transfer: Transferable[] = []) =>
  (self as unknown as Worker).postMessage(m, transfer);

self.onmessage = async (ev: MessageEvent<ConvertRequest>) => {
  const req = ev.data;
  try {
    let ckpt: Awaited<ReturnType<typeof openHfCheckpoint>>;
    if (req.kind === 'gguf') {
      const f = req.files[0].file;
      ckpt = await openGgufCheckpoint(blobSource(f, f.name));
    } else {
      const top = req.files[0]?.path.split('/')[0] ?? 'model';
      const map: Record<string, Blob> = {};
      for (const { path, file } of req.files) {
        const rel = path.includes('/') ? path.slice(path.indexOf('/') + 1) : path;
        map[rel] = file;
      }
      ckpt = await openHfCheckpoint(blobDirectory(top, map));
    }
    const sink = new MemoryPackSink();
    await convertCheckpoint(ckpt, sink, {
      scheme: req.scheme,
      method: req.method,
      onProgress: (e) => {
        if (e.kind === 'tensor') {
          post({
            kind: 'progress',
            index: e.index,
            total: e.total,
            name: e.name,
            seconds: e.seconds,
            stage: 'tensor',
          });
        } else {
          post({
            kind: 'progress',
            index: 0,
            total: 0,
            name: 'calibration',
            seconds: 0,
            stage: 'calibration',
          });
        }
      },
    });
    post({ kind: 'done', files: sink.files }, [
      ...new Set([...sink.files.values()].map((b) => b.buffer as ArrayBuffer)),
    ]);
  } catch (e) {
    post({ kind: 'error', message: (e as Error).message ?? String(e) });
  }
};

/**
 * The worker side of the protocol: serves an Engine to the page over a message port (the
 * worker's global scope, or a MessagePort in tests). Each call runs as its own async task; the
 * engine itself queues them. A streamed chat sends 'started' when the engine accepted it, one
 * 'chunk' per chunk, then 'done'; an 'abort' message aborts that call's AbortController.
 */

import { type FromWorker, isToWorker, PROTOCOL_TAG, serializeError, type ToWorker } from './protocol';
import type { Engine } from './types';

/** What both a worker's global scope and a MessagePort offer. */
export interface PortLike {
  postMessage(message: unknown): void;
  addEventListener(type: 'message', listener: (event: MessageEvent) => void): void;
  removeEventListener(type: 'message', listener: (event: MessageEvent) => void): void;
  /** MessagePorts deliver nothing to addEventListener listeners until started. */
  start?(): void;
}

type Reply = FromWorker extends infer R ? (R extends unknown ? Omit<R, 'tag' | 'id'> : never) : never;

/** Starts answering calls on `port`; returns a function that stops listening. */
export function serveEngine(port: PortLike, engine: Engine): () => void {
  const running = new Map<number, AbortController>();

  const handle = async (msg: ToWorker, reply: (r: Reply) => void): Promise<void> => {
    switch (msg.op) {
      case 'load': {
        const report = await engine.loadModel({
          ...msg.options,
          onProgress: msg.progress ? (progress) => reply({ kind: 'progress', progress }) : undefined,
        });
        return reply({ kind: 'done', value: report });
      }
      case 'chat': {
        const ctl = new AbortController();
        running.set(msg.id, ctl);
        try {
          if (msg.body.stream) {
            const stream = await engine.chat.completions.create(
              { ...msg.body, stream: true },
              { signal: ctl.signal },
            );
            reply({ kind: 'started' });
            for await (const chunk of stream) reply({ kind: 'chunk', chunk });
            return reply({ kind: 'done' });
          }
          const completion = await engine.chat.completions.create(
            { ...msg.body, stream: false },
            { signal: ctl.signal },
          );
          return reply({ kind: 'done', value: completion });
        } finally {
          running.delete(msg.id);
        }
      }
      case 'abort':
        running.get(msg.id)?.abort();
        return;
      case 'resetChat':
        await engine.resetChat();
        return reply({ kind: 'done' });
      case 'unload':
        await engine.unload();
        return reply({ kind: 'done' });
      case 'dispose':
        for (const ctl of running.values()) ctl.abort();
        await engine.dispose();
        return reply({ kind: 'done' });
      case 'loseDevice':
        await engine.testing.loseDevice();
        return reply({ kind: 'done' });
    }
  };

  const listener = (event: MessageEvent) => {
    const msg = event.data;
    if (!isToWorker(msg)) return;
    const reply = (r: Reply) => port.postMessage({ tag: PROTOCOL_TAG, id: msg.id, ...r } as FromWorker);
    handle(msg, reply).catch((e) => reply({ kind: 'error', error: serializeError(e) }));
  };
  port.addEventListener('message', listener);
  port.start?.();
  return () => port.removeEventListener('message', listener);
}

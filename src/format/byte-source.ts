import type { ByteSource, SourceDirectory } from './checkpoint';
import { FormatError } from './errors';

/**
 * ByteSource implementations that work in the page (and in Node): bytes already in memory and
 * browser File/Blob objects. The Node file implementation lives in src/node/file-source.ts so that
 * nothing here pulls in Node APIs.
 */

/** Throws the FormatError every ByteSource uses for a read past the end (or a nonsense range). */
export function checkRange(name: string, offset: number, length: number, size: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new FormatError(name, `invalid read: ${length} bytes at offset ${offset}`);
  }
  if (offset + length > size) {
    throw new FormatError(name, `truncated: wanted ${length} bytes at offset ${offset}, file has ${size}`);
  }
}

/**
 * Bytes held in memory (tests, a fetched file). `read` returns a view, not a copy: callers must
 * not mutate it (the parsers here never do).
 */
export function memorySource(name: string, bytes: Uint8Array): ByteSource {
  return {
    name,
    size: async () => bytes.byteLength,
    read: async (offset, length) => {
      checkRange(name, offset, length, bytes.byteLength);
      return bytes.subarray(offset, offset + length);
    },
  };
}

/** A browser File or Blob; only the requested slice is read, so multi-GB files never sit in memory. */
export function blobSource(blob: Blob, name: string): ByteSource {
  return {
    name,
    size: async () => blob.size,
    read: async (offset, length) => {
      checkRange(name, offset, length, blob.size);
      const buf = await blob.slice(offset, offset + length).arrayBuffer();
      // A Blob whose backing file shrank underneath us returns fewer bytes than asked for.
      if (buf.byteLength !== length) {
        throw new FormatError(
          name,
          `truncated: wanted ${length} bytes at offset ${offset}, got ${buf.byteLength}`,
        );
      }
      return new Uint8Array(buf);
    },
  };
}

/** The whole source as UTF-8 text; invalid UTF-8 is a FormatError (config files must be clean). */
export async function readAllText(src: ByteSource): Promise<string> {
  const bytes = await src.read(0, await src.size());
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new FormatError(src.name, 'not valid UTF-8 text');
  }
}

/** The whole source parsed as JSON; a syntax error becomes a FormatError naming the file. */
export async function readAllJson(src: ByteSource): Promise<unknown> {
  const text = await readAllText(src);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new FormatError(src.name, `invalid JSON: ${(e as Error).message}`);
  }
}

/** Joins a directory name and a relative path for error messages and source names. */
export function joinName(dir: string, relativePath: string): string {
  return dir === '' ? relativePath : `${dir.replace(/\/+$/, '')}/${relativePath}`;
}

/**
 * A directory of in-memory files (tests, files fetched up front). Strings are stored as UTF-8.
 * Paths are matched exactly as given (e.g. 'config.json', 'shards/a.safetensors').
 */
export function memoryDirectory(name: string, files: Record<string, Uint8Array | string>): SourceDirectory {
  const enc = new TextEncoder();
  return {
    name,
    open: async (relativePath) => {
      if (!Object.hasOwn(files, relativePath)) return null;
      const content = files[relativePath];
      const bytes = typeof content === 'string' ? enc.encode(content) : content;
      return memorySource(joinName(name, relativePath), bytes);
    },
  };
}

/**
 * A folder the user picked in the page (e.g. `<input webkitdirectory>` or a drop), given as a map
 * from relative path to File/Blob.
 */
export function blobDirectory(name: string, files: Record<string, Blob>): SourceDirectory {
  return {
    name,
    open: async (relativePath) =>
      Object.hasOwn(files, relativePath)
        ? blobSource(files[relativePath], joinName(name, relativePath))
        : null,
  };
}

/** The chunks one after another (a streamed body). */
export function concatBytes(
  chunks: readonly Uint8Array[],
  total = chunks.reduce((n, c) => n + c.length, 0),
): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

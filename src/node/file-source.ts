import { open, stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';
import { checkRange } from '../format/byte-source';
import type { ByteSource, SourceDirectory } from '../format/checkpoint';
import { FormatError } from '../format/errors';

/**
 * A local file read with positional reads, so a multi-GB checkpoint is never loaded whole.
 * The file is opened per read and closed right after: ByteSource has no close(), and a handle
 * kept open per source would leak descriptors for every shard a CLI run touches.
 */
export function fileSource(path: string): ByteSource {
  let sizeCache: number | undefined;
  const size = async () => {
    if (sizeCache === undefined) {
      try {
        sizeCache = (await stat(path)).size;
      } catch (e) {
        throw new FormatError(path, `cannot stat: ${(e as Error).message}`);
      }
    }
    return sizeCache;
  };
  return {
    name: path,
    size,
    read: async (offset, length) => {
      checkRange(path, offset, length, await size());
      const out = new Uint8Array(length);
      const handle = await open(path, 'r');
      try {
        // read() may return fewer bytes than asked (large reads, pipes); loop until full.
        let done = 0;
        while (done < length) {
          const { bytesRead } = await handle.read(out, done, length - done, offset + done);
          if (bytesRead === 0) {
            throw new FormatError(
              path,
              `truncated: wanted ${length} bytes at offset ${offset}, file ended after ${offset + done}`,
            );
          }
          done += bytesRead;
        }
      } finally {
        await handle.close();
      }
      return out;
    },
  };
}

/** A checkpoint directory on disk. Paths that escape the directory are treated as absent. */
export function directorySource(dir: string): SourceDirectory {
  const root = resolve(dir);
  return {
    name: dir,
    open: async (relativePath) => {
      const full = resolve(root, relativePath);
      const rel = relative(root, full);
      if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return null;
      try {
        const st = await stat(full);
        if (!st.isFile()) return null;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw new FormatError(full, `cannot stat: ${(e as Error).message}`);
      }
      return fileSource(full);
    },
  };
}

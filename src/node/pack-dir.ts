import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { FormatError } from '../format/errors';
import type { PackSink } from '../format/pack-writer';

/**
 * A PackSink writing a pack directory atomically: files go to `<out>.tmp-<random>` beside the
 * target (same filesystem, so the final rename is atomic) and only commit() renames it to `<out>`.
 * A conversion that fails or is interrupted calls abort(), which removes the temp directory, so
 * `<out>` is either absent, the previous content, or a complete pack — never half a pack.
 */
export interface PackDirOptions {
  /** Replace an existing non-empty `out` directory (it is removed only after the new pack is complete). */
  force?: boolean;
}

export class PackDirSink implements PackSink {
  readonly out: string;
  readonly tmp: string;
  private created = false;
  private done = false;

  private constructor(
    out: string,
    private readonly force: boolean,
  ) {
    this.out = resolve(out);
    this.tmp = join(dirname(this.out), `${basename(this.out)}.tmp-${randomBytes(6).toString('hex')}`);
  }

  /** Checks the target up front, so a conversion does not run for minutes only to be refused. */
  static async create(out: string, opts: PackDirOptions = {}): Promise<PackDirSink> {
    const sink = new PackDirSink(out, opts.force === true);
    await sink.checkTarget();
    return sink;
  }

  async writeFile(name: string, bytes: Uint8Array): Promise<void> {
    if (this.done) throw new Error(`pack directory ${this.out}: already committed or aborted`);
    if (name.includes('/') || name.includes('\\') || name === '' || name.startsWith('.')) {
      throw new Error(`pack directory: refusing file name ${JSON.stringify(name)}`);
    }
    if (!this.created) {
      await mkdir(dirname(this.tmp), { recursive: true });
      await mkdir(this.tmp);
      this.created = true;
    }
    await writeFile(join(this.tmp, name), bytes);
  }

  async commit(): Promise<void> {
    if (this.done) throw new Error(`pack directory ${this.out}: already committed or aborted`);
    if (!this.created) throw new Error(`pack directory ${this.out}: nothing was written`);
    await this.checkTarget();
    let old: string | null = null;
    if (await exists(this.out)) {
      // checkTarget allowed it: empty, or force. Move it aside first so the swap is two renames.
      old = `${this.tmp}.old`;
      await rename(this.out, old);
    }
    try {
      await rename(this.tmp, this.out);
    } catch (e) {
      if (old) await rename(old, this.out).catch(() => {});
      throw e;
    }
    this.done = true;
    if (old) await rm(old, { recursive: true, force: true });
  }

  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await rm(this.tmp, { recursive: true, force: true });
  }

  private async checkTarget(): Promise<void> {
    let st: Awaited<ReturnType<typeof stat>>;
    try {
      st = await stat(this.out);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new FormatError(this.out, `cannot stat: ${(e as Error).message}`);
    }
    if (!st.isDirectory()) throw new FormatError(this.out, 'exists and is not a directory');
    if (this.force) return;
    if ((await readdir(this.out)).length > 0) {
      throw new FormatError(this.out, 'output directory exists and is not empty (use --force to replace it)');
    }
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

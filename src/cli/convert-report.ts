import type { ConvertEvent, ConvertSummary } from '../convert/convert';

/**
 * What `pagelm convert` prints: a progress bar on a terminal (one line per tensor when stderr is a
 * file or pipe, so logs stay readable), and a one-screen summary at the end.
 */

export function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[i]}`;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** Returns the onProgress callback and a `done()` that ends the bar's line. */
export function progressReporter(stream: ProgressStream): {
  onProgress(e: ConvertEvent): void;
  done(): void;
} {
  const tty = stream.isTTY === true;
  let tensorPhaseStart: number | null = null;
  let drawn = false;
  const draw = (line: string) => {
    const width = Math.max(20, (stream.columns ?? 100) - 1);
    stream.write(`\r\x1b[2K${line.length > width ? `${line.slice(0, width - 1)}…` : line}`);
    drawn = true;
  };
  return {
    onProgress(e) {
      if (e.kind === 'calibration') {
        const what = `calibrating (layers ${e.layers[0]}–${e.layers[1]}): chunk ${e.chunk}/${e.chunks}, ${e.seconds.toFixed(1)} s`;
        if (tty) draw(what);
        else if (e.chunk === e.chunks) stream.write(`${what}\n`);
        return;
      }
      tensorPhaseStart ??= e.seconds - e.tensorSeconds;
      const frac = e.totalInputBytes > 0 ? e.doneInputBytes / e.totalInputBytes : e.index / e.total;
      const elapsed = e.seconds - tensorPhaseStart;
      const eta = frac > 0 ? (elapsed * (1 - frac)) / frac : Number.NaN;
      const pct = `${Math.floor(frac * 100)}%`.padStart(4);
      const count = `${e.index}/${e.total}`;
      if (tty) {
        const barWidth = 24;
        const filled = Math.round(frac * barWidth);
        const bar = `[${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}]`;
        draw(`${bar} ${pct} ${count}  ETA ${formatDuration(eta)}  ${e.name}`);
      } else {
        stream.write(
          `[${count}] ${pct} ${e.name} ${formatBytes(e.bytes)} ${e.tensorSeconds.toFixed(2)} s, ETA ${formatDuration(eta)}\n`,
        );
      }
    },
    done() {
      if (tty && drawn) stream.write('\r\x1b[2K');
    },
  };
}

/** The end-of-run summary (fits one screen whatever the model size). */
export function formatSummary(s: ConvertSummary, out: string): string {
  const linear = s.tensors.filter((t) => t.shape.length === 2);
  const inputBytes = s.tensors.reduce((n, t) => n + 4 * t.shape.reduce((a, b) => a * b, 1), 0);
  const quantSeconds = s.seconds - (s.calibration?.seconds ?? 0);
  const method =
    s.method === 'none'
      ? 'no quantization'
      : `${s.method}${s.groupSize ? `, groups of ${s.groupSize}` : ''}${s.smoothQuant ? `, SmoothQuant α=${s.smoothQuant.alpha}` : ''}`;
  const lines = [
    `pagelm convert: ${s.source} → ${out}`,
    `  scheme       ${s.scheme} (${method})`,
    `  tensors      ${s.tensors.length} (${linear.length} linear, ${s.tensors.length - linear.length} norms), ${formatParams(s.parameters)} parameters`,
    `  bits/weight  ${s.bitsPerWeight.toFixed(3)} linear weights, ${s.packBitsPerWeight.toFixed(3)} whole pack`,
    `  size         ${formatBytes(s.totalBytes)} in ${s.manifest.shards.length} shard${s.manifest.shards.length === 1 ? '' : 's'}`,
    `  time         ${s.seconds.toFixed(1)} s${s.calibration ? ` (calibration ${s.calibration.seconds.toFixed(1)} s on ${s.calibration.tokens} tokens)` : ''}, ${(inputBytes / 1e6 / Math.max(quantSeconds, 1e-9)).toFixed(1)} MB/s of f32 input`,
  ];
  if (s.method !== 'none' && linear.length) {
    const rms = Math.sqrt(linear.reduce((n, t) => n + t.rmsError ** 2, 0) / linear.length);
    lines.push(`  weight error rms ${rms.toExponential(2)} (mean over linear tensors)`);
    const measured = linear.filter((t) => t.relOutputError !== undefined);
    if (measured.length) {
      const worst = measured.reduce((a, b) => (b.relOutputError! > a.relOutputError! ? b : a));
      const mean = measured.reduce((n, t) => n + t.relOutputError!, 0) / measured.length;
      lines.push(
        `  output error mean ${mean.toExponential(2)}, worst ${worst.relOutputError!.toExponential(2)} (${worst.name})`,
      );
    }
  }
  return lines.join('\n');
}

function formatParams(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}K`;
  return String(n);
}

/** The --json summary: everything but the manifest (which is in the pack), plus the output path. */
export function jsonSummary(s: ConvertSummary, out: string): Record<string, unknown> {
  const { manifest, ...rest } = s;
  return { out, ...rest, shards: manifest.shards.length };
}

import { describe, expect, it } from 'vitest';
import { formatBytes, formatDuration, progressReporter } from '../../src/cli/convert-report';
import type { TensorEvent } from '../../src/convert/convert';

function event(index: number, total: number, done: number, seconds: number): TensorEvent {
  return {
    kind: 'tensor',
    name: `t${index}`,
    index,
    total,
    bytes: 1000,
    inputBytes: 100,
    doneInputBytes: done,
    totalInputBytes: 400,
    tensorSeconds: 1,
    seconds,
  };
}

describe('convert progress output', () => {
  it('TTY: one redrawn bar line with percent and ETA from the input bytes done', () => {
    const out: string[] = [];
    const p = progressReporter({ write: (s) => out.push(s), isTTY: true, columns: 120 });
    p.onProgress({ kind: 'calibration', layers: [0, 2], chunk: 1, chunks: 3, seconds: 0.5 });
    p.onProgress(event(1, 4, 100, 11)); // tensor phase started at 10 s: 1 s for 25 %
    p.onProgress(event(2, 4, 300, 12));
    p.done();
    expect(out.every((s) => s.startsWith('\r\x1b[2K'))).toBe(true);
    expect(out[0]).toContain('calibrating (layers 0–2): chunk 1/3');
    expect(out[1]).toMatch(/\[######-+\] {2}25% 1\/4 {2}ETA 0:03 {2}t1$/);
    expect(out[2]).toMatch(/ 75% 2\/4 {2}ETA 0:01 {2}t2$/);
    expect(out.at(-1)).toBe('\r\x1b[2K');
  });

  it('not a TTY: one line per tensor, calibration only when a pass ends', () => {
    const out: string[] = [];
    const p = progressReporter({ write: (s) => out.push(s) });
    p.onProgress({ kind: 'calibration', layers: [0, 2], chunk: 1, chunks: 2, seconds: 0.5 });
    p.onProgress({ kind: 'calibration', layers: [0, 2], chunk: 2, chunks: 2, seconds: 1 });
    p.onProgress(event(1, 4, 100, 11));
    p.done();
    expect(out).toEqual([
      'calibrating (layers 0–2): chunk 2/2, 1.0 s\n',
      '[1/4]  25% t1 1.00 KB 1.00 s, ETA 0:03\n',
    ]);
  });

  it('formats sizes and durations', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(436039)).toBe('436 KB');
    expect(formatBytes(2.5e9)).toBe('2.50 GB');
    expect(formatDuration(59.6)).toBe('1:00');
    expect(formatDuration(3725)).toBe('1:02:05');
    expect(formatDuration(Number.NaN)).toBe('--:--');
  });
});

describe('Hugging Face hub URLs', () => {
  it('page URLs become resolve URLs; others are unchanged', async () => {
    const { resolveHubUrl } = await import('../../src/cli/convert');
    expect(resolveHubUrl('https://huggingface.co/org/model')).toBe(
      'https://huggingface.co/org/model/resolve/main/',
    );
    expect(resolveHubUrl('https://huggingface.co/org/model/tree/v2')).toBe(
      'https://huggingface.co/org/model/resolve/v2/',
    );
    expect(resolveHubUrl('https://huggingface.co/org/model/blob/main/sub/m.gguf')).toBe(
      'https://huggingface.co/org/model/resolve/main/sub/m.gguf',
    );
    const plain = 'https://huggingface.co/org/model/resolve/main/m.gguf';
    expect(resolveHubUrl(plain)).toBe(plain);
    expect(resolveHubUrl('http://127.0.0.1:8000/tinystories')).toBe('http://127.0.0.1:8000/tinystories');
  });
});

import { describe, expect, test } from 'vitest';
import { autoMatrixTiles, bucketIndex, tokenBuckets } from '../../src/kernels/gemm-matrix';

// The prefill GEMM's `auto` choice (src/kernels/gemm-matrix.ts): the thresholds measured on the
// H100 (docs/benchmarks.md, session 10) for the layer shapes of the benchmark, 512 tokens, and the
// fall-back for short chunks.
describe('matrix GEMM auto tile', () => {
  const first = (N: number, tokens = 512) => autoMatrixTiles(N, tokens)[0];

  test('4x4 at K tile 64 only where it has at least 256 workgroups', () => {
    expect(first(22016)).toEqual({ grid: '4x4', kTile: 64 }); // 7B gate_up: 344 workgroups
    expect(first(16384)).toEqual({ grid: '4x4', kTile: 64 }); // 1B gate_up: 256
    expect(first(12288)).toEqual({ grid: '4x2', kTile: 128 }); // 7B qkv: 192 at 4x4
  });

  test('4x2 where it has at least 96 workgroups, else 2x2 where that has 96', () => {
    expect(first(4096)).toEqual({ grid: '4x2', kTile: 128 }); // 7B o / down: 128
    expect(first(3072)).toEqual({ grid: '4x2', kTile: 128 }); // 1B qkv: 96
    expect(first(2048)).toEqual({ grid: '2x2', kTile: 128 }); // 1B o / down: 64 at 4x2, 128 at 2x2
    expect(first(22016, 128)).toEqual({ grid: '4x2', kTile: 128 }); // 172 at 4x2
  });

  test('short chunks: no grid whose token block exceeds the chunk, and 1x1 below 96 workgroups', () => {
    // The SDK's default 64-token chunks: 2x2 (64-token blocks) for the big matrices, 1x1 for o.
    expect(first(22016, 64)).toEqual({ grid: '2x2', kTile: 128 });
    expect(first(12288, 64)).toEqual({ grid: '2x2', kTile: 128 });
    expect(first(4096, 64)).toEqual({ grid: '1x1', kTile: 64 });
    expect(first(22016, 20)).toEqual({ grid: '1x1', kTile: 64 });
  });

  test('every choice ends with the 1x1 fallback (no subgroup_id needed)', () => {
    for (const N of [64, 4096, 22016]) {
      expect(autoMatrixTiles(N, 512).at(-1)).toEqual({ grid: '1x1', kTile: 64 });
    }
  });

  test('a step picks its tile from its own token count (the largest bucket not above it)', () => {
    expect(tokenBuckets(512)).toEqual([32, 64, 128, 256, 512]);
    expect(tokenBuckets(64)).toEqual([32, 64]);
    expect(tokenBuckets(100)).toEqual([32, 64, 100]);
    expect(tokenBuckets(20)).toEqual([32]);
    const buckets = tokenBuckets(512);
    const at = (tokens: number) => buckets[bucketIndex(buckets, tokens)];
    expect([1, 31, 32, 63, 64, 127, 128, 255, 256, 511, 512].map(at)).toEqual([
      32, 32, 32, 32, 64, 64, 128, 128, 256, 256, 512,
    ]);
    // A short chat turn in a session built for 512-token chunks: 1x1, not 128-token blocks.
    expect(autoMatrixTiles(22016, at(20))[0]).toEqual({ grid: '1x1', kTile: 64 });
    expect(autoMatrixTiles(22016, at(512))[0]).toEqual({ grid: '4x4', kTile: 64 });
  });
});

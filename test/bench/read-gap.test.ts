import { describe, expect, it } from 'vitest';
import { widestReadGap } from '../../bench/decode';

const noGc = { ms: () => 0, kinds: () => '' };

describe('widestReadGap', () => {
  it('finds the widest gap between consecutive ids and splits it on the host clock', () => {
    // [submitted, map requested, id read]; ids at 3, 6, 40, 43 after a call at 0.
    const reads = [
      [0.5, 1, 3],
      [1, 4, 6],
      [2, 30, 40],
      [4, 41, 43],
    ];
    const inGap = (from: number, to: number) => from === 6 && to === 40;
    const gc = {
      ms: (from: number, to: number) => (inGap(from, to) ? 12 : 0),
      kinds: (from: number, to: number) => (inGap(from, to) ? 'major 12.00' : ''),
    };
    expect(widestReadGap(0, reads, gc)).toEqual({
      step: 2,
      gapMs: 34,
      submittedAtMs: -4,
      mapRequestedAtMs: 24,
      mapMs: 10,
      gcMs: 12,
      gcKinds: 'major 12.00',
    });
  });

  it('counts the first id from the stream call', () => {
    const g = widestReadGap(
      10,
      [
        [11, 12, 30],
        [12, 31, 33],
      ],
      noGc,
    );
    expect(g?.step).toBe(0);
    expect(g?.gapMs).toBe(20);
    expect(g?.submittedAtMs).toBe(1);
  });

  it('has nothing to say about a stream without reads', () => {
    expect(widestReadGap(0, [], noGc)).toBeUndefined();
  });
});

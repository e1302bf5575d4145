import { describe, expect, test } from 'vitest';
import { commonPrefixLength, planPrefill } from '../../src/sdk/prefix';

describe('KV-cache prefix reuse', () => {
  test('commonPrefixLength', () => {
    expect(commonPrefixLength([], [1, 2])).toBe(0);
    expect(commonPrefixLength([1, 2, 3], [1, 2, 4])).toBe(2);
    expect(commonPrefixLength([1, 2], [1, 2, 3])).toBe(2);
    expect(commonPrefixLength([5], [6])).toBe(0);
  });

  test('a prompt extending the cache prefills only the new tokens', () => {
    // Cache: previous prompt [1, 10, 11] + generated [20, 21] (the last generated id, 22, was
    // sampled but never run, so it is not in the cache).
    const held = [1, 10, 11, 20, 21];
    expect(planPrefill(held, [1, 10, 11, 20, 21, 22, 30, 31])).toEqual({ keep: 5, tokens: [22, 30, 31] });
  });

  test('a prompt that diverges keeps the common part only', () => {
    expect(planPrefill([1, 10, 11, 20, 21], [1, 10, 12, 13])).toEqual({ keep: 2, tokens: [12, 13] });
    expect(planPrefill([1, 2, 3], [9, 2, 3])).toEqual({ keep: 0, tokens: [9, 2, 3] });
  });

  test('an empty cache prefills everything', () => {
    expect(planPrefill([], [1, 2, 3])).toEqual({ keep: 0, tokens: [1, 2, 3] });
  });

  test('the same prompt again (or a shorter one) re-runs its last token for fresh logits', () => {
    expect(planPrefill([1, 2, 3], [1, 2, 3])).toEqual({ keep: 2, tokens: [3] });
    expect(planPrefill([1, 2, 3, 4], [1, 2])).toEqual({ keep: 1, tokens: [2] });
  });

  test('an empty prompt is refused', () => {
    expect(() => planPrefill([1], [])).toThrow();
  });
});

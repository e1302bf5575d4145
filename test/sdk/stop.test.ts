import { describe, expect, test } from 'vitest';
import { StopMatcher } from '../../src/sdk/stop';

/** Feeds pieces; returns the released text and whether it stopped. */
function run(stops: string[], pieces: string[]): { text: string; stopped: boolean; perPiece: string[] } {
  const m = new StopMatcher(stops);
  const perPiece: string[] = [];
  let stopped = false;
  for (const p of pieces) {
    const r = m.push(p);
    perPiece.push(r.text);
    if (r.stopped) {
      stopped = true;
      break;
    }
  }
  const text = perPiece.join('') + m.flush();
  return { text, stopped, perPiece };
}

describe('StopMatcher', () => {
  test('no stop strings: text passes through unchanged, piece by piece', () => {
    const r = run([], ['Once', ' upon', ' a time']);
    expect(r.perPiece).toEqual(['Once', ' upon', ' a time']);
    expect(r.stopped).toBe(false);
  });

  test('a stop string inside one piece: text before it only', () => {
    expect(run(['END'], ['abcENDxyz'])).toMatchObject({ text: 'abc', stopped: true });
  });

  test('a stop string split across pieces is held back, never shown', () => {
    const r = run(['\nUser:'], ['Hello', ' there\n', 'Us', 'er:', ' more']);
    expect(r.text).toBe('Hello there');
    expect(r.stopped).toBe(true);
    // The partial "\n" and "Us" were held back, not released then retracted.
    expect(r.perPiece).toEqual(['Hello', ' there', '', '']);
  });

  test('a held-back partial match that does not complete is released', () => {
    const r = run(['\nUser:'], ['a\n', 'Us', 'b']);
    expect(r.perPiece).toEqual(['a', '', '\nUsb']);
    expect(r.stopped).toBe(false);
  });

  test('a partial match at the very end is released by flush', () => {
    const m = new StopMatcher(['STOP']);
    expect(m.push('go ST').text).toBe('go ');
    expect(m.flush()).toBe('ST');
  });

  test('the earliest of several stop strings wins; overlapping prefixes', () => {
    // "abcd" starts at 1, "bc" at 2: the earlier one cuts, whatever the list order.
    expect(run(['bc', 'abcd'], ['xab', 'cd'])).toMatchObject({ text: 'x', stopped: true });
    expect(run(['abcd', 'bc'], ['xab', 'cz'])).toMatchObject({ text: 'xa', stopped: true });
    expect(run(['aab'], ['aa', 'aab'])).toMatchObject({ text: 'aa', stopped: true });
  });

  test('empty stop strings are ignored; nothing is released after a stop', () => {
    const m = new StopMatcher(['', '.']);
    expect(m.push('Hi. there')).toEqual({ text: 'Hi', stopped: true });
    expect(m.push('more')).toEqual({ text: '', stopped: true });
    expect(m.flush()).toBe('');
  });

  test('a stop string equal to the whole text, and multi-character unicode', () => {
    expect(run(['東京'], ['東', '京'])).toMatchObject({ text: '', stopped: true });
    expect(run(['🙂'], ['ok 🙂 no'])).toMatchObject({ text: 'ok ', stopped: true });
  });
});

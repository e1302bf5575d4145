import { describe, expect, test } from 'vitest';
import { fastbinsOffEnv, NO_FASTBINS, NO_REEXEC_ENV } from '../../src/node/malloc-tunables';

describe('fastbinsOffEnv', () => {
  test('adds the tunable on glibc, keeping the rest of the environment', () => {
    expect(fastbinsOffEnv({ PATH: '/bin' }, true)).toEqual({ PATH: '/bin', GLIBC_TUNABLES: NO_FASTBINS });
  });
  test("appends to the user's own tunables", () => {
    expect(fastbinsOffEnv({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' }, true)?.GLIBC_TUNABLES).toBe(
      `glibc.malloc.arena_max=2:${NO_FASTBINS}`,
    );
  });
  test('null where nothing is to be done: not glibc, mxfast already chosen, or opted out', () => {
    expect(fastbinsOffEnv({}, false)).toBeNull();
    expect(fastbinsOffEnv({ GLIBC_TUNABLES: NO_FASTBINS }, true)).toBeNull();
    // The user's own mxfast value wins: never re-executed over it.
    expect(fastbinsOffEnv({ GLIBC_TUNABLES: 'glibc.malloc.mxfast=64' }, true)).toBeNull();
    expect(fastbinsOffEnv({ [NO_REEXEC_ENV]: '1' }, true)).toBeNull();
  });
});

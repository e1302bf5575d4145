import { describe, expect, test } from 'vitest';
import { ShaderCompileError } from '../../src/gpu/errors';
import { preprocess } from '../../src/gpu/shader';

describe('WGSL preprocessing (#include, #if)', () => {
  const flags = { SUBGROUP_BUILTINS: false, SUBGROUPS: false };
  test('a snippet included by another snippet and by the shader is spliced once', () => {
    const out = preprocess(
      { name: 't', code: '#include "gemv_common"\n#include "invocation"\nfn x() {}' },
      flags,
    );
    expect(out.match(/struct Invocation \{/g)).toHaveLength(1);
    expect(out).toContain('alias GemvInvocation = Invocation;');
    // Flags apply inside included snippets too.
    expect(out).not.toContain('subgroup_size');
    const withSubgroups = preprocess(
      { name: 't', code: '#include "invocation"' },
      { SUBGROUP_BUILTINS: true },
    );
    expect(withSubgroups).toContain('@builtin(subgroup_size) sg_size: u32');
  });
  test('an unknown snippet is a named error', () => {
    expect(() => preprocess({ name: 'k.wgsl', code: 'a\n#include "nope"' }, {})).toThrow(ShaderCompileError);
    expect(() => preprocess({ name: 'k.wgsl', code: 'a\n#include "nope"' }, {})).toThrow(
      /k\.wgsl:2: unknown #include "nope"/,
    );
  });
});

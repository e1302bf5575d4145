import { ShaderCompileError } from './errors';
import { shaderLib } from './shader-lib';

/**
 * WGSL specialization. Numbers (workgroup sizes, tile shapes, switches) are WGSL `override`
 * constants, set at pipeline creation. What overrides cannot express — an `enable` directive, or
 * code that only compiles with a feature (subgroup builtins) — is selected with line directives:
 *
 *   #if SUBGROUPS            (a flag name from the kernel's typed flag set)
 *   ...
 *   #else
 *   ...
 *   #endif
 *   #include "row_sum"       (a shared snippet from shaders/lib/, see shader-lib.ts)
 *
 * Nothing else is textual: no string concatenation of code, no templates.
 */
export interface ShaderSource {
  /** Stable name (the file name) used in cache keys and error messages. */
  name: string;
  code: string;
}

export type Flags = Readonly<Record<string, boolean>>;

const DIRECTIVE = /^\s*#(if|else|endif)\b\s*(!?)(\w*)\s*$/;
const INCLUDE = /^\s*#include\s+"(\w+)"\s*$/;

/**
 * Splices `#include "name"` snippets in. Snippets may include others; each snippet is spliced
 * once per shader (a later `#include` of it is dropped), so two snippets can share a third.
 */
function expandIncludes(src: ShaderSource, code = src.code, seen = new Set<string>()): string {
  return code
    .split('\n')
    .map((line, i) => {
      const m = INCLUDE.exec(line);
      if (!m) return line;
      const snippet = shaderLib[m[1]];
      if (snippet === undefined)
        throw new ShaderCompileError(`${src.name}:${i + 1}: unknown #include "${m[1]}"`);
      if (seen.has(m[1])) return '';
      seen.add(m[1]);
      return expandIncludes(src, snippet, seen);
    })
    .join('\n');
}

/** Resolves #if/#else/#endif against `flags`; unknown flag names are an error, not false. */
export function preprocess(src: ShaderSource, flags: Flags): string {
  const out: string[] = [];
  // Each stack entry: is the current branch active, and was the enclosing branch active.
  const stack: { active: boolean; parentActive: boolean; cond: boolean }[] = [];
  const lines = expandIncludes(src).split('\n');
  lines.forEach((line, i) => {
    const m = DIRECTIVE.exec(line);
    const enclosing = stack.length === 0 || stack[stack.length - 1].active;
    if (!m) {
      // Keep line numbers stable for compiler messages: emit blanks for dropped lines.
      out.push(enclosing ? line : '');
      return;
    }
    const [, kind, neg, name] = m;
    if (kind === 'if') {
      if (!(name in flags))
        throw new ShaderCompileError(`${src.name}:${i + 1}: unknown flag '${name}' in #if`);
      const cond = neg ? !flags[name] : flags[name];
      stack.push({ active: enclosing && cond, parentActive: enclosing, cond });
    } else if (kind === 'else') {
      const top = stack[stack.length - 1];
      if (!top) throw new ShaderCompileError(`${src.name}:${i + 1}: #else without #if`);
      top.active = top.parentActive && !top.cond;
    } else {
      if (!stack.pop()) throw new ShaderCompileError(`${src.name}:${i + 1}: #endif without #if`);
    }
    out.push('');
  });
  if (stack.length) throw new ShaderCompileError(`${src.name}: unterminated #if`);
  return out.join('\n');
}

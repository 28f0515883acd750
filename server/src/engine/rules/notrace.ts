// notrace: livepatch redirects a function through its ftrace entry; a function
// compiled without one (notrace, noinstr, or an object whose Makefile strips
// the ftrace flags) cannot be patched.

import * as path from 'node:path';
import type { FunctionDef, RelatedLocation } from '../model';
import type { Rule } from './rule';
import { changedFunctions, firstChangedLine, isIgnoredFunction } from './lib/changedFunctions';
import { describeFunction } from './lib/wording';
import { objectFacts } from '../tree/kbuild';

const NOTRACE_ATTRS = ['notrace', 'noinstr', '__no_instrument_function'];
const NO_INSTRUMENT = /__attribute__\s*\(\s*\(\s*(?:__)?no_instrument_function(?:__)?\b/;

function notraceAttr(fn: FunctionDef): string | null {
  const a = fn.attributes.find((x) => NOTRACE_ATTRS.includes(x));
  if (a) return a;
  return NO_INSTRUMENT.test(fn.signature) ? '__attribute__((no_instrument_function))' : null;
}

export const notrace: Rule = {
  id: 'notrace',
  severity: 'error',
  title: 'Changed function without an ftrace entry (notrace, noinstr, or its Makefile strips ftrace flags)',
  check(ctx) {
    for (const fc of ctx.files) {
      if (!fc.post) continue;
      const changed = changedFunctions(fc).filter((c) => !isIgnoredFunction(fc, c.new.name));
      if (!changed.length) continue;
      // The Makefile part needs the tree; headers are built into many objects, so only .c files.
      const mk = ctx.tree && fc.path.endsWith('.c') ? objectFacts(ctx.tree, fc.path).ftraceRemoved : null;
      for (const c of changed) {
        const fn = c.new;
        // kpatch checks the original function for its fentry call: the pre-image decides.
        // An inline function's own notrace matters only out of line: inline-notrace weighs that.
        const attr = c.old.inline === 'none' || c.old.attributes.includes('noinstr') ? notraceAttr(c.old) : null;
        if (!attr && !mk) continue;
        const why = attr
          ? `is ${attr}${attr === 'noinstr' ? ' (which implies notrace)' : ''}`
          : `is built into ${path.posix.basename(fc.path).replace(/\.c$/, '.o')}, whose ${mk!.makefile} removes the ftrace flags (${mk!.text})`;
        const related: RelatedLocation[] = mk
          ? [{ file: mk.makefile, line: mk.line, message: `${mk.makefile} strips the ftrace flags for this object` }]
          : [];
        ctx.report({
          file: fc.path,
          line: firstChangedLine(fc, fn),
          endLine: fn.span.end,
          function: fn.name,
          symbol: fn.name,
          message: `${describeFunction(fn)} ${why}, so it has no ftrace entry and livepatch can only redirect traceable functions. kpatch-build stops with "function ${fn.name} doesn't have patchable function entry, unable to patch". Leave it unchanged and patch its traceable callers instead, calling a copy of it under a new name.`,
          related,
        });
      }
    }
  },
};

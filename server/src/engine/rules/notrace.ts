// notrace: livepatch redirects a function through its ftrace entry; a function
// compiled without one (notrace, noinstr, or an object whose Makefile strips
// the ftrace flags) cannot be patched.

import * as path from 'node:path';
import type { FunctionDef, RelatedLocation } from '../model';
import type { FileChange, Rule } from './rule';
import { eachChangedFunction, reportOnFunction } from './lib/changedFunctions';
import { describeFunction } from './lib/wording';
import { objectFacts, type ObjectFacts } from '../tree/kbuild';

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
    // The Makefile part needs the tree; headers are built into many objects, so only .c files. Once per file.
    const makefiles = new Map<FileChange, ObjectFacts['ftraceRemoved']>();
    for (const { fc, old, fn } of eachChangedFunction(ctx)) {
      if (!makefiles.has(fc)) makefiles.set(fc, ctx.tree && fc.path.endsWith('.c') ? objectFacts(ctx.tree, fc.path).ftraceRemoved : null);
      const mk = makefiles.get(fc)!;
      // kpatch checks the original function for its fentry call: the pre-image decides.
      // An inline function's own notrace matters only out of line: inline-notrace weighs that.
      const attr = old.inline === 'none' || old.attributes.includes('noinstr') ? notraceAttr(old) : null;
      if (!attr && !mk) continue;
      // An attribute only the preprocessor showed: say where it comes from.
      const head = old.expansion?.added.includes(attr ?? '')
        ? `: its head \`${old.signature.slice(0, 80)}\` expands to it (the preprocessor's view)`
        : '';
      const why = attr
        ? `is ${attr}${attr === 'noinstr' ? ' (which implies notrace)' : ''}${head}`
        : `is built into ${path.posix.basename(fc.path).replace(/\.c$/, '.o')}, whose ${mk!.makefile} removes the ftrace flags (${mk!.text})`;
      const related: RelatedLocation[] = mk
        ? [{ file: mk.makefile, line: mk.line, message: `${mk.makefile} strips the ftrace flags for this object` }]
        : [];
      reportOnFunction(ctx, fc, fn, {
        message: `${describeFunction(fn)} ${why}, so it has no ftrace entry and livepatch can only redirect traceable functions. kpatch-build stops with "function ${fn.name} doesn't have patchable function entry, unable to patch". Leave it unchanged and patch its traceable callers instead, calling a copy of it under a new name.`,
        related,
      });
    }
  },
};

// inline-notrace: the kernel's `inline` expands to `inline ... notrace`. When
// gcc keeps an out-of-line copy of such a function, that copy has no ftrace
// entry and cannot be patched; `__always_inline` never leaves one behind.

import type { FileIndex, FunctionDef } from '../model';
import type { Rule } from './rule';
import { addressTaken, callCount } from './lib/callers';
import { changedFunctions, firstChangedLine, isHeader, isIgnoredFunction } from './lib/changedFunctions';
import { describeFunction, listNames } from './lib/wording';
import { fullyInlined, outOfLineCopies } from './lib/targetSymbols';
import { listed, symbolWitness } from '../target/facts';

/** Body lines above which gcc is unlikely to inline a function into several callers. */
const BIG_BODY_LINES = 40;

/** Why gcc (almost) certainly keeps an out-of-line copy, or null when it probably inlines every call. */
function outOfLineReason(index: FileIndex, fn: FunctionDef): string | null {
  if (addressTaken(index, fn.name)) return 'its address is taken in this file, so an out-of-line copy certainly exists';
  if (fn.calls.some((c) => c.name === fn.name)) return 'it calls itself, so it cannot be inlined completely';
  const lines = fn.bodySpan.end - fn.bodySpan.start + 1;
  const sites = callCount(index, fn.name);
  if (lines >= BIG_BODY_LINES && sites >= 2)
    return `it is ${lines} lines long with ${sites} call sites in this file, so gcc is likely to keep it out of line`;
  return null;
}

export const inlineNotrace: Rule = {
  id: 'inline-notrace',
  severity: 'error',
  title: 'Changed plain `inline` function: an out-of-line copy has no ftrace entry',
  check(ctx) {
    for (const fc of ctx.files) {
      if (!fc.post) continue;
      for (const c of changedFunctions(fc)) {
        const fn = c.new;
        // Switching the patched copy to __always_inline is the fix, so both images must be plain inline.
        if (c.old.inline !== 'inline' || fn.inline !== 'inline' || fn.syscallMacro) continue;
        if (isIgnoredFunction(fc, fn.name)) continue;
        const spelled = fn.storage === 'static' ? 'static inline' : 'inline';
        // Only a likely out-of-line copy makes the build fail: small helpers are inlined
        // into every caller and the patch builds (the callers change instead).
        const reason = outOfLineReason(fc.post, fn);
        const where = isHeader(fc.path) ? 'each object that includes this header' : 'this object';
        const stop = `kpatch-build stops with "function ${fn.name} doesn't have patchable function entry, unable to patch"`;
        let likelihood = reason
          ? `Here ${reason}, and ${stop}.`
          : `gcc decides for ${where} whether to inline it; a small helper like this is normally inlined everywhere and the build works (its callers change instead), but if any copy stays out of line, ${stop}.`;
        let severity: 'error' | 'warning' = reason ? 'error' : 'warning';
        // The target shows what gcc decided: a listed copy is the one kpatch-build cannot patch.
        const facts = ctx.facts;
        const copies = facts ? outOfLineCopies(ctx, facts, fc, fn.name) : null;
        if (facts && copies) {
          const seen = `${symbolWitness(facts, copies.entries[0].object)} lists ${listed(facts, fn.name, [...new Set(copies.entries.map((e) => e.object))])}`;
          if (!copies.ambiguousWith.length) {
            severity = 'error';
            likelihood = `The target kernel has an out-of-line copy: ${seen}, so ${stop}.`;
          } else {
            likelihood += ` ${seen}, but ${listNames(copies.ambiguousWith, 3)} also define${copies.ambiguousWith.length === 1 ? 's' : ''} a function of that name, so that copy may be theirs.`;
          }
        } else if (facts) {
          const gone = fullyInlined(ctx, facts, fc, fn);
          if (gone)
            likelihood += ` ${symbolWitness(facts, gone.object)} lists no out-of-line copy of it (it lists ${gone.witness} of the same file): gcc inlined it into every caller there, so the build works as long as the patched body is still inlined.`;
        }
        ctx.report({
          severity,
          file: fc.path,
          line: firstChangedLine(fc, fn),
          endLine: fn.span.end,
          function: fn.name,
          symbol: fn.name,
          message: `${describeFunction(fn)} is declared \`${spelled}\`, which in the kernel also means notrace: an out-of-line copy has no ftrace entry. ${likelihood} Mark it __always_inline in the patch, or add a non-inline copy under a new name and switch its callers to that copy.`,
        });
      }
    }
  },
};

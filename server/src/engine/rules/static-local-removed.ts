// static-local-removed: kpatch correlates a patched function's static locals
// with the running kernel's copies through the references the new code makes.
// When the patched function stops referencing one, create-diff-object cannot
// prove which variable is which and refuses the patch.

import type { FileChange, Rule } from './rule';
import { firstChangedLine, isIgnoredFunction, touchedFunctions } from './lib/changedFunctions';
import { bodyCode, countWord } from './lib/codeText';
import { staticLocalNames } from './lib/stateMacros';
import { describeFunction } from './lib/wording';
import { escapeRegExp } from '../util/text';

function wholeOldFunctionShown(fc: FileChange, start: number, end: number): boolean {
  for (let l = start; l <= end; l++) if (!fc.maps.preToPatch.has(l)) return false;
  return true;
}

export const staticLocalRemoved: Rule = {
  id: 'static-local-removed',
  severity: 'error',
  title: 'A patched function no longer references one of its static locals',
  check(ctx) {
    for (const fc of ctx.files) {
      if (!fc.pre || !fc.post) continue;
      for (const t of touchedFunctions(fc)) {
        if (!t.old || isIgnoredFunction(fc, t.new.name)) continue;
        const oldStatics = staticLocalNames(fc.pre, t.old);
        if (!oldStatics.size) continue;
        const oldCode = bodyCode(fc.pre, t.old);
        const newCode = bodyCode(fc.post, t.new);
        const newStatics = staticLocalNames(fc.post, t.new);
        for (const [name, declLine] of oldStatics) {
          // Declared but never used before: the compiler dropped it, nothing to correlate.
          if (countWord(oldCode, name) < 2) continue;
          const stillDeclared = newStatics.has(name);
          const refs = countWord(newCode, name);
          if (stillDeclared && refs >= 2) continue;
          const what = stillDeclared
            ? `still declares the static local '${name}' but no longer uses it, so the compiler drops it`
            : refs > 0
              ? `no longer declares the static local '${name}' (the name now refers to something else, e.g. a variable moved out of the function)`
              : `no longer references the static local '${name}'`;
          const related = [
            { file: fc.path, line: declLine, image: 'pre' as const, message: `'${name}' declared here in the old ${t.old.name}()` },
          ];
          const wordRe = new RegExp(`\\b${escapeRegExp(name)}\\b`);
          for (let l = t.old.bodySpan.start; l <= t.old.bodySpan.end; l++) {
            if (l !== declLine && fc.maps.removed.has(l) && wordRe.test(fc.pre.lines[l] ?? '')) {
              related.push({ file: fc.path, line: l, image: 'pre', message: `reference to '${name}' removed here` });
              break;
            }
          }
          // Hunks alone may hide uses that remain further down the function.
          const partial = !ctx.tree && !wholeOldFunctionShown(fc, t.old.span.start, t.old.span.end);
          ctx.report({
            severity: partial ? 'warning' : 'error',
            file: fc.path,
            line: firstChangedLine(fc, t.new),
            endLine: t.new.span.end,
            function: t.new.name,
            symbol: name,
            message: `${describeFunction(t.new)} ${what}. kpatch matches a patched function's static locals to the running kernel's copies through its references; without one it cannot keep the old value and kpatch-build stops with "reference to static local variable ${name} in ${t.new.name} was removed". Keep a (non-functional) reference to '${name}' in the patched function, e.g. barrier_data(&${name}), declared exactly as before.${partial ? ' (Without the kernel tree only the hunks were seen; check the rest of the function.)' : ''}`,
            related,
          });
        }
      }
    }
  },
};

// inline-callers: when gcc inlines the changed function, every caller's code
// changes too and kpatch-build replaces all of them. That widens the patch,
// its consistency requirements and the transition; for headers it also means
// many rebuilt objects.

import type { FunctionDef, RelatedLocation } from '../model';
import type { Rule } from './rule';
import { changedFunctions, describeFunction, firstChangedLine, isHeader } from './helpers';
import { addressTaken, callerLocations, callersIn, findTreeCallers, isIgnoredFunction, type TreeCaller } from './function-rules-util';

const NOT_INLINED = ['noinline', '__noinline', 'noinline_for_stack', '__cold', '__weak'];

type Reason = 'always' | 'inline' | 'header' | 'single';

function reasonOf(fn: FunctionDef, header: boolean, callSites: number | null, taken: boolean): Reason | null {
  if (fn.syscallMacro || fn.attributes.some((a) => NOT_INLINED.includes(a))) return null;
  if (fn.inline === 'always') return 'always';
  if (fn.inline === 'inline') return 'inline';
  if (header) return 'header';
  // One direct caller and no address taken: gcc inlines a static function like that.
  if (fn.storage === 'static' && callSites === 1 && !taken) return 'single';
  return null;
}

export const inlineCallers: Rule = {
  id: 'inline-callers',
  severity: 'warning',
  title: 'Changed function that gets inlined: its callers change and are replaced too',
  check(ctx) {
    for (const fc of ctx.files) {
      if (!fc.post) continue;
      const header = isHeader(fc.path);
      for (const c of changedFunctions(fc)) {
        const fn = c.new;
        if (isIgnoredFunction(fc, fn.name)) continue;
        const local = callersIn(fc.post, fn.name);
        const sites = local.reduce((n, x) => n + x.count, 0);
        // Without the tree the post image holds only the hunks, so a call count is only a lower bound.
        const reason = reasonOf(fn, header, ctx.tree ? sites : null, addressTaken(fc.post, fn.name));
        if (!reason) continue;
        let callers: TreeCaller[];
        let capped: string | null = null;
        let scope: string | null = null;
        if (header || fn.storage !== 'static') {
          // Callers can be anywhere that includes the header (or links to it).
          const s = findTreeCallers(ctx, fn.name, fc.path);
          callers = s.callers;
          capped = s.capped;
          scope = ctx.tree ? s.scope : null;
        } else {
          callers = local.map((x) => ({ file: fc.path, line: x.line, caller: x.caller.name }));
        }
        const related: RelatedLocation[] = callerLocations(callers, fn.name);
        const files = new Set(callers.map((x) => x.file)).size;
        const what = {
          always: `is __always_inline, so gcc copies its body into every caller`,
          inline: `is declared inline, so gcc copies its body into most or all callers`,
          header: `is defined in a header, so every object that includes it and calls it gets its own (normally inlined) copy`,
          single: `is static with a single call site${local[0] ? `, in ${local[0].caller.name}()` : ''}, so gcc almost certainly inlined it there`,
        }[reason];
        const inScope = scope ? ` in ${scope}` : '';
        let found = callers.length
          ? ` Callers found${inScope}: ${callers.length} in ${files} file${files === 1 ? '' : 's'}${capped ? ` (incomplete: ${capped})` : ''}.`
          : capped ? ` No callers found${inScope} (incomplete: ${capped}).` : scope ? ` No callers found${inScope}.` : '';
        if ((header || fn.storage !== 'static') && !ctx.tree) found += ' Callers in files the patch does not touch are not known without the kernel tree.';
        const advice = header
          ? 'A header change also rebuilds every including object, which slows kpatch-build a lot and can trip its bugs: where possible, move the change into a .c file (for example behind a new out-of-line function). Review every "changed function:" line kpatch-build prints.'
          : reason === 'always'
            ? 'Expect each caller in kpatch-build\'s "changed function:" list and review them all; they are all replaced, and all must be off every stack for the transition to finish.'
            : 'Expect the callers in kpatch-build\'s "changed function:" list and review them; to keep the patch to this one function, mark the patched copy noinline.';
        ctx.report({
          file: fc.path,
          line: firstChangedLine(fc, fn),
          endLine: fn.span.end,
          function: fn.name,
          symbol: fn.name,
          message: `${describeFunction(fn)} ${what}: each caller's code changes with it and kpatch-build replaces the callers too.${found} ${advice}`,
          related,
        });
      }
    }
  },
};

// code-removal: a live patch cannot take code out of the running kernel. A
// deleted or renamed function stays in memory; only the callers the patch
// replaces stop using it.

import type { FunctionDef } from '../model';
import type { Rule } from './rule';
import { describeFunction } from './lib/wording';

export const codeRemoval: Rule = {
  id: 'code-removal',
  severity: 'info',
  title: 'Deleted or renamed functions stay in the running kernel as dead code',
  check(ctx) {
    for (const fc of ctx.files) {
      if (!fc.isC || !fc.pre) continue;
      const added = fc.pairing.functions.filter((c) => c.kind === 'added' && c.new).map((c) => c.new!);
      const renamedTo = (old: FunctionDef): FunctionDef | undefined =>
        added.find((n) => n.normBody === old.normBody && n.name !== old.name);
      for (const c of fc.pairing.functions) {
        if (c.kind !== 'removed' || !c.old) continue;
        const old = c.old;
        const target = renamedTo(old);
        const external = old.storage !== 'static';
        const callers = external
          ? ` Callers in other files that the patch does not change keep calling the old ${old.name}(); patch them too if they must stop.`
          : '';
        const what = target
          ? `${describeFunction(old)} is renamed to ${target.name}(): kpatch-build sees a new function (reported as "new function: ${target.name}") and the old ${old.name}() stays in the running kernel, unused by the code the patch replaces.`
          : `${describeFunction(old)} is deleted: a live patch cannot remove code, so the old ${old.name}() stays in the running kernel as dead code; only the functions the patch replaces stop calling it.`;
        ctx.report({
          image: 'pre',
          file: fc.path,
          line: old.span.start,
          endLine: old.span.end,
          function: old.name,
          symbol: old.name,
          message: `${what}${callers} This is usually fine${target ? '' : ' (deleting it may be needed to avoid an unused-function warning)'}; make sure nothing still reaching the old code depends on behaviour the patch meant to ${target ? 'change' : 'remove'}.`,
          related: target ? [{ file: fc.path, line: target.span.start, message: `new name: ${target.name}()` }] : [],
        });
      }
    }
  },
};

// late-module: code in a module is patched when (and each time) the module
// loads, not when the patch loads; callbacks run then too. Worth knowing for
// testing: the patch must work with the module loaded and not loaded.

import type { Rule } from './rule';
import { isIgnoredFunction, touchedFunctions } from './lib/changedFunctions';
import { buildOf, describeModule, isModuleBuild } from './lib/moduleBuild';
import { describeFunction } from './lib/wording';

export const lateModule: Rule = {
  id: 'late-module',
  severity: 'info',
  title: 'Patched code is in a module: patched when the module loads',
  needsTree: true,
  readsTreeCache: true,
  check(ctx) {
    for (const fc of ctx.files) {
      if (!fc.post || !fc.path.endsWith('.c')) continue;
      const touched = touchedFunctions(fc).filter((t) => !isIgnoredFunction(fc, t.new.name));
      const first = touched.find((t) => t.kind !== 'added') ?? touched[0];
      if (!first) continue;
      const facts = buildOf(ctx, fc.path);
      if (!facts || !isModuleBuild(facts.build)) continue;
      const fn = first.new;
      const line = (() => {
        for (let l = fn.span.start; l <= fn.span.end; l++) if (fc.maps.added.has(l)) return l;
        return fn.span.start;
      })();
      ctx.report({
        file: fc.path,
        line,
        function: fn.name,
        symbol: facts.moduleName ?? facts.object.replace(/\.o$/, ''),
        message: `${describeFunction(fn)} is in ${describeModule(facts, fc.path)}. livepatch patches it only while that module is loaded: when the module loads after the patch, it is patched during the load (callbacks for it run then) and /sys/kernel/livepatch/<patch>/<module>/patched stays 0 until then. Test with the module loaded before the patch, loaded after it, and not loaded at all.`,
      });
    }
  },
};

// special-static: some macros hide static locals that kpatch deliberately
// leaves uncorrelated (__warned, __already_done, ratelimit _rs, dynamic-debug
// descriptors, lockdep __key). A patched function gets fresh copies of them,
// even for uses the patch did not touch. New uses are static-local-new's.

import type { Rule } from './rule';
import { isIgnoredFunction, touchedFunctions } from './lib/changedFunctions';
import { usesIn, type Use } from './lib/codeText';
import { stateMacroUses, type StateFamily } from './lib/stateMacros';
import { describeFunction } from './lib/wording';

const EFFECT: Record<Exclude<StateFamily, 'static-key'>, string> = {
  once: 'once-only warnings and messages (__warned / __already_done) can fire one more time',
  ratelimit: 'ratelimit state (_rs) starts over, so a burst of messages may get through',
  dyndbg:
    'dynamic-debug descriptors are new: pr_debug()/dev_dbg() sites enabled through dynamic_debug/control are off again in the patched copy until re-enabled for the patch module',
  lockdep:
    'lock class keys (__key) are new, so locks initialised by the patched code form a new lockdep class (only matters with CONFIG_LOCKDEP)',
};

/** Hidden statics written out by hand (rare, but the same thing). */
const NAMED_RE = /\b(__warned|__already_done|__print_once|__key|_rs)\b/g;

export const specialStatic: Rule = {
  id: 'special-static',
  severity: 'info',
  title: 'Patched code re-instantiates special statics (WARN_ONCE, ratelimits, pr_debug, lockdep keys)',
  check(ctx) {
    for (const fc of ctx.files) {
      if (!fc.pre || !fc.post) continue;
      for (const t of touchedFunctions(fc)) {
        if (!t.old || isIgnoredFunction(fc, t.new.name)) continue;
        const oldCount = new Map<string, number>();
        for (const u of stateMacroUses(fc.pre, t.old)) oldCount.set(u.name, (oldCount.get(u.name) ?? 0) + 1);
        const hits: (Use & { family: Exclude<StateFamily, 'static-key'> })[] = [];
        const seen = new Map<string, number>();
        for (const u of stateMacroUses(fc.post, t.new)) {
          if (u.family === 'static-key') continue;
          const n = (seen.get(u.name) ?? 0) + 1;
          seen.set(u.name, n);
          // Lock keys: every use in patched code; the rest: only uses that already existed.
          if (u.family === 'lockdep' || n <= (oldCount.get(u.name) ?? 0)) hits.push({ ...u, family: u.family });
        }
        for (const u of usesIn(fc.post, t.new, NAMED_RE)) {
          hits.push({ ...u, family: u.name === '__key' ? 'lockdep' : u.name === '_rs' ? 'ratelimit' : 'once' });
        }
        if (!hits.length) continue;
        hits.sort((a, b) => a.line - b.line);
        const families = [...new Set(hits.map((h) => h.family))];
        const names = [...new Set(hits.map((h) => (/^_/.test(h.name) ? h.name : `${h.name}()`)))];
        ctx.report({
          file: fc.path,
          line: hits[0].line,
          endLine: hits[hits.length - 1].line,
          function: t.new.name,
          symbol: hits[0].name,
          message: `${describeFunction(t.new)} is patched and uses ${names.join(', ')}. kpatch does not correlate the statics these macros hide, so the patched copy gets its own: ${families.map((f) => EFFECT[f]).join('; ')}. Usually harmless; nothing to change unless the old state matters.`,
        });
      }
    }
  },
};

// special-static: some macros hide static locals that kpatch deliberately
// leaves uncorrelated (__warned, __already_done, ratelimit _rs, dynamic-debug
// descriptors, lockdep __key). A patched function gets fresh copies of them,
// even for uses the patch did not touch, and new uses are just as fresh: both
// are reported here (static-local-new keeps the statics kpatch correlates).

import type { Rule } from './rule';
import { isIgnoredFunction, touchedFunctions } from './lib/changedFunctions';
import { usesIn, type Use } from './lib/codeText';
import { SPECIAL_NAMES, isSpecialUse, stateMacroUses, type SpecialFamily } from './lib/stateMacros';
import { describeFunction } from './lib/wording';

const EFFECT: Record<SpecialFamily, string> = {
  once: 'once-only warnings and messages (__warned / __already_done) can fire one more time',
  ratelimit: 'ratelimit state (_rs) starts over, so a burst of messages may get through',
  dyndbg:
    'dynamic-debug descriptors are new: pr_debug()/dev_dbg() sites enabled through dynamic_debug/control are off again in the patched copy until re-enabled for the patch module',
  lockdep:
    'lock class keys (__key) are new, so locks initialised by the patched code form a new lockdep class (only matters with CONFIG_LOCKDEP)',
};

const FRESH_EFFECT: Record<SpecialFamily, string> = {
  once: 'a once-only flag that starts clear, so it can fire once after the patch loads',
  ratelimit: 'ratelimit state of its own',
  dyndbg: 'dynamic-debug descriptors that belong to the patch module (enable them there)',
  lockdep: 'new lock class keys',
};

/** Hidden statics written out by hand (rare, but the same thing). */
const NAMED_RE = new RegExp(`\\b(${[...SPECIAL_NAMES].join('|')})\\b`, 'g');

type Hit = Use & { family: SpecialFamily; fresh: boolean };

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
        const hits: Hit[] = [];
        const seen = new Map<string, number>();
        for (const u of stateMacroUses(fc.post, t.new)) {
          if (!isSpecialUse(u)) continue;
          const n = (seen.get(u.name) ?? 0) + 1;
          seen.set(u.name, n);
          // Uses beyond the old count are new; lock keys are new in patched code either way.
          hits.push({ ...u, family: u.family, fresh: u.family !== 'lockdep' && n > (oldCount.get(u.name) ?? 0) });
        }
        const oldNamed = new Set(usesIn(fc.pre, t.old, NAMED_RE).map((u) => u.name));
        for (const u of usesIn(fc.post, t.new, NAMED_RE)) {
          const family = u.name === '__key' ? 'lockdep' : u.name === '_rs' ? 'ratelimit' : 'once';
          hits.push({ ...u, family, fresh: family !== 'lockdep' && !oldNamed.has(u.name) });
        }
        if (!hits.length) continue;
        hits.sort((a, b) => a.line - b.line);
        const kept = hits.filter((h) => !h.fresh);
        const fresh = hits.filter((h) => h.fresh);
        const names = (hs: Hit[]) => [...new Set(hs.map((h) => (/^_/.test(h.name) ? h.name : `${h.name}()`)))].join(', ');
        const families = (hs: Hit[]) => [...new Set(hs.map((h) => h.family))];
        const parts: string[] = [];
        if (kept.length) {
          parts.push(
            `uses ${names(kept)}. kpatch does not correlate the statics these macros hide, so the patched copy gets its own: ${families(
              kept,
            )
              .map((f) => EFFECT[f])
              .join('; ')}.`,
          );
        }
        if (fresh.length) {
          parts.push(
            `${kept.length ? 'It also adds' : 'adds'} ${names(fresh)}: ${families(fresh)
              .map((f) => FRESH_EFFECT[f])
              .join(
                '; ',
              )}. kpatch treats these statics as special (never correlated, no "unable to correlate" warning), so they start clear in the patch module, like new code's should.`,
          );
        }
        // Point at a line the patch added when only new uses are reported.
        const first = kept.length ? kept[0] : (fresh.find((u) => fc.maps.added.has(u.line)) ?? fresh[0]);
        ctx.report({
          file: fc.path,
          line: first.line,
          endLine: hits[hits.length - 1].line,
          function: t.new.name,
          symbol: first.name,
          message: `${describeFunction(t.new)} is patched and ${parts.join(' ')} Usually harmless; nothing to change unless the old state matters.`,
        });
      }
    }
  },
};

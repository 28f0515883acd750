// static-local-new: a static local that the running kernel does not have
// cannot be correlated with anything, so the patch module gets a fresh,
// zero-initialised copy. Fine for state that really is new; wrong when the
// author expected to share state with the old code (a counter, a "done" flag,
// a ratelimit state). The statics that WARN_ONCE, pr_*_once, *_ratelimited and
// pr_debug hide are kpatch "special statics", never correlated: special-static.

import type { Rule } from './rule';
import { isIgnoredFunction, touchedFunctions } from './lib/changedFunctions';
import { SPECIAL_NAMES, isSpecialUse, stateFamily, stateMacroUses, staticLocalNames, type StateFamily } from './lib/stateMacros';
import { describeFunction } from './lib/wording';

const FAMILY_EFFECT: Record<Exclude<StateFamily, 'lockdep'>, string> = {
  once: 'its "already done" flag starts clear, so it fires again once after the patch loads',
  ratelimit: "its ratelimit state starts empty, independent of the old code's",
  dyndbg: 'its dynamic-debug descriptor belongs to the patch module, so "+p" settings made for the original code do not enable it',
  'static-key': 'the key is a new object in the patch module, with its default value',
};

/** `static const T x` (not a pointer to const): read-only, nothing to lose. */
function isConstObject(decl: string, name: string): boolean {
  const head = decl.split('=')[0];
  if (!/\bconst\b/.test(head)) return false;
  if (!head.includes('*')) return true;
  return new RegExp(`\\*\\s*const\\s+${name}\\b`).test(head);
}

export const staticLocalNew: Rule = {
  id: 'static-local-new',
  severity: 'warning',
  title: 'New static local state starts from zero in the patch module',
  check(ctx) {
    for (const fc of ctx.files) {
      if (!fc.pre || !fc.post) continue;
      for (const t of touchedFunctions(fc)) {
        // A brand-new function has nothing old to share state with.
        if (!t.old || isIgnoredFunction(fc, t.new.name)) continue;
        const oldStatics = staticLocalNames(fc.pre, t.old);
        const newStatics = staticLocalNames(fc.post, t.new);
        for (const [name, line] of newStatics) {
          // kpatch never correlates these names (special-static reports them).
          if (oldStatics.has(name) || SPECIAL_NAMES.has(name)) continue;
          const decl = t.new.staticLocals.find((s) => s.name === name)?.decl ?? '';
          if (decl && isConstObject(decl, name)) continue;
          // Macro-made statics of a known family are reported with the macro uses below.
          const macro = /\bstatic\s+(?:const\s+)?([A-Z][A-Z0-9_]*)\s*\(/.exec(fc.post.lines[line] ?? '');
          if (macro && stateFamily(macro[1])) continue;
          ctx.report({
            file: fc.path,
            line,
            function: t.new.name,
            symbol: name,
            message: `${describeFunction(t.new)} gets a new static local '${name}'. The running kernel has no such variable, so kpatch cannot correlate it ("unable to correlate static local variable ${name} ... assuming variable is new") and the patch module starts with its own copy, from the initializer (or zero). Fine if the state is really new; if it must continue existing state, keep the old variable (same name and scope) or attach the state to its object with a shadow variable (klp_shadow_get_or_alloc()).`,
          });
        }
        // State hidden inside macros: count uses per macro, old vs new.
        const oldCount = new Map<string, number>();
        for (const u of stateMacroUses(fc.pre, t.old)) oldCount.set(u.name, (oldCount.get(u.name) ?? 0) + 1);
        const seen = new Map<string, number>();
        const fresh: { name: string; line: number; family: StateFamily }[] = [];
        for (const u of stateMacroUses(fc.post, t.new)) {
          if (isSpecialUse(u)) continue; // special-static: kpatch leaves these uncorrelated, new or not
          const n = (seen.get(u.name) ?? 0) + 1;
          seen.set(u.name, n);
          if (n > (oldCount.get(u.name) ?? 0)) fresh.push(u);
        }
        if (!fresh.length) continue;
        // Point at a line the patch added when there is one.
        const first = fresh.find((u) => fc.maps.added.has(u.line)) ?? fresh[0];
        const families = [...new Set(fresh.map((u) => u.family))] as Exclude<StateFamily, 'lockdep'>[];
        const names = [...new Set(fresh.map((u) => `${u.name}()`))];
        ctx.report({
          file: fc.path,
          line: first.line,
          endLine: Math.max(...fresh.map((u) => u.line)),
          function: t.new.name,
          symbol: first.name,
          message: `${describeFunction(t.new)} adds ${names.join(', ')}, which ${names.length > 1 ? 'define hidden static locals' : 'defines a hidden static local'}. It is new state in the patch module: ${families.map((f) => FAMILY_EFFECT[f]).join('; ')}. Fine if that is intended; otherwise keep the old macro use unchanged or hand-write the state (a plain static, or a shadow variable) so it can continue the old one.`,
        });
      }
    }
  },
};

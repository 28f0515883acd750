// static-call: like jump labels, a static_call() site in patched code whose
// key lives in a module needs a late klp relocation that the static-call
// machinery has already missed; kpatch-build refuses it (x86).

import type { Rule } from './rule';
import { judgeKey, keyHome, keyRelated, keyUses } from './lib/keys';
import { describeFunction } from './lib/wording';
import { escapeRegExp } from '../util/text';

const CALL_SITE_RE = /\b(static_call|static_call_cond)\s*\(\s*([A-Za-z_]\w*)\s*\)/g;

export const staticCall: Rule = {
  id: 'static-call',
  severity: 'error',
  title: 'static_call() on a key defined in a module: use KPATCH_STATIC_CALL()',
  check(ctx) {
    const budget = { lookups: 8 };
    for (const { fc, facts, fn: t, use: u } of keyUses(ctx, CALL_SITE_RE, (use) => use.groups[0])) {
      const key = u.groups[0];
      const home = keyHome(
        ctx,
        {
          fc,
          oldFn: t.old,
          newFn: t.new,
          key,
          defRe: new RegExp(`\\bDEFINE_STATIC_CALL(?:_NULL|_RET0)?\\s*\\(\\s*${escapeRegExp(key)}\\s*,`),
          isDef: (v) => /^DEFINE_STATIC_CALL/.test(v.macro ?? ''),
          expandedKey: (view) => view?.staticCallKeys ?? null,
          pastedDef: {
            words: ['DEFINE_STATIC_CALL', 'DEFINE_STATIC_CALL_NULL', 'DEFINE_STATIC_CALL_RET0'],
            re: /\bDEFINE_STATIC_CALL(?:_NULL|_RET0)?\s*\(\s*(\w+)\s*##/g,
          },
        },
        budget,
      );
      const verdict = judgeKey(ctx, fc, facts, home, `the static call '${key}'`, false);
      if (!verdict) continue;
      ctx.report({
        severity: verdict.severity,
        file: fc.path,
        line: u.line,
        function: t.new.name,
        symbol: key,
        message: `${describeFunction(t.new)} calls ${u.name}(${key})(...): ${verdict.where}. ${verdict.severity === 'error' ? 'kpatch-build stops' : 'If so, kpatch-build stops'} with "Found a static call at ${t.new.name}()+0x..., using key __SCK__${key}, which is defined in a module. Use KPATCH_STATIC_CALL() instead." Write KPATCH_STATIC_CALL(${key})(...) (from kpatch-macros.h), or KLP_STATIC_CALL(${key})(...) with klp-build: it calls through the key's current target without a static-call site.`,
        related: keyRelated(home, fc, `static call '${key}'`),
      });
    }
  },
};

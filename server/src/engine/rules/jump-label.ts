// jump-label: a static branch in patched code whose key lives in a module
// needs a klp relocation that is applied after the module's jump labels were
// initialised; kpatch-build refuses it. Keys in vmlinux are fine on 6.1, and a
// key the patch defines itself lives in the patch module.

import type { Rule } from './rule';
import { judgeKey, keyHome, keyRelated, keyUses, type KeyHome } from './lib/keys';
import { describeFunction } from './lib/wording';
import { escapeRegExp } from '../util/text';

const BRANCH_RE =
  /\b(static_branch_likely|static_branch_unlikely|static_key_true|static_key_false)\s*\(\s*&?\s*([A-Za-z_]\w*)((?:\s*(?:\.|->)\s*\w+)*)/g;

export const jumpLabel: Rule = {
  id: 'jump-label',
  severity: 'error',
  title: 'Static branch on a key defined in a module: use static_key_enabled()',
  check(ctx) {
    const budget = { lookups: 8 };
    const textOf = (use: { groups: string[] }): string => `&${use.groups[0]}${use.groups[1].replace(/\s+/g, '')}`;
    for (const { fc, facts, fn: t, use: u } of keyUses(ctx, BRANCH_RE, textOf)) {
      const member = u.groups[1].replace(/\s+/g, '');
      const viaPointer = member.includes('->');
      const key = u.groups[0];
      const keyText = textOf(u);
      const home: KeyHome = viaPointer
        ? { kind: 'unknown' }
        : keyHome(
            ctx,
            {
              fc,
              oldFn: t.old,
              newFn: t.new,
              key,
              defRe: new RegExp(
                `^(?![ \\t]*extern\\b)[ \\t]*(?:static[ \\t]+)?(?:DEFINE_STATIC_KEY_\\w+\\s*\\(\\s*${escapeRegExp(key)}\\s*[,)]|struct\\s+static_key(?:_true|_false)?\\s+${escapeRegExp(key)}\\s*[=;])`,
                'm',
              ),
              isDef: (v) => /^DEFINE_STATIC_KEY/.test(v.macro ?? '') || /\bstatic_key/.test(v.type),
            },
            budget,
          );
      const call = `${u.name}(${keyText})`;
      const fix = `Replace ${call} with static_key_enabled(${keyText}) in a plain if (); it reads the key without a jump-table entry.`;
      const verdict = judgeKey(ctx, fc, facts, home, `the key '${key}'`, viaPointer);
      if (!verdict) continue;
      const tool = `${verdict.severity === 'error' ? 'kpatch-build stops' : 'If so, kpatch-build stops'} with "Found a jump label at ${t.new.name}()+0x..., using key ${key}, which is defined in a module. Use static_key_enabled() instead." (klp relocations to module keys are applied after the module's jump labels are initialised).`;
      ctx.report({
        severity: verdict.severity,
        file: fc.path,
        line: u.line,
        function: t.new.name,
        symbol: key,
        message: `${describeFunction(t.new)} uses ${call}: ${verdict.where}. ${tool} ${fix}`,
        related: keyRelated(home, fc, `'${key}'`),
      });
    }
  },
};

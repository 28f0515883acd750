// init-section: code or data in .init sections already ran (and for built-in
// code was freed) before any patch can load; create-diff-object refuses a
// changed .init.text.

import type { Rule } from './rule';
import { eachChangedFunction, reportOnFunction } from './lib/changedFunctions';
import { describeFunction } from './lib/wording';

const INIT_FUNCTION_ATTRS = ['__init', '__meminit', '__init_or_module', '__ref', '__cpuinit', '__head'];
const INIT_DATA_ATTRS = ['__initdata', '__initconst', '__meminitdata', '__meminitconst', '__initdata_or_module', '__refdata'];
const INIT_CALLS =
  /^(?:module_init|(?:pure|core|postcore|arch|subsys|fs|rootfs|device|late|console|security|early)_initcall(?:_sync)?|__initcall|late_initcall_sync|subsys_initcall_sync)$/;

export const initSection: Rule = {
  id: 'init-section',
  severity: 'error',
  title: 'Changed __init code or data: it already ran before the patch loads',
  check(ctx) {
    for (const { fc, old, fn } of eachChangedFunction(ctx)) {
      const attr =
        fn.attributes.find((a) => INIT_FUNCTION_ATTRS.includes(a)) ?? old.attributes.find((a) => INIT_FUNCTION_ATTRS.includes(a));
      const initcall = fc.post.initTargets.get(fn.name);
      const viaInitcall = initcall && INIT_CALLS.test(initcall) ? initcall : null;
      if (!attr && !viaInitcall) continue;
      const why = attr ? `is marked ${attr}` : `is the ${viaInitcall}() entry point`;
      reportOnFunction(ctx, fc, fn, {
        message: `${describeFunction(fn)} ${why}: init code already ran before the patch loads (and built-in init text is freed), so kpatch-build stops with "changed section .init.text not selected for inclusion". Leave it unchanged and redo or fix its effect in a pre-patch or post-patch callback (KPATCH_POST_PATCH_CALLBACK / KLP_POST_PATCH_CALLBACK).`,
      });
    }
    for (const fc of ctx.files) {
      if (!fc.post) continue;
      for (const v of fc.pairing.variables) {
        if (!v.new || (v.kind !== 'body' && v.kind !== 'signature')) continue;
        const attr = v.new.attributes.find((a) => INIT_DATA_ATTRS.includes(a));
        if (!attr) continue;
        ctx.report({
          file: fc.path,
          line: v.new.span.start,
          endLine: v.new.span.end,
          symbol: v.name,
          message: `'${v.name}' is ${attr} data: it was used during boot and then freed, so changing it has no effect on the running kernel and kpatch-build refuses the changed init data section. Fix the state it produced in a callback instead.`,
        });
      }
    }
  },
};

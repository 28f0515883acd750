// syscall: SYSCALL_DEFINEn puts the body in the `inline` (hence notrace)
// helper __do_sys_<name>, which has no ftrace entry. The kpatch/klp wrapper
// macros rename that helper so it becomes a new function instead.

import type { Rule } from './rule';
import { eachChangedFunction, reportOnFunction } from './lib/changedFunctions';

// SYSCALL_DEFINE0 bodies are a plain static (traceable) function on x86-64 and
// asmlinkage elsewhere; kpatch-syscall.h has no DEFINE0 variant either.
const PLAIN = /^(COMPAT_)?SYSCALL_DEFINE([1-6])$/;

export const syscall: Rule = {
  id: 'syscall',
  severity: 'error',
  title: 'Changed SYSCALL_DEFINEn body: the inner __do_sys_ function is notrace',
  check(ctx) {
    for (const { fc, fn } of eachChangedFunction(ctx)) {
      const m = fn.syscallMacro ? PLAIN.exec(fn.syscallMacro) : null;
      if (!m) continue;
      const [, compat, n] = m;
      const inner = `${compat ? '__do_compat_sys_' : '__do_sys_'}${fn.name}`;
      const fix = compat
        ? `kpatch-syscall.h only wraps native syscalls (KPATCH_SYSCALL_DEFINE${n}), there is no compat variant: leave the COMPAT_SYSCALL_DEFINE${n} body as it is and patch the functions it calls, or define it with a local copy of the compat wrapper that gives the inner function a new name, as kpatch-syscall.h does for native syscalls.`
        : `Add #include "kpatch-syscall.h" and write KPATCH_SYSCALL_DEFINE${n}(${fn.name}, ...) instead of SYSCALL_DEFINE${n}: it renames the inner function so kpatch-build treats it as new. With klp-build use KLP_SYSCALL_DEFINE${n} from <linux/livepatch_helpers.h>.`;
      reportOnFunction(ctx, fc, fn, {
        message: `${fn.syscallMacro}(${fn.name}) puts this body in ${inner}(), which the macro declares inline and so notrace: kpatch-build stops with "function ${inner} doesn't have patchable function entry, unable to patch". ${fix}`,
      });
    }
  },
};

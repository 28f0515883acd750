// exit-section: __exit code lives in .exit.text, which is not split per
// function and is notrace, and it only runs when the module is unloaded.

import type { Rule } from './rule';
import { eachChangedFunction, reportOnFunction } from './lib/changedFunctions';
import { describeFunction } from './lib/wording';

const EXIT_CALLS = new Set(['module_exit', '__exitcall']);

export const exitSection: Rule = {
  id: 'exit-section',
  severity: 'error',
  title: 'Changed __exit / module_exit() code: untraceable, unsplit section that only runs at unload',
  check(ctx) {
    for (const { fc, old, fn } of eachChangedFunction(ctx)) {
      const marked = fn.attributes.includes('__exit') || old.attributes.includes('__exit');
      const exitcall = fc.post.initTargets.get(fn.name) ?? fc.pre?.initTargets.get(fn.name);
      const viaExitcall = exitcall && EXIT_CALLS.has(exitcall) ? exitcall : null;
      if (!marked && !viaExitcall) continue;
      const callback =
        'If teardown really has to change, do it from a pre-unpatch or post-unpatch callback (KPATCH_PRE_UNPATCH_CALLBACK / KLP_PRE_UNPATCH_CALLBACK); usually the right call is to leave the exit path unpatched.';
      if (marked) {
        reportOnFunction(ctx, fc, fn, {
          message: `${describeFunction(fn)} is marked __exit${viaExitcall ? ` (the ${viaExitcall}() target)` : ''}: __exit places it in .exit.text, which -ffunction-sections does not split, and implies notrace, so it has no ftrace entry to redirect. kpatch-build stops on it ("changed section .exit.text not selected for inclusion" or "doesn't have patchable function entry"), and it would only run at module unload anyway. ${callback}`,
        });
      } else {
        // A module_exit() target without __exit is ordinary, traceable text: patchable, but pointless for the running module.
        reportOnFunction(ctx, fc, fn, {
          severity: 'warning',
          message: `${describeFunction(fn)} is the ${viaExitcall}() entry point: it only runs when the module is unloaded (and never for built-in code), so the change does nothing for the running system until then. It is not __exit, so kpatch-build can include it. ${callback}`,
        });
      }
    }
  },
};

// always-on-stack: the livepatch consistency model switches a task only when
// no patched function is on its stack. Functions that some task is (almost)
// always inside never leave it, so the transition stalls.

import type { FunctionDef, RelatedLocation } from '../model';
import type { FileChange, Rule } from './rule';
import { changedFunctions, firstChangedLine, isIgnoredFunction } from './lib/changedFunctions';
import { describeFunction } from './lib/wording';
import { firstAfter } from './lib/codeText';
import { lineAtOffset } from '../index/indexer';

const IDLE = /^(?:do_idle|cpu_idle\w*|cpu_startup_entry|cpu_bringup_and_idle|default_idle\w*|arch_cpu_idle\w*|\w+_idle_loop|idle_loop)$/;
const KTHREAD_START =
  /\b(?:kthread_run|kthread_run_on_cpu|kthread_create|kthread_create_on_node|kthread_create_on_cpu|kernel_thread)\s*\(\s*&?\s*$/;
const FOREVER = /\bfor\(;;\)|\bwhile\((?:1|true|!kthread_should_stop\(\)|!kthread_freezable_should_stop\([^()]*\))\)/g;
const SLEEP =
  /\b(?:schedule|schedule_timeout\w*|schedule_hrtimeout\w*|io_schedule\w*|freezable_schedule\w*|wait_event\w*|swait_event\w*|wait_for_completion\w*|msleep\w*|ssleep|usleep_range\w*|wait_woken|kthread_parkme|try_to_freeze)\(/;
const KTHREAD_HINT = /\bkthread_(?:should_stop|should_park|freezable_should_stop|parkme)\(|\bset_freezable\(|\btry_to_freeze\(/;

/** The line that starts `name` as a kthread in this file, or undefined. */
function kthreadStart(fc: FileChange, name: string): number | undefined {
  const at = firstAfter(fc.post!.text, name, KTHREAD_START);
  return at ? lineAtOffset(fc.post!, at.index) : undefined;
}

/** The text of the statement a loop header governs, from the normalised body. */
function loopBody(body: string, from: number): string {
  if (body[from] !== '{') {
    const semi = body.indexOf(';', from);
    return body.slice(from, semi < 0 ? body.length : semi + 1);
  }
  let depth = 0;
  for (let i = from; i < body.length; i++) {
    if (body[i] === '{') depth++;
    else if (body[i] === '}' && --depth === 0) return body.slice(from, i + 1);
  }
  return body.slice(from);
}

/** An endless or until-kthread_should_stop() loop that sleeps, in a function that looks like a kthread. */
function sleepingMainLoop(fn: FunctionDef): boolean {
  const body = fn.normBody;
  if (!KTHREAD_HINT.test(body)) return false;
  for (const m of body.matchAll(FOREVER)) {
    const inner = loopBody(body, m.index! + m[0].length);
    // `do { ... } while (!kthread_should_stop());`: the body came first.
    if (SLEEP.test(inner === ';' ? body : inner)) return true;
  }
  return false;
}

const ENDLESS = /\bfor\(;;\)|\bwhile\((?:1|true)\)/;
const FORCE_WHY = 'only the deprecated kpatch.ko core reads it, not the livepatch core that 6.1 uses';

export const alwaysOnStack: Rule = {
  id: 'always-on-stack',
  severity: 'warning',
  title: "Changed function that stays on a task's stack: the transition may stall or the change never runs",
  check(ctx) {
    for (const fc of ctx.files) {
      if (!fc.post) continue;
      for (const c of changedFunctions(fc)) {
        const fn = c.new;
        if (isIgnoredFunction(fc, fn.name)) continue;
        const base = { file: fc.path, line: firstChangedLine(fc, fn), endLine: fn.span.end, function: fn.name, symbol: fn.name };
        // Idle tasks are switched by the idle loop itself (klp_update_patch_state() at the end of
        // do_idle()), so the idle loop never stalls the transition; an endless one just never reruns.
        if (IDLE.test(fn.name) && ENDLESS.test(fn.normBody)) {
          ctx.report({
            ...base,
            message: `${describeFunction(fn)} is an idle loop that the idle tasks never return from. The transition does not wait for it (idle tasks switch at the end of each do_idle() pass), but every online CPU keeps running the old copy of this loop, so the change never takes effect there. Patch the functions it calls (do_idle() and below) instead.`,
          });
          continue;
        }
        const reasons: string[] = [];
        const related: RelatedLocation[] = [];
        if (fn.attributes.includes('__sched') || c.old.attributes.includes('__sched')) {
          reasons.push('it is __sched, part of the sleep path that sleeping tasks have on their stacks');
        }
        const started = kthreadStart(fc, fn.name);
        if (started !== undefined) {
          reasons.push('it is the main function of a kthread started in this file, and the kthread stays in it for its whole life');
          related.push({ file: fc.path, line: started, message: `${fn.name}() is started as a kthread here` });
        } else if (sleepingMainLoop(fn)) {
          reasons.push(
            'it looks like a kthread main loop (an endless or until-kthread_should_stop() loop that sleeps), which its thread never leaves',
          );
        }
        const noreturn = fn.attributes.includes('__noreturn') || /__attribute__\(\((?:__)?noreturn(?:__)?\)\)/.test(fn.signature);
        if (!reasons.length && !noreturn) continue;
        const forced =
          fc.post.escapeHatches.get(fn.name) === 'KPATCH_FORCE_UNSAFE'
            ? ` The KPATCH_FORCE_UNSAFE(${fn.name}) in this file has no effect: ${FORCE_WHY}.`
            : ` KPATCH_FORCE_UNSAFE() does not help: ${FORCE_WHY}.`;
        if (!reasons.length) {
          // Exit paths are __noreturn too, and tasks leave them by dying: worth knowing, rarely a stall.
          ctx.report({
            ...base,
            severity: 'info',
            message: `${describeFunction(fn)} is __noreturn: a task that enters it never returns from it, so it keeps the old code until it finishes, and the transition waits for every such task. For exit paths (tasks leave by dying) this is normally short; if tasks can block in it for long, patch the functions it calls instead.`,
          });
          continue;
        }
        if (noreturn) reasons.push('it is __noreturn, so a task that enters it never unwinds out of it');
        ctx.report({
          ...base,
          message: `${describeFunction(fn)} can stay on a task's stack indefinitely: ${reasons.join('; ')}. A task switches to the patched code only when no patched function is on its stack, so the transition can stall ("patch transition has stalled!", then kpatch unloads the module). Patch the functions it calls instead, which return and can be switched. The last resort is writing 1 to /sys/kernel/livepatch/<patch>/force, which can be unsafe and keeps the module from ever being removed: plan a reboot.${forced}`,
          related,
        });
      }
    }
  },
};

// section-attr-func: a function forced into a named text section is not given
// its own .text.<fn> section by -ffunction-sections, so create-diff-object sees
// the whole shared section change and cannot include it.

import type { FunctionDef } from '../model';
import type { Rule } from './rule';
import { eachChangedFunction, reportOnFunction } from './lib/changedFunctions';
import { describeFunction } from './lib/wording';

/** Section each attribute macro expands to on x86-64 6.1. */
export const SECTION_ATTRS: Record<string, string> = {
  __sched: '.sched.text',
  __lockfunc: '.spinlock.text',
  __cpuidle: '.cpuidle.text',
  __irq_entry: '.irqentry.text',
  __softirq_entry: '.softirqentry.text',
  __kprobes: '.kprobes.text',
  noinstr: '.noinstr.text',
  __head: '.head.text',
};

const EXPLICIT_SECTION = /\b(?:__section|__noinstr_section|__attribute__\s*\(\s*\(\s*(?:__)?section(?:__)?)\s*\(\s*"([^"]+)"/g;

/** attribute-or-macro -> section, from the head of a function. */
export function sectionsOf(fn: FunctionDef): Map<string, string> {
  const out = new Map<string, string>();
  for (const a of fn.attributes) if (SECTION_ATTRS[a]) out.set(a, SECTION_ATTRS[a]);
  for (const m of fn.signature.matchAll(EXPLICIT_SECTION)) {
    // .text.<x> sections are what -ffunction-sections makes anyway; .init/.exit belong to other rules.
    if (/^\.text(?:\.|$)|^\.(?:init|exit|meminit|ref)\./.test(m[1])) continue;
    out.set(`__section("${m[1]}")`, m[1]);
  }
  return out;
}

export const sectionAttrFunc: Rule = {
  id: 'section-attr-func',
  severity: 'error',
  title: 'Changed function in a named text section (__sched, __lockfunc, noinstr...): the section is not split per function',
  check(ctx) {
    for (const { fc, old, fn } of eachChangedFunction(ctx)) {
      const before = sectionsOf(old);
      const after = sectionsOf(fn);
      // One finding per section, even when two spellings name it.
      const bySection = new Map<string, string>();
      for (const [attr, section] of [...before, ...after]) if (!bySection.has(section)) bySection.set(section, attr);
      for (const [section, attr] of bySection) {
        const ignored = fc.post.escapeHatches.get(section) === 'KPATCH_IGNORE_SECTION';
        const stillThere = [...after.values()].includes(section);
        if (ignored && !stillThere) continue; // the documented fix: attribute dropped + section ignored
        if (ignored) {
          reportOnFunction(ctx, fc, fn, {
            severity: 'warning',
            message: `${describeFunction(fn)} still carries ${attr}, but the file has KPATCH_IGNORE_SECTION("${section}"): create-diff-object ignores that section, so this change would be silently left out of the patch. Remove ${attr} from the patched copy so the function gets its own section.`,
          });
          continue;
        }
        const how =
          [...before.values()].includes(section) && !stillThere
            ? `The patch drops ${attr}, which is half of the fix: ${section} still changes because the function leaves it, so also add KPATCH_IGNORE_SECTION("${section}") to the file.`
            : `Drop ${attr} from the patched copy and add KPATCH_IGNORE_SECTION("${section}") to the file (kpatch-macros.h), or leave it alone and patch its callers instead: such functions cannot be patched directly.`;
        reportOnFunction(ctx, fc, fn, {
          message: `${describeFunction(fn)} is placed in ${section} by ${attr}; -ffunction-sections does not give it a section of its own, so kpatch-build sees the shared section change and stops with "changed section ${section} not selected for inclusion". ${how}`,
        });
      }
    }
  },
};

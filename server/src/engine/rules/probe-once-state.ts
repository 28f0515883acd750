// probe-once-state: probe/setup/init code runs once per device or object.
// A patch changes it only for objects created after the patch loads; the ones
// that exist keep whatever the old code stored.

import type { FunctionDef } from '../model';
import type { FileChange, Rule } from './rule';
import { changedFunctions, firstChangedLine, isIgnoredFunction } from './lib/changedFunctions';
import { describeFunction } from './lib/wording';
import { firstAfter } from './lib/codeText';

const ONCE_NAME = /_(probe|setup|init|attach|bind|ctor)(?:_one)?$/;
const ONCE_MEMBER = /\.(probe|setup|init|init_one|attach|bind|ctor)\s*=\s*&?\s*$/;
// init-section and exit-section own these.
const OWNED_ELSEWHERE = ['__init', '__meminit', '__init_or_module', '__ref', '__cpuinit', '__head', '__exit'];
// Lines that store state into the object being set up.
const STORES =
  /(?:->|\.)\w+(?:\[[^\]]*\])?\s*(?:[-+|&^]|<<|>>)?=(?!=)|\b(?:atomic|atomic64|atomic_long|refcount)_set\s*\(|\bkref_init\s*\(|\bINIT_[A-Z_]+\s*\(|\b(?:__)?set_bit\s*\(|\b\w+_init\s*\(\s*&/;

/** Post-image lines the patch added inside a span (inclusive). */
function addedLinesIn(fc: FileChange, start: number, end: number): number[] {
  const out: number[] = [];
  for (let l = start; l <= end; l++) if (fc.maps.added.has(l)) out.push(l);
  return out;
}

export const probeOnceState: Rule = {
  id: 'probe-once-state',
  severity: 'warning',
  title: 'Changed probe/setup/init path: objects that already exist keep the old state',
  check(ctx) {
    for (const fc of ctx.files) {
      if (!fc.post) continue;
      for (const c of changedFunctions(fc)) {
        const fn = c.new;
        if (isIgnoredFunction(fc, fn.name) || ownedElsewhere(fc.post.initTargets, fn, c.old)) continue;
        const member = firstAfter(fc.post.text, fn.name, ONCE_MEMBER)?.match[1];
        const named = ONCE_NAME.exec(fn.name);
        if (!member && !named) continue;
        const role = member ? `is a .${member} callback` : `looks like a ${named![1]} routine`;
        const store = addedLinesIn(fc, fn.bodySpan.start, fn.bodySpan.end).find((l) => STORES.test(stripComment(fc.post!.lines[l])));
        const stores = store !== undefined;
        ctx.report({
          severity: stores ? 'warning' : 'info',
          file: fc.path,
          line: stores ? store : firstChangedLine(fc, fn),
          endLine: fn.span.end,
          function: fn.name,
          symbol: fn.name,
          message: `${describeFunction(fn)} ${role}, which runs once per device or object. The patch only affects objects set up after it loads; those that already exist keep what the old code did${stores ? ', and this change alters the state it stores' : ''}. If existing objects need the fix too, repair them from a post-patch callback (KPATCH_POST_PATCH_CALLBACK / KLP_POST_PATCH_CALLBACK) that walks them, as the virtio-net example in Documentation/livepatch/callbacks.rst does.`,
        });
      }
    }
  },
};

function ownedElsewhere(initTargets: Map<string, string>, fn: FunctionDef, old: FunctionDef): boolean {
  return initTargets.has(fn.name) || [...fn.attributes, ...old.attributes].some((a) => OWNED_ELSEWHERE.includes(a));
}

function stripComment(line: string): string {
  return line.replace(/\/\*.*?\*\/|\/\/.*$/g, '');
}

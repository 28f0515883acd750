// data-global-changed: kpatch replaces functions, never data. A new
// initializer for an object that already exists in the running kernel never
// reaches that object, and create-diff-object refuses the changed data section.

import type { Rule } from './rule';
import { isIgnoredFunction, touchedFunctions } from './lib/changedFunctions';
import { bodyCode, countWord } from './lib/codeText';
import { pairData, type DataVar } from './lib/fileData';
import { describeFunction } from './lib/wording';

/** Placement in .init/.exit data: init-section's business. */
const INIT_DATA = /^__(?:init|exit|meminit|ref)\w*$/;

function initOf(v: DataVar): string {
  return v.init ?? '(zero)';
}

/** Scalar `static const` objects are usually folded into their readers, which then change and get patched. */
function foldableConst(v: DataVar): boolean {
  return v.storage === 'static' && !v.macro && !v.dims && /\bconst\b/.test(v.type) && !/\*|\bstruct\b|\bunion\b/.test(v.type);
}

function kindOf(v: DataVar): string {
  if (v.macro) return `${v.macro}() object`;
  if (/\bconst\b/.test(v.type) && /\b(?:struct|union)\b/.test(v.type)) return 'const table';
  if (v.init?.startsWith('{')) return /\*/.test(v.type) ? 'pointer table' : 'table';
  return v.storage === 'static' ? 'static variable' : 'global variable';
}

/** The first line inside [start, end] the patch added, or start. */
function addedIn(added: Set<number>, start: number, end: number): number {
  for (let l = start; l <= end; l++) if (added.has(l)) return l;
  return start;
}

export const dataGlobalChanged: Rule = {
  id: 'data-global-changed',
  severity: 'error',
  title: 'Changed initial value of existing data: the live object keeps the old contents',
  check(ctx) {
    for (const fc of ctx.files) {
      if (!fc.pre || !fc.post) continue;
      for (const c of pairData(fc)) {
        const o = c.old;
        const n = c.new;
        if (!o || !n || n.storage === 'extern' || o.storage === 'extern') continue;
        if (o.type !== n.type || o.dims !== n.dims) continue; // data-size-changed
        if ((o.init ?? '') === (n.init ?? '')) continue;
        if ([...o.attributes, ...n.attributes].some((a) => INIT_DATA.test(a))) continue;
        const line = addedIn(fc.maps.added, n.span.start, n.span.end);
        const folded = foldableConst(n);
        ctx.report({
          severity: folded ? 'warning' : 'error',
          file: fc.path,
          line,
          endLine: n.span.end,
          symbol: c.name,
          message: folded
            ? `The patch changes the value of the constant '${c.name}' (${initOf(o)} -> ${initOf(n)}). The compiler normally folds such a constant into the code that reads it, so those functions change and are patched; if its address is taken, the object itself changes and kpatch-build refuses it. Prefer changing the readers to use a new constant.`
            : `The patch changes the initializer of the existing ${kindOf(n)} '${c.name}'. kpatch patches functions, not data: the running kernel keeps the old contents, unpatched code keeps reading them, and kpatch-build stops with "data section .data.${c.name} selected for inclusion" or "changed section ... not selected for inclusion". Change the code that reads '${c.name}' instead (test the new condition there, or use a new table under a new name from the patched readers), or update the live object in a pre-patch/post-patch callback (KPATCH_PRE_PATCH_CALLBACK / KLP_PRE_PATCH_CALLBACK), with the locking its readers use.`,
          related: [{ file: fc.path, line: o.span.start, image: 'pre', message: `old definition of '${c.name}'` }],
        });
      }
      // Static locals keep their old value too: a new initializer has no effect on the live copy.
      for (const t of touchedFunctions(fc)) {
        if (!t.old || isIgnoredFunction(fc, t.new.name)) continue;
        for (const s of t.new.staticLocals) {
          const old = t.old.staticLocals.find((x) => x.name === s.name);
          if (!old || old.decl === s.decl) continue;
          const [oHead, ...oInit] = old.decl.split('=');
          const [nHead, ...nInit] = s.decl.split('=');
          if (oHead !== nHead || oInit.join('=') === nInit.join('=')) continue; // type change: data-size-changed
          if (countWord(bodyCode(fc.post, t.new), s.name) < 2) continue; // unused: static-local-removed
          ctx.report({
            file: fc.path,
            line: s.line,
            function: t.new.name,
            symbol: s.name,
            message: `${describeFunction(t.new)} changes the initializer of its static local '${s.name}'. kpatch correlates it with the running kernel's copy, which keeps its current value; the new initializer never takes effect and kpatch-build refuses the changed data section. Set the value from the code (or a post-patch callback) instead.`,
            related: [{ file: fc.path, line: old.line, image: 'pre', message: `old declaration of '${s.name}'` }],
          });
        }
      }
    }
  },
};

// no-functional-change: a patch that only touches whitespace, blank lines or
// comments compiles to the same code (up to __LINE__), and kpatch-build stops
// with "no functional changes found" (kpatch's warn-detect-FAIL test is exactly
// one blank line added at the top of a file).

import type { FileChange, Rule } from './rule';
import { firstChange, hunkDeltas, plural, sameTokens } from './text-rules-util';

/** Files that never reach an object file: they neither add nor remove a functional change. */
const NEUTRAL = /^(?:Documentation\/|LICENSES\/)|\.(?:rst|txt|md)$|(?:^|\/)(?:MAINTAINERS|CREDITS|README)$/;

/** True when the file's change is only whitespace or comments; null when we cannot tell. */
function cosmeticOnly(fc: FileChange): boolean | null {
  if (fc.patch.status !== 'modified' || !fc.patch.hunks.length) return false;
  if (!fc.pre || !fc.post) return null;
  // Cheap exits first: a changed definition means a real change.
  const p = fc.pairing;
  const real = (k: string) => k === 'added' || k === 'removed' || k === 'body' || k === 'signature';
  if (p.functions.some((c) => real(c.kind)) || p.types.some((c) => real(c.kind)) ||
      p.variables.some((c) => real(c.kind)) || p.macros.some((c) => real(c.kind))) {
    return false;
  }
  return sameTokens(fc.pre.text, fc.post.text);
}

export const noFunctionalChange: Rule = {
  id: 'no-functional-change',
  severity: 'error',
  title: 'The patch changes only whitespace or comments: nothing to live-patch',
  check(ctx) {
    const cosmetic: FileChange[] = [];
    for (const fc of ctx.files) {
      if (!fc.isC) {
        if (NEUTRAL.test(fc.path)) continue;
        return; // Makefile, Kconfig, assembly...: could be a real change.
      }
      const only = cosmeticOnly(fc);
      if (only !== true) return;
      cosmetic.push(fc);
    }
    if (!cosmetic.length) return;
    const fc = cosmetic[0];
    const at = firstChange(fc);
    const shift = cosmetic.some((f) => hunkDeltas(f).some((d) => d.delta !== 0));
    ctx.report({
      file: fc.path,
      line: at.line,
      endLine: at.endLine,
      image: at.image,
      message:
        `The patch changes only whitespace, blank lines or comments (${plural(cosmetic.length, 'C file')}), so the ` +
        `compiled code is the same` + (shift ? ' except for shifted __LINE__ values' : '') + `: kpatch-build stops ` +
        `with "ERROR: no functional changes found"` +
        (shift ? ' (or, where a shifted __LINE__ is passed as an argument, builds a module that only replaces ' +
          'functions whose line numbers moved; see line-macro)' : '') +
        `. Check that the intended code change is really in the patch (unsaved file, hunk lost in a ` +
        `rebase); a patch without one has nothing to live-patch.`,
      related: cosmetic.slice(1).map((f) => ({ file: f.path, line: firstChange(f).line, message: 'also only whitespace or comments' })),
    });
  },
};

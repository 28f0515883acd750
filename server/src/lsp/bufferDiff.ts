// A unified diff of a buffer against its base. Lines shared at both ends are
// skipped before jsdiff runs, so a one-line edit in an 11,000-line file costs a
// string comparison, not a full line diff.

import { structuredPatch } from 'diff';

const CONTEXT = 3;

export function bufferPatch(rel: string, base: string | null, cur: string): string {
  const a = base === null ? [] : base.split('\n');
  const b = cur.split('\n');
  let pre = 0;
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++;
  let suf = 0;
  while (suf < a.length - pre && suf < b.length - pre && a[a.length - 1 - suf] === b[b.length - 1 - suf]) suf++;
  if (base !== null && pre === a.length && pre === b.length) return '';
  // Keep enough shared lines around the middle for context.
  const from = Math.max(0, pre - CONTEXT);
  const aEnd = Math.min(a.length, a.length - suf + CONTEXT);
  const bEnd = Math.min(b.length, b.length - suf + CONTEXT);
  const sub = structuredPatch('a', 'b', a.slice(from, aEnd).join('\n'), b.slice(from, bEnd).join('\n'), '', '', { context: CONTEXT });
  let out =
    `diff --git a/${rel} b/${rel}\n` + (base === null ? 'new file mode 100644\n--- /dev/null\n' : `--- a/${rel}\n`) + `+++ b/${rel}\n`;
  for (const h of sub.hunks) {
    const oldStart = base === null ? 0 : h.oldStart + from;
    const newStart = h.newStart + from;
    out += `@@ -${oldStart},${h.oldLines} +${newStart},${h.newLines} @@\n`;
    for (const l of h.lines) out += l + '\n';
  }
  return out;
}

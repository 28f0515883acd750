// A unified diff of a buffer against its base. Lines shared at both ends are
// skipped before jsdiff runs, so a one-line edit in an 11,000-line file costs a
// string comparison, not a full line diff; and only the lines near the change
// are split, not both whole texts on every keystroke.

import { structuredPatch } from 'diff';

const CONTEXT = 3;

export function bufferPatch(rel: string, base: string | null, cur: string): string {
  if (base === null || base === cur) return bufferPatchByLines(rel, base, cur);
  // Cut both texts down to the lines around the change, plus a margin of equal lines
  // on each side (more than the context): the line diff of the pieces is the line diff
  // of the texts, moved by the lines cut off in front.
  const prefix = commonPrefix(base, cur);
  // The start of the line the change is on, then CONTEXT + 1 lines further up.
  let from = prefix === 0 ? 0 : base.lastIndexOf('\n', prefix - 1) + 1;
  for (let k = 0; k <= CONTEXT && from > 0; k++) from = from < 2 ? 0 : base.lastIndexOf('\n', from - 2) + 1;
  // The first line start inside the common tail (both texts have that newline), then CONTEXT + 1 lines further down.
  const suffix = commonSuffix(base, cur, Math.min(base.length, cur.length) - prefix);
  let nl = base.indexOf('\n', base.length - suffix);
  for (let k = 0; k <= CONTEXT && nl !== -1; k++) nl = base.indexOf('\n', nl + 1);
  const endA = nl === -1 ? base.length : nl + 1;
  const endB = endA + cur.length - base.length;
  let skipped = 0;
  for (let i = base.indexOf('\n'); i !== -1 && i < from; i = base.indexOf('\n', i + 1)) skipped++;
  return bufferPatchByLines(rel, base.slice(from, endA), cur.slice(from, endB), skipped);
}

/** The diff of whole texts, split into lines (`lineOffset`: lines cut off in front of both). */
export function bufferPatchByLines(rel: string, base: string | null, cur: string, lineOffset = 0): string {
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
    // structuredPatch's start of an empty side is the line after; the header names the line before.
    const oldStart = base === null ? 0 : h.oldStart - (h.oldLines === 0 ? 1 : 0) + from + lineOffset;
    const newStart = h.newStart - (h.newLines === 0 ? 1 : 0) + from + lineOffset;
    out += `@@ -${oldStart},${h.oldLines} +${newStart},${h.newLines} @@\n`;
    for (const l of h.lines) out += l + '\n';
  }
  return out;
}

/** Length of the common prefix of a and b (a block at a time: string equality is far faster than a char loop). */
function commonPrefix(a: string, b: string): number {
  const max = Math.min(a.length, b.length);
  let i = 0;
  for (let step = 4096; step >= 1; step >>= 4) {
    while (i + step <= max && a.slice(i, i + step) === b.slice(i, i + step)) i += step;
  }
  return i;
}

/** Length of the common suffix of a and b, at most max. */
function commonSuffix(a: string, b: string, max: number): number {
  let i = 0;
  for (let step = 4096; step >= 1; step >>= 4) {
    while (i + step <= max && a.slice(a.length - i - step, a.length - i) === b.slice(b.length - i - step, b.length - i)) i += step;
  }
  return i;
}

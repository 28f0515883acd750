// Line edits expressed against the post-image of one kernel file, turned into
// LSP text edits on whatever document shows that image: the kernel source
// itself, or a patch (where a changed context line becomes a -/+ pair and hunk
// headers are recounted).

import type { TextEdit } from 'vscode-languageserver';
import type { FileChange } from '../engine/rules/rule';

export interface LineEditor {
  /** Text of a post-image line. */
  line(n: number): string | undefined;
  /** Replaces a post-image line; false when the document does not show it. */
  replace(n: number, text: string): boolean;
  /** Inserts lines before a post-image line; false when the document does not show it. */
  insertBefore(n: number, lines: string[]): boolean;
  /** Deletes a post-image line; false when the document does not show it. */
  remove(n: number): boolean;
  edits(): TextEdit[];
}

function lineEdit(line: number, newText: string, endLine = line + 1): TextEdit {
  return { range: { start: { line, character: 0 }, end: { line: endLine, character: 0 } }, newText };
}

/** Edits on the kernel source document itself: post-image lines are document lines. */
export class SourceEditor implements LineEditor {
  private out: TextEdit[] = [];
  constructor(private readonly lines: string[]) {}
  line(n: number) {
    return this.lines[n];
  }
  replace(n: number, text: string) {
    this.out.push(lineEdit(n, text + '\n'));
    return true;
  }
  insertBefore(n: number, lines: string[]) {
    this.out.push(lineEdit(n, lines.map((l) => l + '\n').join(''), n));
    return true;
  }
  remove(n: number) {
    this.out.push(lineEdit(n, ''));
    return true;
  }
  edits() {
    return this.out;
  }
}

/** Edits on a patch document showing the file's hunks. */
export class PatchEditor implements LineEditor {
  private out: TextEdit[] = [];
  /** hunk header patch line -> change of its new-side count. */
  private delta = new Map<number, number>();
  constructor(
    private readonly patchLines: string[],
    private readonly fc: FileChange,
  ) {}

  line(n: number) {
    return this.fc.post?.lines[n];
  }

  private hunkOf(patchLine: number): number | null {
    let best: number | null = null;
    for (const h of this.fc.patch.hunks) if (h.patchLine < patchLine) best = h.patchLine;
    return best;
  }

  private bump(patchLine: number, by: number) {
    const h = this.hunkOf(patchLine);
    if (h !== null) this.delta.set(h, (this.delta.get(h) ?? 0) + by);
  }

  replace(n: number, text: string) {
    const pl = this.fc.maps.postToPatch.get(n);
    if (pl === undefined) return false;
    const cur = this.patchLines[pl];
    if (cur.startsWith('+')) this.out.push(lineEdit(pl, `+${text}\n`));
    else this.out.push(lineEdit(pl, `-${cur.slice(1)}\n+${text}\n`)); // context becomes a change; counts stay
    return true;
  }

  insertBefore(n: number, lines: string[]) {
    const pl = this.fc.maps.postToPatch.get(n);
    if (pl === undefined) return false;
    this.out.push(lineEdit(pl, lines.map((l) => `+${l}\n`).join(''), pl));
    this.bump(pl, lines.length);
    return true;
  }

  remove(n: number) {
    const pl = this.fc.maps.postToPatch.get(n);
    if (pl === undefined) return false;
    const cur = this.patchLines[pl];
    if (cur.startsWith('+')) this.out.push(lineEdit(pl, ''));
    else this.out.push(lineEdit(pl, `-${cur.slice(1)}\n`));
    this.bump(pl, -1);
    return true;
  }

  edits() {
    const headers: TextEdit[] = [];
    for (const [pl, d] of this.delta) {
      if (!d) continue;
      const text = this.patchLines[pl];
      const m = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(.*)$/.exec(text);
      if (!m) continue;
      const newCount = (m[4] === undefined ? 1 : Number(m[4])) + d;
      const oldPart = m[2] === undefined ? m[1] : `${m[1]},${m[2]}`;
      headers.push(lineEdit(pl, `@@ -${oldPart} +${m[3]},${newCount} @@${m[5]}\n`));
    }
    return [...headers, ...this.out];
  }
}

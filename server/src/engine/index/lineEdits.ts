// Data that rules derive from an index's whole text (the macro-made file-scope objects),
// brought up to date around an edit instead of recomputed over the file.
// The incremental re-index (reindexTree) says which lines of the new index replaced
// which lines of the old one; each kind of derived data registers here to hear it.

import type { FileIndex } from '../model';

/** Lines [aLine, bOld] of the earlier index became lines [aLine, bNew] of the later one; the lines around them are the same. */
export interface LineEdit {
  aLine: number;
  bOld: number;
  bNew: number;
}

/** The edit `first` (base -> mid) followed by `second` (mid -> next), as one edit of the base. */
export function joinLineEdits(first: LineEdit, second: LineEdit): LineEdit {
  const midEnd = Math.max(first.bNew, second.bOld);
  return {
    aLine: Math.min(first.aLine, second.aLine),
    bOld: midEnd - (first.bNew - first.bOld),
    bNew: midEnd + (second.bNew - second.bOld),
  };
}

const registry: LineDerived<unknown>[] = [];

/**
 * Per index, a value computed from its text (`whole`), or from the value of the index it
 * was re-indexed from and the lines that changed (`around`). The values are kept as long
 * as their index lives.
 */
export class LineDerived<T> {
  private values = new WeakMap<FileIndex, T>();
  // The earlier value this index's can start from, and the edit since then. Holds the
  // value only, never the earlier index, so that a chain of keystrokes frees its indexes.
  private edits = new WeakMap<FileIndex, { prev: T; edit: LineEdit }>();
  /** How many values were computed over the whole text and how many around an edit (for tests). */
  readonly stats = { whole: 0, incremental: 0 };

  constructor(
    private readonly whole: (idx: FileIndex) => T,
    private readonly around: (prev: T, edit: LineEdit, idx: FileIndex) => T,
    /** Whether a value can be carried to an index re-indexed from `idx` (a sanity check). */
    private readonly carries: (value: T, idx: FileIndex) => boolean = () => true,
  ) {
    registry.push(this as LineDerived<unknown>);
  }

  get(idx: FileIndex): T {
    if (this.values.has(idx)) return this.values.get(idx)!;
    const e = this.edits.get(idx);
    const value = e ? this.around(e.prev, e.edit, idx) : this.whole(idx);
    this.stats[e ? 'incremental' : 'whole']++;
    this.edits.delete(idx);
    this.values.set(idx, value);
    return value;
  }

  note(prev: FileIndex, next: FileIndex, edit: LineEdit): void {
    if (this.values.has(prev)) {
      const value = this.values.get(prev)!;
      if (this.carries(value, prev)) this.edits.set(next, { prev: value, edit });
      return;
    }
    // Never asked for prev (most keystrokes run no rule that reads it): join the edits, so
    // that a later get() still starts from the last index that had a value.
    const e = this.edits.get(prev);
    if (e) this.edits.set(next, { prev: e.prev, edit: joinLineEdits(e.edit, edit) });
  }
}

/** Records that `next.lines` is `prev.lines` with lines [aLine, bOld] replaced by next's [aLine, bNew]. */
export function noteLineEdit(prev: FileIndex, next: FileIndex, aLine: number, bOld: number, bNew: number): void {
  for (const d of registry) d.note(prev, next, { aLine, bOld, bNew });
}

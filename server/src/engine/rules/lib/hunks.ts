// Hunk geometry: how many lines each hunk adds or removes, and where a file's first change lands.

import type { Hunk } from '../../diff/readPatch';
import type { FileChange } from '../rule';

export interface HunkDelta {
  hunk: Hunk;
  /** Lines added minus lines removed. */
  delta: number;
  /** Post-image line of the first added line, or where the first removed line was. */
  firstChangePost: number;
  /** Post-image line of the last changed line (inclusive). */
  lastChangePost: number;
  postStart: number;
}

export function hunkDeltas(fc: FileChange): HunkDelta[] {
  return fc.maps.placements.map((pl) => {
    let q = pl.postStart;
    let delta = 0;
    let first = -1;
    let last = -1;
    for (const l of pl.hunk.lines) {
      if (l.op === ' ') {
        q++;
        continue;
      }
      if (first < 0) first = q;
      last = l.op === '+' ? q : Math.max(q - 1, first);
      if (l.op === '+') {
        delta++;
        q++;
      } else {
        delta--;
      }
    }
    if (first < 0) first = last = pl.postStart;
    return { hunk: pl.hunk, delta, firstChangePost: first, lastChangePost: Math.max(first, last), postStart: pl.postStart };
  });
}

/** Where a finding about the whole file's changes goes: its first changed line. */
export function firstChange(fc: FileChange): { line: number; endLine: number; image: 'pre' | 'post' } {
  const d = hunkDeltas(fc)[0];
  const deleted = fc.patch.status === 'deleted';
  if (!d) return { line: 0, endLine: 0, image: deleted ? 'pre' : 'post' };
  if (deleted) {
    const pl = fc.maps.placements[0];
    return { line: pl.preStart, endLine: pl.preStart, image: 'pre' };
  }
  return { line: d.firstChangePost, endLine: d.lastChangePost, image: 'post' };
}

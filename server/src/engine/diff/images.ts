// Rebuilds the post-image of a file from its pre-image and hunks, recording
// where every hunk landed. We apply hunks ourselves (rather than with jsdiff's
// applyPatch) because diagnostics need the exact post-image line of every patch
// line, including when a hunk applies at an offset or with reduced context, as
// `patch -F` would.

import type { FilePatch, Hunk } from './readPatch';
import { PatchError } from './readPatch';

export interface LineMaps {
  /** post-image line -> patch line, for lines the patch shows (context and '+'). */
  postToPatch: Map<number, number>;
  /** pre-image line -> patch line, for lines the patch shows (context and '-'). */
  preToPatch: Map<number, number>;
  /** 0-based post-image lines added by the patch. */
  added: Set<number>;
  /** 0-based pre-image lines removed by the patch. */
  removed: Set<number>;
  /** Where each hunk landed: pre-image start and post-image start (0-based). */
  placements: { hunk: Hunk; preStart: number; postStart: number; fuzz: number }[];
}

export interface Images {
  pre: string | null;
  post: string | null;
  maps: LineMaps;
  /** Largest number of context lines ignored to place a hunk (0 = exact). */
  fuzz: number;
}

function emptyMaps(): LineMaps {
  return { postToPatch: new Map(), preToPatch: new Map(), added: new Set(), removed: new Set(), placements: [] };
}

function matchesAt(pre: PreLines, at: number, want: string[], skipHead: number, skipTail: number): boolean {
  if (at < 0 || at + want.length > pre.count) return false;
  const { text, starts } = pre;
  for (let i = skipHead; i < want.length - skipTail; i++) {
    const from = starts[at + i];
    // Lengths first: most candidate places differ there, and nothing is sliced for them.
    if (starts[at + i + 1] - 1 - from !== want[i].length || text.slice(from, from + want[i].length) !== want[i]) return false;
  }
  return true;
}

/** Finds where a hunk's old side sits in the pre-image: exact position first, then nearest offset, then fuzz. */
function locate(pre: PreLines, hunk: Hunk, from: number, maxFuzz: number): { at: number; fuzz: number } | null {
  const want = hunk.lines.filter((l) => l.op !== '+').map((l) => l.text);
  const expected = Math.max(0, hunk.oldStart - (hunk.oldLines === 0 ? 0 : 1));
  const leading = hunk.lines.findIndex((l) => l.op !== ' ');
  const trailing = [...hunk.lines].reverse().findIndex((l) => l.op !== ' ');
  for (let fuzz = 0; fuzz <= maxFuzz; fuzz++) {
    const head = Math.min(fuzz, Math.max(0, leading));
    const tail = Math.min(fuzz, Math.max(0, trailing));
    if (fuzz > 0 && head === 0 && tail === 0) break;
    for (let off = 0; off <= pre.count; off++) {
      for (const at of off === 0 ? [expected] : [expected - off, expected + off]) {
        if (at < from) continue;
        if (matchesAt(pre, at, want, head, tail)) return { at, fuzz };
      }
      if (expected - off < from && expected + off > pre.count) break;
    }
  }
  return null;
}

export function buildImages(file: FilePatch, preText: string | null, maxFuzz = 2): Images {
  const maps = emptyMaps();
  if (file.status === 'added') {
    const postLines: string[] = [];
    for (const h of file.hunks) {
      for (const l of h.lines) {
        if (l.op === '-') continue;
        maps.postToPatch.set(postLines.length, l.patchLine);
        if (l.op === '+') maps.added.add(postLines.length);
        postLines.push(l.text);
      }
    }
    return { pre: null, post: postLines.join('\n') + (postLines.length ? '\n' : ''), maps, fuzz: 0 };
  }
  if (preText === null) throw new PatchError(`${file.oldPath}: not found in the tree`);
  const endsWithNewline = preText.endsWith('\n');
  const pre = preLines(preText);
  const { starts } = pre;
  // The post-image as pieces joined by \n: a run of untouched lines is one slice of the
  // pre-image, so a keystroke in a 10,000-line file copies two slices, not every line.
  const post: string[] = [];
  let postCount = 0;
  const copy = (from: number, to: number) => {
    if (to <= from) return;
    post.push(preText.slice(starts[from], starts[to] - 1));
    postCount += to - from;
  };
  let cursor = 0;
  let maxUsed = 0;
  for (const hunk of file.hunks) {
    const where = locate(pre, hunk, cursor, maxFuzz);
    if (!where) {
      throw new PatchError(
        `${file.oldPath}: hunk at patch line ${hunk.patchLine + 1} (@@ -${hunk.oldStart},${hunk.oldLines}) does not apply to the tree`,
      );
    }
    maxUsed = Math.max(maxUsed, where.fuzz);
    copy(cursor, where.at);
    const postStart = postCount;
    let p = where.at;
    for (const l of hunk.lines) {
      if (l.op === ' ') {
        maps.preToPatch.set(p, l.patchLine);
        maps.postToPatch.set(postCount, l.patchLine);
        post.push(lineOf(pre, p)); // keep the tree's text where fuzz ignored the context
        postCount++;
        p++;
      } else if (l.op === '-') {
        maps.preToPatch.set(p, l.patchLine);
        maps.removed.add(p);
        p++;
      } else {
        maps.postToPatch.set(postCount, l.patchLine);
        maps.added.add(postCount);
        post.push(l.text);
        postCount++;
      }
    }
    maps.placements.push({ hunk, preStart: where.at, postStart, fuzz: where.fuzz });
    cursor = p;
  }
  copy(cursor, pre.count);
  if (file.status === 'deleted') return { pre: preText, post: null, maps, fuzz: maxUsed };
  return { pre: preText, post: post.join('\n') + (endsWithNewline || !pre.count ? '\n' : ''), maps, fuzz: maxUsed };
}

/**
 * A pre-image's lines (without the final newline's empty line) as their start offsets, plus
 * one past the last line: a hunk reads a few lines of a file of thousands, so the text is
 * not split.
 */
interface PreLines {
  text: string;
  count: number;
  starts: number[];
}

// The editor checks the same base text on every keystroke: find its lines once.
let lastPre: PreLines | null = null;

function preLines(text: string): PreLines {
  if (lastPre?.text === text) return lastPre;
  const starts = [0];
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  // Text after the last newline is a line too (one past its end is where its newline would be).
  if (text.length && !text.endsWith('\n')) starts.push(text.length + 1);
  lastPre = { text, count: starts.length - 1, starts };
  return lastPre;
}

/** Line `i` of a pre-image, without its newline. */
function lineOf(pre: PreLines, i: number): string {
  return pre.text.slice(pre.starts[i], pre.starts[i + 1] - 1);
}

/** Net `{` minus `}` over lines, and the lowest running value (comments and literals skipped). */
function braceDepth(lines: string[]): { net: number; min: number } {
  let net = 0;
  let min = 0;
  let inComment = false;
  for (const line of lines) {
    for (let i = 0; i < line.length; i++) {
      const c = line[i];
      if (inComment) {
        if (c === '*' && line[i + 1] === '/') {
          inComment = false;
          i++;
        }
        continue;
      }
      if (c === '/' && line[i + 1] === '*') {
        inComment = true;
        i++;
      } else if (c === '/' && line[i + 1] === '/') break;
      else if (c === '"' || c === "'") {
        const q = c;
        for (i++; i < line.length && line[i] !== q; i++) if (line[i] === '\\') i++;
      } else if (c === '{') net++;
      else if (c === '}') min = Math.min(min, --net);
    }
  }
  return { net, min };
}

/** `static int __init foo()` or `struct foo` from git's hunk section text; null when it is neither. */
function sectionHead(section: string): string | null {
  const agg = /^\s*((?:static\s+|const\s+)*(?:struct|union|enum)\s+\w+)\s*(?:\{\s*)?$/.exec(section);
  if (agg) return agg[1];
  const m = /^(.*?\b[A-Za-z_]\w*\s*\()/.exec(section);
  return m ? `${m[1]})` : null;
}

/**
 * Without a tree: pseudo-images that hold only what the hunks show, each line at
 * its own line number (other lines empty), so findings still point at real lines.
 * A hunk that starts inside a function gets the function head git printed after
 * its `@@` placed on the gap line above it, and unclosed braces are closed on
 * the gap line below, so one partial function cannot swallow the next hunk.
 */
export function hunkOnlyImages(file: FilePatch): Images {
  const maps = emptyMaps();
  const pre: string[] = [];
  const post: string[] = [];
  const filled = [new Set<number>(), new Set<number>()];
  const sides = [pre, post];
  const closers: { side: number; line: number; text: string }[] = [];
  for (const hunk of file.hunks) {
    // A count of 0 means "after line N": 0-based index N.
    let p = Math.max(0, hunk.oldStart - (hunk.oldLines === 0 ? 0 : 1));
    let q = Math.max(0, hunk.newStart - (hunk.newLines === 0 ? 0 : 1));
    while (pre.length < p) pre.push('');
    while (post.length < q) post.push('');
    maps.placements.push({ hunk, preStart: p, postStart: q, fuzz: 0 });
    const oldSide = hunk.lines.filter((l) => l.op !== '+').map((l) => l.text);
    const newSide = hunk.lines.filter((l) => l.op !== '-').map((l) => l.text);
    const head = sectionHead(hunk.section);
    [
      [oldSide, p],
      [newSide, q],
    ].forEach(([lines, at], side) => {
      const { net, min } = braceDepth(lines as string[]);
      const start = at as number;
      if (min < 0 && head && start > 0 && !filled[side].has(start - 1)) {
        sides[side][start - 1] = `${sides[side][start - 1] ?? ''} ${head} ${'{'.repeat(-min)}`;
      }
      const depth = net - min;
      if (depth > 0) closers.push({ side, line: start + (lines as string[]).length, text: '}'.repeat(depth) });
    });
    for (const l of hunk.lines) {
      if (l.op !== '+') {
        pre[p] = l.text;
        filled[0].add(p);
        maps.preToPatch.set(p, l.patchLine);
        if (l.op === '-') maps.removed.add(p);
        p++;
      }
      if (l.op !== '-') {
        post[q] = l.text;
        filled[1].add(q);
        maps.postToPatch.set(q, l.patchLine);
        if (l.op === '+') maps.added.add(q);
        q++;
      }
    }
  }
  for (const c of closers) {
    const lines = sides[c.side];
    if (filled[c.side].has(c.line)) continue; // the next hunk follows directly: no gap to close in
    while (lines.length <= c.line) lines.push('');
    lines[c.line] = `${c.text} ${lines[c.line]}`;
  }
  return {
    pre: file.status === 'added' ? null : pre.join('\n') + '\n',
    post: file.status === 'deleted' ? null : post.join('\n') + '\n',
    maps,
    fuzz: 0,
  };
}

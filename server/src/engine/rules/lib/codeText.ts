// C code as text for rule heuristics: comments and literals blanked, identifiers, word matches.

import type { FileIndex, FunctionDef } from '../../model';
import { escapeRegExp } from '../../util/text';
import { LineDerived, type LineEdit } from '../../index/lineEdits';

/** Same-length copy of C text with comments, string and char literals replaced by spaces (newlines kept). */
export function codeOnly(text: string): string {
  // One regex pass: the regex engine is far faster than a character loop on 400 KB files.
  return text.replace(CODE_ONLY_RE, blankMatch);
}

const CODE_ONLY_RE = /\/\*[\s\S]*?(?:\*\/|$(?![\s\S]))|\/\/[^\n]*|"(?:[^"\\\n]|\\[\s\S])*"?|'(?:[^'\\\n]|\\[\s\S])*'?/g;

function blankMatch(m: string): string {
  if (m[0] === '/') return m.replace(/[^\n]/g, ' ');
  // Keep the quotes, blank the contents.
  const q = m[0];
  const closed = m.length > 1 && m[m.length - 1] === q && !/\\$/.test(m.slice(0, -1).replace(/\\\\/g, ''));
  const inner = m.slice(1, closed ? -1 : undefined).replace(/[^\n]/g, ' ');
  return q + inner + (closed ? q : '');
}

/**
 * Blanked lines of a text, and per line whether the newline before it lies inside a
 * comment or literal (`open`): at a line that is not open the blanking starts afresh,
 * so the text from there on blanks the same whatever comes before it.
 */
interface CodeState {
  code: string[];
  open: Uint8Array;
}

function blankLines(text: string): CodeState {
  const inside: number[] = [];
  const blanked = text.replace(CODE_ONLY_RE, (m: string, at: number) => {
    for (let i = m.indexOf('\n'); i !== -1; i = m.indexOf('\n', i + 1)) inside.push(at + i);
    return blankMatch(m);
  });
  const code = blanked.split('\n');
  const open = new Uint8Array(code.length);
  // Line numbers of the newlines inside matches (offsets ascending).
  let line = 0;
  let pos = 0;
  for (const nl of inside) {
    for (let i = text.indexOf('\n', pos); i !== -1 && i < nl; i = text.indexOf('\n', i + 1)) line++;
    pos = nl + 1;
    line++;
    open[line] = 1;
  }
  return { code, open };
}

// Blanked again only around the lines an incremental re-index changed.
const codeState = new LineDerived<CodeState>(
  (idx) => blankLines(idx.lines.join('\n')),
  (prev, edit, idx) => reblank(prev, edit, idx.lines),
  (st, idx) => st.code.length === idx.lines.length,
);

/** How many codeLines results were blanked over the whole text and how many around an edit (for tests). */
export const codeLinesStats = codeState.stats;

/** The index's lines with comments and literals blanked. */
export function codeLines(idx: FileIndex): string[] {
  return codeState.get(idx).code;
}

/**
 * The code state of `lines` from that of the lines before an edit: blanking restarts
 * at the last line at or before the edit that is not open, and stops at the first line
 * after it that is not open in either text; the lines outside are the old ones.
 */
function reblank(prev: CodeState, e: LineEdit, lines: string[]): CodeState {
  const { aLine, bOld, bNew } = e;
  const dl = bNew - bOld;
  let k = aLine;
  while (k > 0 && prev.open[k]) k--;
  let end = Math.min(lines.length, bNew + 33);
  for (;;) {
    // Blanking the window's lines alone is exact up to `stop`: a line not open in the
    // window is not open in the text, and the lines before it depend only on text before it.
    const win = blankLines(lines.slice(k, end).join('\n'));
    let stop = -1;
    for (let l = bNew + 1; l < end; l++) {
      if (!win.open[l - k] && !prev.open[l - dl]) {
        stop = l;
        break;
      }
    }
    if (stop === -1) {
      if (end < lines.length) {
        end = Math.min(lines.length, k + 2 * (end - k));
        continue;
      }
      stop = lines.length;
    }
    const code = prev.code.slice(0, k).concat(win.code.slice(0, stop - k), prev.code.slice(stop - dl));
    const open = new Uint8Array(lines.length);
    open.set(prev.open.subarray(0, k));
    open.set(win.open.subarray(0, stop - k), k);
    open.set(prev.open.subarray(stop - dl), stop);
    return { code, open };
  }
}

/** Code of a function body (comments and literals blanked), lines joined with \n. */
export function bodyCode(idx: FileIndex, fn: FunctionDef): string {
  return codeLines(idx)
    .slice(fn.bodySpan.start, fn.bodySpan.end + 1)
    .join('\n');
}

export interface Use {
  name: string;
  /** 0-based line in the image. */
  line: number;
  /** Regex groups after the name (e.g. a key argument). */
  groups: string[];
}

/** Matches of `re` (global; group 1 = name) in a function's body, with image lines. */
export function usesIn(idx: FileIndex, fn: FunctionDef, re: RegExp): Use[] {
  const out: Use[] = [];
  const lines = codeLines(idx);
  for (let l = fn.bodySpan.start; l <= fn.bodySpan.end && l < lines.length; l++) {
    re.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(lines[l]))) {
      out.push({ name: m[1], line: l, groups: m.slice(2).map((g) => g ?? '') });
      if (m[0].length === 0) re.lastIndex++;
    }
  }
  return out;
}

export function countWord(code: string, word: string): number {
  return (code.match(new RegExp(`\\b${escapeRegExp(word)}\\b`, 'g')) ?? []).length;
}

/** Identifiers of a C fragment with string and char literals removed. */
export function codeIdentifiers(text: string): string[] {
  // Block comments may span lines; a // comment ends at its own line.
  const stripped = text.replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g, ' ').replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, ' ');
  return stripped.match(/[A-Za-z_]\w*/g) ?? [];
}

const wordPositions = new WeakMap<FileIndex, Map<string, number[]>>();

/**
 * The functions of `index` (in its order) whose body text has `word` as a whole word:
 * every function that calls `word` or names it, since the indexer reads a body's calls
 * and identifiers as [A-Za-z_]\w* words of that text (here comments and strings count
 * too: more, never fewer). Lets a rule read the calls of a few functions instead of all
 * of a 10,000-line file. A word that is not a plain identifier gets every function.
 */
export function functionsNaming(index: FileIndex, word: string): FunctionDef[] {
  if (!/^[A-Za-z_]\w*$/.test(word)) return index.functions;
  let byWord = wordPositions.get(index);
  if (!byWord) wordPositions.set(index, (byWord = new Map()));
  let hits = byWord.get(word);
  if (!hits) {
    hits = [];
    const re = new RegExp(`\\b${word}\\b`, 'g');
    for (let m = re.exec(index.text); m; m = re.exec(index.text)) hits.push(m.index);
    byWord.set(word, hits);
  }
  const at = hits;
  return index.functions.filter((f) => {
    // The first hit at or after the body's start.
    let lo = 0;
    let hi = at.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (at[mid] < f.bodySpan.startByte) lo = mid + 1;
      else hi = mid;
    }
    return lo < at.length && at[lo] < f.bodySpan.endByte;
  });
}

const WORD = /[\w$]/;
// How far back from a name `before` may reach: a call or initialiser and its spacing.
const BEFORE_WINDOW = 512;

/**
 * The first place in `text` where the whole identifier `name` comes right after what
 * `before` (anchored at its end with `$`) matches, as the match of `before`. Finds what
 * a global scan for `before` followed by any name finds for this name (unless the name
 * follows a match whose own name is a keyword of `before`: `kthread_run(kthread_run(fn`),
 * reading only the name's occurrences: a rule that asks about the few functions a patch
 * changes need not scan a 400 KB file on every keystroke.
 */
export function firstAfter(text: string, name: string, before: RegExp): { index: number; match: RegExpExecArray } | null {
  for (let at = text.indexOf(name); at !== -1; at = text.indexOf(name, at + 1)) {
    if (WORD.test(text[at - 1] ?? '') || WORD.test(text[at + name.length] ?? '')) continue;
    const from = Math.max(0, at - BEFORE_WINDOW);
    const m = before.exec(text.slice(from, at));
    // A match at the window's start must not continue a word that the window cut.
    if (m && (m.index > 0 || from === 0 || !WORD.test(text[from - 1]))) return { index: from + m.index, match: m };
  }
  return null;
}

/** `name` as a whole C identifier (`$` counts as an identifier character, as gcc allows). */
export function wordRe(name: string, flags = ''): RegExp {
  return new RegExp(`(?<![\\w$])${escapeRegExp(name)}(?![\\w$])`, flags);
}

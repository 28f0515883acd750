// C code as text for rule heuristics: comments and literals blanked, identifiers, word matches.

import type { FileIndex, FunctionDef } from '../../model';
import { escapeRegExp, firstAtLeast } from '../../util/text';
import { lineOf, lineStartOf } from '../../index/indexer';

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
 * Lines [fn.bodySpan.start, fn.bodySpan.end] with comments and literals blanked, by blanking
 * the function alone: its first token is code, never inside a comment or a literal, so from
 * there its text blanks as it would in the whole file, and a check of one changed function
 * need not blank a 10,000-line file. Text that shares its first or last line is spaces.
 */
function bodyCodeLines(idx: FileIndex, fn: FunctionDef): string[] {
  const first = fn.span.start;
  const lines: string[] = [];
  for (let l = first; l <= fn.bodySpan.end; l++) lines.push(lineOf(idx, l) ?? '');
  // What shares the function's first line before it, or its last line after it, is not the function's.
  const before = fn.span.startByte - lineStartOf(idx, first);
  if (before > 0) lines[0] = ' '.repeat(before) + lines[0].slice(before);
  const last = lines.length - 1;
  const upTo = fn.bodySpan.endByte - lineStartOf(idx, fn.bodySpan.end);
  if (upTo < lines[last].length) lines[last] = lines[last].slice(0, upTo) + ' '.repeat(lines[last].length - upTo);
  return codeOnly(lines.join('\n'))
    .split('\n')
    .slice(fn.bodySpan.start - first);
}

/** Code of a function body (comments and literals blanked), lines joined with \n. */
export function bodyCode(idx: FileIndex, fn: FunctionDef): string {
  return bodyCodeLines(idx, fn).join('\n');
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
  const lines = bodyCodeLines(idx, fn);
  for (let i = 0; i < lines.length; i++) {
    const l = fn.bodySpan.start + i;
    re.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(lines[i]))) {
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
    const i = firstAtLeast(at, f.bodySpan.startByte);
    return i < at.length && at[i] < f.bodySpan.endByte;
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

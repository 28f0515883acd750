// C code as text for rule heuristics: comments and literals blanked, identifiers, word matches.

import type { FileIndex, FunctionDef } from '../../model';
import { escapeRegExp } from '../../util/text';

/** Same-length copy of C text with comments, string and char literals replaced by spaces (newlines kept). */
export function codeOnly(text: string): string {
  // One regex pass: the regex engine is far faster than a character loop on 400 KB files.
  return text.replace(CODE_ONLY_RE, (m: string) => {
    if (m[0] === '/') return m.replace(/[^\n]/g, ' ');
    // Keep the quotes, blank the contents.
    const q = m[0];
    const closed = m.length > 1 && m[m.length - 1] === q && !/\\$/.test(m.slice(0, -1).replace(/\\\\/g, ''));
    const inner = m.slice(1, closed ? -1 : undefined).replace(/[^\n]/g, ' ');
    return q + inner + (closed ? q : '');
  });
}

const CODE_ONLY_RE = /\/\*[\s\S]*?(?:\*\/|$(?![\s\S]))|\/\/[^\n]*|"(?:[^"\\\n]|\\[\s\S])*"?|'(?:[^'\\\n]|\\[\s\S])*'?/g;

const codeLinesCache = new WeakMap<FileIndex, string[]>();

/** The index's lines with comments and literals blanked. */
export function codeLines(idx: FileIndex): string[] {
  let lines = codeLinesCache.get(idx);
  if (!lines) {
    lines = codeOnly(idx.lines.join('\n')).split('\n');
    codeLinesCache.set(idx, lines);
  }
  return lines;
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

/** `name` as a whole C identifier (`$` counts as an identifier character, as gcc allows). */
export function wordRe(name: string, flags = ''): RegExp {
  return new RegExp(`(?<![\\w$])${escapeRegExp(name)}(?![\\w$])`, flags);
}

// Helpers for the text-level rules (line-macro, no-functional-change,
// unsupported-file, code-removal, printk-cold, special-data-section,
// data-semantic, new-global-data): C token streams, hunk line deltas, and how
// __LINE__ reaches a function's code.

import type { FileIndex, FunctionDef } from '../model';
import type { FileChange } from './rule';
import type { Hunk } from '../diff/readPatch';
import { LINE_ARGUMENT_MACROS, LINE_MACROS } from '../index/attributes';

// Longest first: C's maximal munch decides what `a+ +b` vs `a++b` mean.
const PUNCTUATORS = [
  '>>=', '<<=', '...', '->', '++', '--', '<<', '>>', '<=', '>=', '==', '!=', '&&', '||',
  '*=', '/=', '%=', '+=', '-=', '&=', '^=', '|=', '##',
];
const PUNCT3 = new Set(PUNCTUATORS.filter((p) => p.length === 3));
const PUNCT2 = new Set(PUNCTUATORS.filter((p) => p.length === 2));

/**
 * The token stream of a C text: comments and whitespace dropped, but the end of
 * every preprocessor directive kept (a newline ends `#define`), and a marker for
 * function-like macro heads (`#define f(x)` is not `#define f (x)`). Two texts
 * with equal streams compile alike, up to __LINE__.
 */
export function cTokens(text: string): string[] {
  const out: string[] = [];
  const n = text.length;
  let atLineStart = true;
  let inDirective = false;
  let directiveStart = 0;
  let i = 0;
  const isWord = (c: string) => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c === '_';
  while (i < n) {
    const c = text[i];
    if (c === '\n') {
      if (inDirective) out.push('<eol>');
      inDirective = false;
      atLineStart = true;
      i++;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v') {
      i++;
      continue;
    }
    if (c === '\\' && (text[i + 1] === '\n' || (text[i + 1] === '\r' && text[i + 2] === '\n'))) {
      i += text[i + 1] === '\n' ? 2 : 3;
      continue;
    }
    if (c === '/' && text[i + 1] === '*') {
      const e = text.indexOf('*/', i + 2);
      // A comment spanning lines inside a directive does not end it; keep it simple: skip.
      i = e < 0 ? n : e + 2;
      continue;
    }
    if (c === '/' && text[i + 1] === '/') {
      const e = text.indexOf('\n', i);
      i = e < 0 ? n : e;
      continue;
    }
    if (c === '#' && atLineStart) {
      inDirective = true;
      atLineStart = false;
      directiveStart = out.length;
      out.push('#');
      i++;
      continue;
    }
    atLineStart = false;
    if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < n && text[j] !== c && text[j] !== '\n') j += text[j] === '\\' ? 2 : 1;
      out.push(text.slice(i, Math.min(j + 1, n)));
      i = j + 1;
      continue;
    }
    if (isWord(c) || (c === '.' && text[i + 1] >= '0' && text[i + 1] <= '9')) {
      let j = i + 1;
      const number = !(isWord(c) && !(c >= '0' && c <= '9'));
      while (j < n) {
        const d = text[j];
        if (isWord(d) || (number && d === '.')) j++;
        else if (number && (d === '+' || d === '-') && /[eEpP]/.test(text[j - 1])) j++;
        else break;
      }
      out.push(text.slice(i, j));
      // `#define NAME(` with no space: a function-like macro.
      if (inDirective && out.length - directiveStart === 3 && out[directiveStart + 1] === 'define' && text[j] === '(') {
        out.push('<fn-like>');
      }
      i = j;
      continue;
    }
    const three = text.substr(i, 3);
    const p = PUNCT3.has(three) ? three : PUNCT2.has(three.slice(0, 2)) ? three.slice(0, 2) : c;
    out.push(p);
    i += p.length;
  }
  return out;
}

export function sameTokens(a: string, b: string): boolean {
  const x = cTokens(a);
  const y = cTokens(b);
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

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

export type LineKind = 'argument' | 'bugtable';

/** Identifiers of a C fragment with string and char literals removed. */
export function codeIdentifiers(text: string): string[] {
  // Block comments may span lines; a // comment ends at its own line.
  const stripped = text.replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g, ' ').replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, ' ');
  return stripped.match(/[A-Za-z_]\w*/g) ?? [];
}

/**
 * Names that bring __LINE__ into code, and how: the engine's LINE_MACROS plus
 * macros defined in the given files that expand to one of them (e.g. a driver's
 * `#define foo_err(...) __foo_err(__func__, __LINE__, ...)`).
 */
export function lineMacroKinds(indexes: (FileIndex | null)[], config: Map<string, string> | null = null): Map<string, LineKind> {
  const base = new Map<string, LineKind>();
  for (const m of LINE_MACROS) base.set(m, LINE_ARGUMENT_MACROS.has(m) ? 'argument' : 'bugtable');
  const kinds = adjustForConfig(base, config);
  const macros = indexes.flatMap((i) => i?.macros ?? []).filter((m) => m.body.length > 0);
  const bodies = macros.map((m) => ({ name: m.name, ids: new Set(codeIdentifiers(m.body)) }));
  for (let round = 0, changed = true; changed && round < 5; round++) {
    changed = false;
    for (const m of bodies) {
      if (kinds.get(m.name) === 'argument') continue;
      let k: LineKind | undefined;
      for (const id of m.ids) {
        const kk = id === m.name ? undefined : kinds.get(id);
        if (kk === 'argument') {
          k = 'argument';
          break;
        }
        if (kk) k = 'bugtable';
      }
      if (k && kinds.get(m.name) !== k) {
        kinds.set(m.name, k);
        changed = true;
      }
    }
  }
  return kinds;
}

/**
 * What the kernel configuration does to those macros, when the tree has a
 * .config: might_sleep() passes __LINE__ only with CONFIG_DEBUG_ATOMIC_SLEEP,
 * might_fault() also with CONFIG_PROVE_LOCKING, and the lockdep assertions are
 * empty without CONFIG_LOCKDEP. In 6.1 lockdep_assert_held() is a WARN_ON, never
 * an argument (include/linux/lockdep.h), whatever the config.
 */
export function adjustForConfig(kinds: Map<string, LineKind>, config: Map<string, string> | null): Map<string, LineKind> {
  const out = new Map(kinds);
  for (const name of ['lockdep_assert_held', 'lockdep_assert_held_write', 'lockdep_assert_held_read']) {
    if (out.get(name) === 'argument') out.set(name, 'bugtable');
  }
  if (!config) return out;
  const on = (k: string) => config.has(k) && config.get(k) !== 'n';
  if (!on('CONFIG_DEBUG_ATOMIC_SLEEP')) {
    out.delete('might_sleep');
    out.delete('might_sleep_if');
    if (!on('CONFIG_PROVE_LOCKING')) out.delete('might_fault');
  }
  if (!on('CONFIG_LOCKDEP')) for (const name of [...out.keys()]) if (/^lockdep_assert/.test(name)) out.delete(name);
  return out;
}

export interface LineUse {
  name: string;
  line: number;
  kind: LineKind;
}

/** Where __LINE__ enters a function: `__LINE__` itself and calls of line macros. */
export function lineUsesOf(fn: FunctionDef, kinds: Map<string, LineKind>): LineUse[] {
  const out: LineUse[] = [];
  for (const u of fn.lineMacroUses) if (u.name === '__LINE__') out.push({ ...u, kind: 'argument' });
  for (const c of fn.calls) {
    const k = kinds.get(c.name);
    if (k) out.push({ ...c, kind: k });
  }
  return out.sort((a, b) => a.line - b.line);
}

/** "a(), b() and 3 more". */
export function listNames(names: string[], cap = 5): string {
  const shown = names.slice(0, cap);
  const rest = names.length - shown.length;
  if (rest > 0) return `${shown.join(', ')} and ${rest} more`;
  if (shown.length <= 1) return shown.join('');
  return `${shown.slice(0, -1).join(', ')} and ${shown[shown.length - 1]}`;
}

export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}

/** True when the post-image line lies in a function the patch changes or adds. */
export function inChangedFunction(fc: FileChange, postLine: number): boolean {
  return fc.pairing.functions.some(
    (c) => c.new && (c.kind === 'body' || c.kind === 'signature' || c.kind === 'added') &&
      c.new.span.start <= postLine && postLine <= c.new.span.end,
  );
}

/** Line-macro names a line of code uses: `__LINE__` and calls of known line macros. */
export function lineUsesInText(text: string, kinds: Map<string, LineKind>): string[] {
  const code = text.replace(/\/\*.*?\*\/|\/\/.*$/g, ' ').replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, ' ');
  const out: string[] = [];
  for (const m of code.matchAll(/\b([A-Za-z_]\w*)\b(\s*\()?/g)) {
    if (m[1] === '__LINE__' || (m[2] && kinds.has(m[1]))) out.push(m[1]);
  }
  return out;
}

/** The post-image line where a removed pre-image line used to be (the line that now follows it). */
export function postLineOfRemoval(fc: FileChange, preLine: number): number | null {
  for (const pl of fc.maps.placements) {
    let p = pl.preStart;
    let q = pl.postStart;
    for (const l of pl.hunk.lines) {
      if (l.op === '-' && p === preLine) return q;
      if (l.op !== '+') p++;
      if (l.op !== '-') q++;
    }
  }
  return null;
}

const LINE_DIRECTIVE = /^\s*#\s*(?:line\s+)?(\d+)(?:\s+"[^"]*")?\s*$/;

/** The number a `#line N` (or `# N "file"`) directive gives the next line, or null. */
export function lineDirective(text: string): number | null {
  const m = LINE_DIRECTIVE.exec(text);
  return m ? Number(m[1]) : null;
}

/**
 * __LINE__ value (1-based) of each 0-based line, honouring `#line` directives;
 * identity (l + 1) when the file has none.
 */
export function logicalLines(index: FileIndex): (line: number) => number {
  if (!/^\s*#\s*(?:line\s+)?\d/m.test(index.text)) return (l) => l + 1;
  const map = new Int32Array(index.lines.length);
  let next = 1;
  for (let i = 0; i < index.lines.length; i++) {
    map[i] = next;
    const n = lineDirective(index.lines[i]);
    next = n !== null ? n : next + 1;
  }
  return (l) => (l >= 0 && l < map.length ? map[l] : l + 1);
}

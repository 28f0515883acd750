// The compiler's view of a file (issue 13 §2): what the preprocessor made of it, read from
// `gcc -E` output. Tree-sitter on the raw source is the fast first answer; this view
// confirms or corrects it where macros hide the meaning: attributes a defining macro adds
// (DEFINE_IDTENTRY* makes a function noinstr), static-call keys made by token pasting
// (KVM_X86_OP(x) -> __SCK__kvm_x86_x) and the namespaces of exports. Pure: running the
// preprocessor lives in server/src/build/preprocess.ts; this reads its text.

import { posix } from 'node:path';
import type { FileIndex, FunctionDef } from '../model';
import { withAttributes } from '../index/indexer';

export interface ExpandedFunction {
  name: string;
  /** 0-based line in the source file the line markers name for the definition's head. */
  line: number;
  /** gcc attribute names, without underscores: section, no_instrument_function, noinline, cold... */
  gccAttributes: string[];
  /** `__attribute__((section("...")))`, when the head has one. */
  section: string | null;
  isStatic: boolean;
  isInline: boolean;
}

export interface ExpandedView {
  /** The tree-relative file that was preprocessed. */
  path: string;
  /** Function definitions written in `path` itself (macro expansions included), in order. */
  functions: ExpandedFunction[];
  /** Static-call keys this object defines (`struct static_call_key __SCK__<key> = ...`), with where (marker file and line). */
  staticCallKeys: Map<string, { file: string; line: number }>;
  /** Exports of this object: symbol -> namespace ('' for none), GPL-only or not, and where. */
  exports: Map<string, { namespace: string; gpl: boolean; file: string; line: number }>;
}

const MARKER = /^# (\d+) "((?:[^"\\]|\\.)*)"/;

/** Lines of the preprocessed text with the source file and 0-based line each came from. */
function* sourceLines(iText: string): Generator<{ text: string; file: string; line: number }> {
  let file = '';
  let line = 0;
  let start = 0;
  while (start <= iText.length) {
    let end = iText.indexOf('\n', start);
    if (end < 0) end = iText.length;
    const text = iText.slice(start, end);
    start = end + 1;
    if (text.startsWith('# ')) {
      const m = MARKER.exec(text);
      if (m) {
        file = m[2];
        line = Number(m[1]) - 1;
        continue;
      }
    }
    yield { text, file, line };
    line++;
    if (end === iText.length) break;
  }
}

const KEYWORDS = new Set([
  'if',
  'while',
  'for',
  'switch',
  'return',
  'sizeof',
  '__typeof__',
  'typeof',
  '__attribute__',
  'asm',
  '__asm__',
  '__asm',
  '_Static_assert',
  '__builtin_offsetof',
]);

/** `__attribute__((a, b(x)))` groups of a head: their attribute names and a section, and the head without them. */
function attributesOf(head: string): { names: string[]; section: string | null; rest: string } {
  const names: string[] = [];
  let section: string | null = null;
  let rest = '';
  let i = 0;
  while (i < head.length) {
    const m = /^(?:__attribute__|__attribute)\s*\(\s*\(/.exec(head.slice(i));
    if (!m || (i > 0 && /\w/.test(head[i - 1]))) {
      rest += head[i++];
      continue;
    }
    // The group's extent: from the outer "(" to its ")".
    let depth = 0;
    let j = i + head.slice(i).indexOf('(');
    const open = j;
    for (; j < head.length; j++) {
      if (head[j] === '(') depth++;
      else if (head[j] === ')' && --depth === 0) break;
      else if (head[j] === '"') j = skipString(head, j);
    }
    const inner = head.slice(open + 2, j - 1);
    for (const part of splitTop(inner)) {
      const n = /^\s*(\w+)/.exec(part)?.[1];
      if (!n) continue;
      const name = n.replace(/^__(.*)__$/, '$1');
      names.push(name);
      if (name === 'section') section = /"((?:[^"\\]|\\.)*)"/.exec(part)?.[1] ?? section;
    }
    rest += ' ';
    i = j + 1;
  }
  return { names, section, rest };
}

function skipString(s: string, i: number): number {
  for (let j = i + 1; j < s.length; j++) {
    if (s[j] === '\\') j++;
    else if (s[j] === '"') return j;
  }
  return s.length;
}

/** Splits at commas outside parentheses and strings. */
function splitTop(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '"') {
      const e = skipString(s, i);
      cur += s.slice(i, e + 1);
      i = e;
      continue;
    }
    if (c === '(') depth++;
    else if (c === ')') depth--;
    if (c === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  if (cur.trim()) out.push(cur);
  return out;
}

/** The declarator name of a function head (attributes removed), or null when the head is not a function's. */
function functionName(rest: string): string | null {
  // Parameters close the head: "name(params)" at depth 0, possibly after pointer stars.
  let depth = 0;
  for (let i = 0; i < rest.length; i++) {
    const c = rest[i];
    if (c === '(') {
      if (depth === 0) {
        const m = /([A-Za-z_]\w*)\s*$/.exec(rest.slice(0, i));
        if (m && !KEYWORDS.has(m[1])) return m[1];
        if (!m) return null; // "(*fp)(...)": a pointer, not a definition we name
      }
      depth++;
    } else if (c === ')') depth--;
    else if (c === '=' && depth === 0) return null; // an initialiser: data
  }
  return null;
}

/**
 * Reads `gcc -E` output of `path`. Only what `path` itself contributes is kept (line markers
 * say which lines are its own), except static-call keys and exports, which belong to the
 * object wherever the macro that defines them was written (a header included by `path`).
 */
export function readExpanded(iText: string, path: string, tree?: string): ExpandedView {
  // Marker names of the tree's own headers, tree-relative (gcc writes them as it found them).
  const where = (file: string): string => {
    if (!tree || !file.startsWith(`${tree}/`)) return file;
    return posix.normalize(file.slice(tree.length + 1));
  };
  const view: ExpandedView = { path, functions: [], staticCallKeys: new Map(), exports: new Map() };
  // Top-level scan over the file's own lines: heads end at "{" at depth 0.
  let depth = 0;
  let head = '';
  let headLine = -1;
  for (const { text, file, line } of sourceLines(iText)) {
    if (text.includes('__SCK__')) {
      for (const m of text.matchAll(/\bstruct\s+static_call_key\s+__SCK__(\w+)\s*=/g))
        if (!view.staticCallKeys.has(m[1])) view.staticCallKeys.set(m[1], { file: where(file), line });
    }
    if (text.includes('__kstrtab')) {
      // 6.1's ___EXPORT_SYMBOL: "__kstrtabns_" "sym" ":" ... ".asciz \"" "NS" "\"", then "___ksymtab" "_gpl" "+" "sym".
      for (const m of text.matchAll(/"__kstrtabns_" "(\w+)" ":[^"]*"\s*"[^"]*\.asciz[^"]*\\"" "(\w*)"/g)) {
        const gpl = new RegExp(`"___ksymtab" "_gpl" "\\+" "${m[1]}"`).test(text);
        view.exports.set(m[1], { namespace: m[2], gpl, file: where(file), line });
      }
    }
    if (file !== path) continue;
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (c === '"' || c === "'") {
        // Strings and character constants hold no braces that count; a head keeps them (section names).
        const from = i;
        for (i++; i < text.length && text[i] !== c; i++) if (text[i] === '\\') i++;
        if (depth === 0) head += text.slice(from, i + 1);
        continue;
      }
      if (depth === 0) {
        if (c === '{') {
          const a = attributesOf(head);
          const name = functionName(a.rest);
          if (name && !/\b(?:struct|union|enum)\s+\w*\s*$/.test(a.rest.trim()) && !/\btypedef\b/.test(a.rest)) {
            view.functions.push({
              name,
              line: headLine < 0 ? line : headLine,
              gccAttributes: a.names,
              section: a.section,
              isStatic: /\bstatic\b/.test(a.rest),
              isInline: /\b(?:__inline__|__inline|inline)\b/.test(a.rest),
            });
          }
          head = '';
          headLine = -1;
          depth = 1;
          continue;
        }
        if (c === ';' || c === '}') {
          head = '';
          headLine = -1;
          continue;
        }
        if (headLine < 0 && /\S/.test(c)) headLine = line;
        head += c;
        // The name's own line: macro heads put all on the macro's line anyway.
        if (c === '(' && headLine >= 0) {
          const m = /([A-Za-z_]\w*)\s*\($/.exec(head);
          if (m && !KEYWORDS.has(m[1]) && !/__attribute__$/.test(m[1])) headLine = Math.max(headLine, line);
        }
      } else if (c === '{') depth++;
      else if (c === '}') depth--;
    }
    if (depth === 0) head += ' ';
  }
  return view;
}

/** Section -> the attribute macro the rules know it by (x86-64 6.1). */
const SECTION_MACRO: Record<string, string> = {
  '.noinstr.text': 'noinstr',
  '.init.text': '__init',
  '.exit.text': '__exit',
  '.meminit.text': '__meminit',
  '.ref.text': '__ref',
  '.head.text': '__head',
  '.sched.text': '__sched',
  '.spinlock.text': '__lockfunc',
  '.cpuidle.text': '__cpuidle',
  '.irqentry.text': '__irq_entry',
  '.softirqentry.text': '__softirq_entry',
  '.kprobes.text': '__kprobes',
};

/** The attribute macros the expansion of `f` shows, as the index names them. */
export function expandedAttributes(f: ExpandedFunction): string[] {
  const out: string[] = [];
  if (f.section) out.push(SECTION_MACRO[f.section] ?? `__section("${f.section}")`);
  // The kernel's `inline` carries notrace, __init carries __cold, noinstr carries noinline and
  // notrace: implied by what the raw view already names, so not added again.
  if (f.gccAttributes.includes('no_instrument_function') && f.section !== '.noinstr.text' && !f.isInline) out.push('notrace');
  if (f.gccAttributes.includes('noinline') && f.section !== '.noinstr.text') out.push('noinline');
  if (f.gccAttributes.includes('cold') && !/^\.(?:init|exit|meminit|ref|head)\.text$/.test(f.section ?? '')) out.push('__cold');
  return out;
}

/** Attribute macros whose meaning is a section or notrace: what the expansion decides. */
const DECIDED = new Set([...Object.values(SECTION_MACRO), 'notrace', '__no_instrument_function', '__section']);

/**
 * The index with each function's section and notrace attributes as the preprocessor shows
 * them: added where a macro hid them (DEFINE_IDTENTRY_RAW(f) -> noinstr), dropped where a
 * macro the raw head names expands to nothing for this configuration. Functions the view
 * does not define once by that name keep the raw answer. A new index: the caller's cached
 * one is not touched.
 */
export function applyExpanded(index: FileIndex, view: ExpandedView): FileIndex {
  const byName = new Map<string, ExpandedFunction | null>();
  for (const f of view.functions) byName.set(f.name, byName.has(f.name) ? null : f);
  let changed = false;
  const functions = index.functions.map((fn): FunctionDef => {
    const e = byName.get(fn.name);
    if (!e) return fn;
    const shown = expandedAttributes(e);
    const kept = fn.attributes.filter(
      (a) => !DECIDED.has(a) || shown.includes(a) || (a === '__no_instrument_function' && shown.includes('notrace')),
    );
    const added = shown.filter((a) => !kept.includes(a) && !(a === 'notrace' && kept.includes('__no_instrument_function')));
    if (!added.length && kept.length === fn.attributes.length) return fn;
    changed = true;
    return withAttributes(fn, [...kept, ...added], { added, dropped: fn.attributes.filter((a) => !kept.includes(a)) });
  });
  return changed ? { ...index, functions } : index;
}

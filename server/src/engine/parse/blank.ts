// Same-length rewriting of kernel C before tree-sitter sees it.
//
// tree-sitter-c does not know the kernel's annotation macros, iterator macros or
// SYSCALL_DEFINEn, and misnames or swallows functions around them. We rewrite the
// text without changing its length or its newlines, so every byte offset and
// (row, column) of the parse maps 1:1 onto the original; node text is always
// read from the original string.

import { words } from '../util/text';

/** Object-like macros that only annotate (attributes, sections, sparse). */
export const ANNOTATION_MACROS = [
  // init.h
  ...words(`
    __init __exit __initdata __initconst __exitdata __exit_call __meminit __meminitdata __meminitconst
    __init_or_module __initdata_or_module __ref __refdata __refconst __head __cpuinit __cpuinitdata
    __devinit __devexit
  `),
  // compiler*.h, linkage.h
  ...words(`
    notrace noinstr __always_inline __noinline noinline noinline_for_stack __cold __hot __noreturn
    __weak __pure __const __must_check __maybe_unused __always_unused __used __visible __flatten __naked
    __packed __deprecated __malloc __no_kcsan __no_sanitize_address __no_kasan_or_inline
    __no_sanitize_or_inline __no_stack_protector __no_instrument_function __noinstr_section __nocfi
    __noclone __nostackprotector __fix_address __attribute_const__ asmlinkage __visible fastcall __sched
    __lockfunc __cpuidle __irq_entry __softirq_entry __kprobes nokprobe_inline __inline_maybe_unused
    __gnu_inline __randomize_layout __no_randomize_layout __latent_entropy __nocapture __ro_after_init
    __read_mostly __cacheline_aligned __cacheline_aligned_in_smp ____cacheline_aligned
    ____cacheline_aligned_in_smp ____cacheline_internodealigned_in_smp __page_aligned_data
    __page_aligned_bss __percpu __always_unused __safe __nonstring __counted_by __bpf_kfunc __sysfs_ro
    __aligned_largest __tracepoint_string __cficanonical __nosavedata __init_memblock
    __meminit_or_module __weak_alias __no_profile __noscs __no_sanitize_thread __no_sanitize_undefined
  `),
  // net_namespace.h: empty with CONFIG_NET_NS, __init and friends without it
  ...words(`
    __net_init __net_exit __net_initdata __net_initconst
  `),
  // sparse
  ...words(`
    __user __kernel __iomem __rcu __force __nocast __bitwise __private __must_hold __acquire __release
    __cond_lock __safe __data_racy __percpu
  `),
];

/** Function-like attribute macros, blanked together with their balanced arguments. */
export const ANNOTATION_FUNCTION_MACROS = [
  ...words(`
    __printf __scanf __acquires __releases __must_hold __section __aligned __alias __assume_aligned
    __alloc_size __realloc_size __diag_ignore __cleanup __nonnull __counted_by __designated_init
    __malloc __no_sanitize __symver __retain __attribute_format __cond_acquires __cond_releases
    __guarded_by __pt_guarded_by
  `),
];

const annotationSet = new Set(ANNOTATION_MACROS);
const annotationFnSet = new Set(ANNOTATION_FUNCTION_MACROS);

/** `list_for_each_entry(...)`, `for_each_online_cpu(...)`, `hash_for_each_possible(...)`... */
const ITERATOR_RE = /^(?:[a-z0-9_]*for_each[a-z0-9_]*|radix_tree_for_each_\w+|xa_for_each\w*|idr_for_each_entry\w*)$/;
const SYSCALL_RE = /^(?:(?:COMPAT_|KPATCH_|KLP_)?SYSCALL(?:32)?_DEFINE([0-6])|(?:NOTRACE_)?BPF_CALL_([0-5]))$/;
const PER_CPU_RE = /^DEFINE_PER_CPU(?:_[A-Z_]+)?$/;
/** `do_each_thread(g, t) { ... } while_each_thread(g, t);` and the pid/subsys variants. */
const DO_EACH_RE = /^do_each_\w+$/;
const WHILE_EACH_RE = /^while_each_\w+$/;
const CONDITIONAL_RE = /^#\s*(?:if|ifdef|ifndef|elif|elifdef|elifndef|else|endif)\b/;

function isIdentChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95;
}

/** Index of the `)` matching the `(` at `open`, or -1. Skips strings, chars and comments. */
export function matchParen(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const ch = text[i];
    if (ch === '(') depth++;
    else if (ch === ')') {
      depth--;
      if (depth === 0) return i;
    } else if (ch === '"' || ch === "'") {
      i = skipQuoted(text, i);
    } else if (ch === '/' && text[i + 1] === '*') {
      const e = text.indexOf('*/', i + 2);
      if (e < 0) return -1;
      i = e + 1;
    } else if (ch === '/' && text[i + 1] === '/') {
      const e = text.indexOf('\n', i);
      if (e < 0) return -1;
      i = e;
    }
  }
  return -1;
}

function skipQuoted(text: string, i: number): number {
  const q = text[i];
  for (let j = i + 1; j < text.length; j++) {
    const c = text[j];
    if (c === '\\') j++;
    else if (c === q || c === '\n') return j;
  }
  return text.length - 1;
}

/**
 * The top-level comma-separated pieces of text(open, close) (exclusive): a macro's or a
 * call's arguments, with nested brackets and quoted literals kept whole. Unnormalised.
 */
export function splitTopLevel(text: string, open: number, close: number): string[] {
  const out: string[] = [];
  let start = open + 1;
  for (const c of topLevelCommas(text, open, close)) {
    out.push(text.slice(start, c));
    start = c + 1;
  }
  out.push(text.slice(start, close));
  return out;
}

/** Top-level comma positions between `open` and `close` (exclusive). */
function topLevelCommas(text: string, open: number, close: number): number[] {
  const out: number[] = [];
  let depth = 0;
  for (let i = open + 1; i < close; i++) {
    const ch = text[i];
    if (ch === '(' || ch === '[' || ch === '{') depth++;
    else if (ch === ')' || ch === ']' || ch === '}') depth--;
    else if (ch === ',' && depth === 0) out.push(i);
    else if (ch === '"' || ch === "'") i = skipQuoted(text, i);
  }
  return out;
}

/** Comments, literals and identifiers, in one pass (the regex engine is much faster than a char loop). */
const TOKEN_RE = /\/\*[\s\S]*?(?:\*\/|$)|\/\/[^\n]*|"(?:[^"\\\n]|\\.)*"?|'(?:[^'\\\n]|\\.)*'?|[A-Za-z_]\w*|\n[ \t]*#|\n[{}]|[()]/g;

/**
 * TOKEN_RE with only the identifiers blank() can act on: the annotation macros, the
 * iterator, syscall, per-cpu and do/while_each names, and any word in column 0 followed
 * by `(` (a statement macro). Each is a whole word (nothing but a word character before
 * or after it), as TOKEN_RE's identifiers are once blank() drops those inside numbers.
 * Skipping the other identifiers changes nothing else: no other token can start inside
 * a word. A tenth of the matches on kernel files.
 */
const ACTIVE_TOKEN_RE = new RegExp(
  [
    String.raw`\/\*[\s\S]*?(?:\*\/|$)|\/\/[^\n]*|"(?:[^"\\\n]|\\.)*"?|'(?:[^'\\\n]|\\.)*'?`,
    String.raw`(?<!\w)(?=[A-Za-z_])(?:` +
      [
        ...new Set([...ANNOTATION_MACROS, ...ANNOTATION_FUNCTION_MACROS]),
        String.raw`[a-z0-9_]*for_each[a-z0-9_]*|radix_tree_for_each_\w+|xa_for_each\w*|idr_for_each_entry\w*`,
        String.raw`(?:COMPAT_|KPATCH_|KLP_)?SYSCALL(?:32)?_DEFINE[0-6]|(?:NOTRACE_)?BPF_CALL_[0-5]`,
        String.raw`DEFINE_PER_CPU(?:_[A-Z_]+)?|do_each_\w+|while_each_\w+`,
      ].join('|') +
      String.raw`)(?!\w)`,
    String.raw`(?<![^\n])[A-Za-z_]\w*(?=[ \t]*\()`,
    String.raw`\n[ \t]*#|\n[{}]|[()]`,
  ].join('|'),
  'g',
);

/** Same-length replacements collected during the scan, applied at the end. */
class Rewrites {
  readonly list: { start: number; end: number; text: string }[] = [];
  constructor(private readonly text: string) {}
  /** Replaces [from, to) with spaces, keeping newlines. */
  spaces(from: number, to: number): void {
    this.list.push({ start: from, end: to, text: this.text.slice(from, to).replace(/[^\n]/g, ' ') });
  }
  /** Replaces [from, from + s.length) with s. */
  put(from: number, s: string): void {
    this.list.push({ start: from, end: from + s.length, text: s });
  }
  apply(): string {
    if (!this.list.length) return this.text;
    this.list.sort((a, b) => a.start - b.start);
    let out = '';
    let at = 0;
    for (const r of this.list) {
      if (r.start < at) continue; // overlapping rewrite: the first one wins
      out += this.text.slice(at, r.start) + r.text;
      at = r.end;
    }
    return out + this.text.slice(at);
  }
}

/** Whitespace characters before `pos` on its line, or -1 when something else precedes it. */
function indentOf(text: string, pos: number): number {
  let n = 0;
  for (let i = pos - 1; i >= 0; i--) {
    const c = text[i];
    if (c === '\n') return n;
    if (c !== ' ' && c !== '\t') return -1;
    n++;
  }
  return n;
}

/** The first index at or after `pos` that is not a space, tab or line break. */
function skipSpace(text: string, pos: number): number {
  let q = pos;
  while (q < text.length && (text[q] === ' ' || text[q] === '\t' || text[q] === '\n' || text[q] === '\r')) q++;
  return q;
}

/** True when only spaces, tabs and a comment follow `pos` up to the end of its line. */
function restOfLineEmpty(text: string, pos: number): boolean {
  let i = pos;
  while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\r')) i++;
  if (i >= text.length || text[i] === '\n') return true;
  if (text[i] === '/' && text[i + 1] === '/') return true;
  if (text[i] === '/' && text[i + 1] === '*') {
    const e = text.indexOf('*/', i + 2);
    const nl = text.indexOf('\n', i);
    return e >= 0 && (nl < 0 || e < nl) && restOfLineEmpty(text, e + 2);
  }
  return false;
}

/**
 * A column-0 macro call used as a top-level statement without `;`, e.g.
 * `NOKPROBE_SYMBOL(f)`, `BTF_SET_END(ids)`, `postcore_initcall(f)`: tree-sitter
 * glues it onto the next definition. Returns the index of its `)`, or -1. It
 * must end its line and be followed by a blank line, a comment, a preprocessor
 * line, the end of the text or another such call, so a macro that is part of a
 * function head (`MACRO(x)` then `name(args)` then `{`) is never taken.
 */
function statementMacroAt(text: string, lineStart: number, memo: Map<number, number>): number {
  const cached = memo.get(lineStart);
  if (cached !== undefined) return cached;
  memo.set(lineStart, -1);
  let j = lineStart;
  while (j < text.length && isIdentChar(text.charCodeAt(j))) j++;
  if (j === lineStart || (text.charCodeAt(lineStart) >= 48 && text.charCodeAt(lineStart) <= 57)) return -1;
  let k = j;
  while (text[k] === ' ' || text[k] === '\t') k++;
  if (text[k] !== '(') return -1;
  // Not the last line of a multi-line #define (the previous line ends with `\`).
  if (lineStart >= 2) {
    let p = lineStart - 2;
    if (text[p] === '\r') p--;
    if (text[p] === '\\') return -1;
  }
  const close = matchParen(text, k);
  if (close < 0 || !restOfLineEmpty(text, close + 1)) return -1;
  const nl = text.indexOf('\n', close);
  const next = nl < 0 ? text.length : nl + 1;
  let ok = false;
  if (next >= text.length) ok = true;
  else {
    let q = next;
    while (q < text.length && (text[q] === ' ' || text[q] === '\t' || text[q] === '\r')) q++;
    const c = text[q];
    if (q >= text.length || c === '\n' || c === '#' || (c === '/' && (text[q + 1] === '*' || text[q + 1] === '/'))) ok = true;
    else if (q === next && isIdentChar(text.charCodeAt(q))) ok = statementMacroAt(text, next, memo) >= 0;
  }
  const result = ok ? close : -1;
  memo.set(lineStart, result);
  return result;
}

/**
 * The end (index of the newline, or text.length) of the preprocessor line at
 * `pos`, following `\` continuations and comments that span lines. `comments`
 * receives the [start, end) ranges of the block comments inside it.
 */
function directiveEnd(text: string, pos: number, comments: [number, number][]): number {
  const n = text.length;
  for (let i = pos; i < n; i++) {
    const ch = text[i];
    if (ch === '\n') return i;
    if (ch === '\\' && (text[i + 1] === '\n' || (text[i + 1] === '\r' && text[i + 2] === '\n'))) {
      i += text[i + 1] === '\r' ? 2 : 1;
    } else if (ch === '/' && text[i + 1] === '*') {
      const e = text.indexOf('*/', i + 2);
      const end = e < 0 ? n : e + 2;
      comments.push([i, end]);
      i = end - 1;
    } else if (ch === '/' && text[i + 1] === '/') {
      const e = text.indexOf('\n', i);
      return e < 0 ? n : e;
    } else if (ch === '"' || ch === "'") {
      const e = skipQuoted(text, i);
      if (text[e] === '\n') return e;
      i = e;
    }
  }
  return n;
}

/**
 * Rewrite kernel C so tree-sitter-c parses definitions correctly. The result has
 * exactly the length and the newlines of the input.
 */
export function blank(text: string): string {
  return blankWith(text, ACTIVE_TOKEN_RE);
}

/** blank() with TOKEN_RE, every identifier a token: the reference for the tests. */
export function blankEveryToken(text: string): string {
  return blankWith(text, TOKEN_RE);
}

function blankWith(text: string, tokens: RegExp): string {
  const rw = new Rewrites(text);
  const n = text.length;
  const memo = new Map<number, number>();
  const re = new RegExp(tokens.source, 'g');
  // Parenthesis depth of the code scanned so far (comments, literals and preprocessor lines excluded).
  let depth = 0;
  let m: RegExpExecArray | null;
  // A directive on the first line has no newline before it.
  const first = /^[ \t]*#/.exec(text);
  if (first) re.lastIndex = directive(first[0].length - 1);

  /** Handles the preprocessor line whose `#` is at `at`; returns where the scan resumes. */
  function directive(at: number): number {
    const comments: [number, number][] = [];
    const e = directiveEnd(text, at, comments);
    if (depth > 0 && CONDITIONAL_RE.test(text.slice(at, Math.min(e, at + 16)))) {
      // A conditional inside parentheses (`if (a &&\n#ifdef X\n b &&\n#endif\n c)`) is
      // something tree-sitter cannot place: blanking the directive keeps every branch as code.
      rw.spaces(at, e);
    } else if (comments.length && text.lastIndexOf('\n', e - 1) > at) {
      // tree-sitter ends a multi-line #define early at a comment before a `\`; comments are not code.
      for (const [a, b] of comments) rw.spaces(a, b);
    }
    return e;
  }

  while ((m = re.exec(text))) {
    const word = m[0];
    const c = word.charCodeAt(0);
    if (c === 40 /* ( */) {
      depth++;
      continue;
    }
    if (c === 41 /* ) */) {
      if (depth > 0) depth--;
      continue;
    }
    if (c === 10 /* \n */) {
      if (word.endsWith('#')) re.lastIndex = directive(m.index + word.length - 1);
      // A brace in column 0 starts or ends a top-level body: resynchronise.
      else depth = 0;
      continue;
    }
    if (c === 47 /* / */ || c === 34 /* " */ || c === 39 /* ' */) continue;
    const i = m.index;
    if (i > 0 && isIdentChar(text.charCodeAt(i - 1))) continue; // inside a number like 0x1fUL
    const j = i + word.length;
    let k = j;
    while (k < n && (text[k] === ' ' || text[k] === '\t')) k++;
    const hasArgs = text[k] === '(';
    if (hasArgs && annotationFnSet.has(word)) {
      // Before the object-like check: `__must_hold(x)` is in both lists.
      const close = matchParen(text, k);
      if (close > 0) {
        rw.spaces(i, close + 1);
        re.lastIndex = close + 1;
      }
      continue;
    }
    if (annotationSet.has(word)) {
      rw.spaces(i, j);
      continue;
    }
    if (!hasArgs) continue;
    const indent = indentOf(text, i);
    if (indent < 0) {
      if (PER_CPU_RE.test(word)) perCpu(i, k);
      else if (WHILE_EACH_RE.test(word)) whileEach(i, j, k);
      continue;
    }
    if (SYSCALL_RE.test(word) && rewriteSyscall(text, rw, i, k)) continue;
    if (indent === 0) {
      const close = statementMacroAt(text, i, memo);
      if (close > 0) {
        rw.spaces(i, close + 1);
        re.lastIndex = close + 1;
        continue;
      }
    } else if (word.length >= 5 && ITERATOR_RE.test(word)) {
      // An indented loop, not a call statement: what follows the `)` is not `;`.
      const close = matchParen(text, k);
      if (close > 0 && text[skipSpace(text, close + 1)] !== ';') rw.put(i, 'while' + ' '.repeat(word.length - 5));
      continue;
    } else if (DO_EACH_RE.test(word)) {
      // do_each_thread(g, t) {  ->  do                   {
      const close = matchParen(text, k);
      if (close > 0 && text[skipSpace(text, close + 1)] === '{') {
        rw.put(i, 'do' + text.slice(i + 2, close + 1).replace(/[^\n]/g, ' '));
        re.lastIndex = close + 1;
      }
      continue;
    }
    if (PER_CPU_RE.test(word)) perCpu(i, k);
  }
  return rw.apply();

  /** DEFINE_PER_CPU(type, name) -> type  name */
  function perCpu(i: number, k: number): void {
    const close = matchParen(text, k);
    const commas = close > 0 ? topLevelCommas(text, k, close) : [];
    if (commas.length === 1) {
      rw.spaces(i, k + 1);
      rw.put(commas[0], ' ');
      rw.put(close, ' ');
    }
  }

  /** } while_each_thread(g, t);  ->  } while             (g, t);   (`while(0)` without arguments) */
  function whileEach(i: number, j: number, k: number): void {
    let p = i - 1;
    while (p >= 0 && (text[p] === ' ' || text[p] === '\t')) p--;
    const close = matchParen(text, k);
    if (p < 0 || text[p] !== '}' || close < 0) return;
    if (text.slice(k + 1, close).trim() === '') {
      if (close + 1 - i >= 8) rw.put(i, 'while(0)' + text.slice(i + 8, close + 1).replace(/[^\n]/g, ' '));
      re.lastIndex = close + 1;
    } else {
      rw.put(i, 'while' + ' '.repeat(j - i - 5));
    }
  }
}

/**
 * SYSCALL_DEFINE3(open, const char __user *, filename, int, flags, umode_t, mode)
 * becomes
 * long            open(const char        *  filename, int  flags, umode_t  mode)
 */
function rewriteSyscall(text: string, rw: Rewrites, start: number, open: number): boolean {
  const close = matchParen(text, open);
  if (close < 0) return false;
  const commas = topLevelCommas(text, open, close);
  const nameEnd = commas.length ? commas[0] : close;
  const name = text.slice(open + 1, nameEnd).trim();
  if (!/^\w+$/.test(name)) return false;
  // Then type/argument pairs; an argument that is itself a macro call
  // (`compat_arg_u64_dual(offset)`) stands for whole parameters on its own.
  const bounds = [...commas, close];
  const joins: number[] = [];
  for (let a = 0; a + 1 < bounds.length; ) {
    const seg = text.slice(bounds[a] + 1, bounds[a + 1]);
    if (seg.includes('(')) {
      a++;
      continue;
    }
    if (a + 2 >= bounds.length) return false;
    joins.push(bounds[a + 1]);
    a += 2;
  }
  // Overwrite "MACRO(name," with "long<spaces>name(".
  const head = nameEnd + (commas.length ? 1 : 0) - start;
  const replacement = 'long' + ' '.repeat(Math.max(1, head - 4 - name.length - 1)) + name + '(';
  if (replacement.length !== head) {
    // Too short a macro/name combination to rewrite in place (cannot happen for real names).
    return false;
  }
  rw.put(start, replacement);
  // SYSCALL_DEFINE0(name) -> long name() : the ")" stays.
  for (const p of joins) rw.put(p, ' ');
  return true;
}

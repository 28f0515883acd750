// Same-length rewriting of kernel C before tree-sitter sees it.
//
// tree-sitter-c does not know the kernel's annotation macros, iterator macros or
// SYSCALL_DEFINEn, and misnames or swallows functions around them. We rewrite the
// text without changing its length or its newlines, so every byte offset and
// (row, column) of the parse maps 1:1 onto the original; node text is always
// read from the original string.

/** Object-like macros that only annotate (attributes, sections, sparse). */
export const ANNOTATION_MACROS = [
  // init.h
  '__init', '__exit', '__initdata', '__initconst', '__exitdata', '__exit_call', '__meminit', '__meminitdata',
  '__meminitconst', '__init_or_module', '__initdata_or_module', '__ref', '__refdata', '__refconst', '__head',
  '__cpuinit', '__cpuinitdata', '__devinit', '__devexit',
  // compiler*.h, linkage.h
  'notrace', 'noinstr', '__always_inline', '__noinline', 'noinline', 'noinline_for_stack', '__cold', '__hot',
  '__noreturn', '__weak', '__pure', '__const', '__must_check', '__maybe_unused', '__always_unused', '__used',
  '__visible', '__flatten', '__naked', '__packed', '__deprecated', '__malloc', '__no_kcsan', '__no_sanitize_address',
  '__no_kasan_or_inline', '__no_sanitize_or_inline', '__no_stack_protector', '__no_instrument_function',
  '__noinstr_section', '__nocfi', '__noclone', '__nostackprotector', '__fix_address', '__attribute_const__',
  'asmlinkage', '__visible', 'fastcall', '__sched', '__lockfunc', '__cpuidle', '__irq_entry', '__softirq_entry',
  '__kprobes', 'nokprobe_inline', '__inline_maybe_unused', '__gnu_inline', '__randomize_layout',
  '__no_randomize_layout', '__latent_entropy', '__nocapture', '__ro_after_init', '__read_mostly',
  '__cacheline_aligned', '__cacheline_aligned_in_smp', '____cacheline_aligned', '____cacheline_aligned_in_smp',
  '____cacheline_internodealigned_in_smp', '__page_aligned_data', '__page_aligned_bss', '__percpu',
  '__always_unused', '__safe', '__nonstring', '__counted_by', '__bpf_kfunc', '__sysfs_ro', '__aligned_largest',
  '__tracepoint_string', '__cficanonical', '__nosavedata', '__init_memblock', '__meminit_or_module',
  '__weak_alias', '__no_profile', '__noscs', '__no_sanitize_thread', '__no_sanitize_undefined',
  // sparse
  '__user', '__kernel', '__iomem', '__rcu', '__force', '__nocast', '__bitwise', '__private', '__must_hold',
  '__acquire', '__release', '__cond_lock', '__safe', '__data_racy', '__percpu',
];

/** Function-like attribute macros, blanked together with their balanced arguments. */
export const ANNOTATION_FUNCTION_MACROS = [
  '__printf', '__scanf', '__acquires', '__releases', '__must_hold', '__section', '__aligned', '__alias',
  '__assume_aligned', '__alloc_size', '__realloc_size', '__diag_ignore', '__cleanup', '__nonnull', '__counted_by',
  '__designated_init', '__malloc', '__no_sanitize', '__symver', '__retain', '__attribute_format',
  '__cond_acquires', '__cond_releases', '__guarded_by', '__pt_guarded_by',
];

const annotationSet = new Set(ANNOTATION_MACROS);
const annotationFnSet = new Set(ANNOTATION_FUNCTION_MACROS);

/** `list_for_each_entry(...)`, `for_each_online_cpu(...)`, `hash_for_each_possible(...)`... */
const ITERATOR_RE = /^(?:[a-z0-9_]*for_each[a-z0-9_]*|radix_tree_for_each_\w+|xa_for_each\w*|idr_for_each_entry\w*)$/;
const SYSCALL_RE = /^(?:(?:COMPAT_|KPATCH_|KLP_)?SYSCALL_DEFINE([0-6])|(?:NOTRACE_)?BPF_CALL_([0-5]))$/;
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
const TOKEN_RE = /\/\*[\s\S]*?(?:\*\/|$)|\/\/[^\n]*|"(?:[^"\\\n]|\\.)*"?|'(?:[^'\\\n]|\\.)*'?|[A-Za-z_]\w*/g;

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

/** True when only whitespace precedes `pos` on its line. */
function atLineStart(text: string, pos: number): boolean {
  for (let i = pos - 1; i >= 0; i--) {
    const c = text[i];
    if (c === '\n') return true;
    if (c !== ' ' && c !== '\t') return false;
  }
  return true;
}

/**
 * Rewrite kernel C so tree-sitter-c parses definitions correctly. The result has
 * exactly the length and the newlines of the input.
 */
export function blank(text: string): string {
  const rw = new Rewrites(text);
  const n = text.length;
  const re = new RegExp(TOKEN_RE.source, 'g');
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) {
    const word = m[0];
    const c = word.charCodeAt(0);
    if (c === 47 /* / */ || c === 34 /* " */ || c === 39 /* ' */) continue;
    const i = m.index;
    if (i > 0 && isIdentChar(text.charCodeAt(i - 1))) continue; // inside a number like 0x1fUL
    const j = i + word.length;
    if (annotationSet.has(word)) {
      rw.spaces(i, j);
      continue;
    }
    let k = j;
    while (k < n && (text[k] === ' ' || text[k] === '\t')) k++;
    if (text[k] !== '(') continue;
    if (annotationFnSet.has(word)) {
      const close = matchParen(text, k);
      if (close > 0) {
        rw.spaces(i, close + 1);
        re.lastIndex = close + 1;
      }
      continue;
    }
    if (word.length >= 5 && ITERATOR_RE.test(word) && atLineStart(text, i)) {
      const close = matchParen(text, k);
      // A loop, not a call statement: what follows the `)` is not `;`.
      let q = close + 1;
      while (q > 0 && q < n && (text[q] === ' ' || text[q] === '\t' || text[q] === '\n' || text[q] === '\r')) q++;
      if (close > 0 && text[q] !== ';') rw.put(i, 'while' + ' '.repeat(word.length - 5));
      continue;
    }
    if (DO_EACH_RE.test(word) && atLineStart(text, i)) {
      // do_each_thread(g, t) { ... } while_each_thread(g, t);  ->  do { ... } while (g, t);
      const close = matchParen(text, k);
      if (close > 0) {
        rw.put(i, 'do' + ' '.repeat(word.length - 2));
        rw.spaces(k, close + 1);
        re.lastIndex = close + 1;
      }
      continue;
    }
    if (WHILE_EACH_RE.test(word)) {
      rw.put(i, 'while' + ' '.repeat(word.length - 5));
      continue;
    }
    if (SYSCALL_RE.test(word) && atLineStart(text, i)) {
      rewriteSyscall(text, rw, i, k);
      continue;
    }
    if (PER_CPU_RE.test(word)) {
      // DEFINE_PER_CPU(type, name) -> type  name
      const close = matchParen(text, k);
      const commas = close > 0 ? topLevelCommas(text, k, close) : [];
      if (commas.length === 1) {
        rw.spaces(i, k + 1);
        rw.put(commas[0], ' ');
        rw.put(close, ' ');
      }
    }
  }
  return rw.apply();
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
  for (const p of joins) rw.put(p, " ");
  return true;
}

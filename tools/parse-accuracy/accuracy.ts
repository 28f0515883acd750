// Parse accuracy of the indexer on real kernel C, measured against a ground
// truth that does not use tree-sitter: kernel style puts a function body's `{`
// alone in column 0 and its `}` alone in column 0, with the head (return type,
// name, parameters) on the non-blank lines just above the `{`.
//
// Shared by `npm run bench:parse` (scripts/parse-accuracy.ts) and the accuracy
// test, so both measure the same thing.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { KernelTree } from '../../server/src/engine/tree/kernelTree';
import type { FileIndex } from '../../server/src/engine/model';
import type { CParser } from '../../server/src/engine/parse/parser';
import { indexTree } from '../../server/src/engine/index/indexer';
import { ANNOTATION_FUNCTION_MACROS } from '../../server/src/engine/parse/blank';

/** The directories measured: the same set as the shared perf baselines (minus the e1000e driver). */
export const ACCURACY_DIRS = ['kernel', 'mm', 'fs/ext4', 'net/ipv4'];

/** The cached Debian 6.1 tree (scripts/fetch-kernel-source.sh), or KLP_KERNEL_TREE. */
export function defaultKernelTree(): string {
  if (process.env.KLP_KERNEL_TREE) return process.env.KLP_KERNEL_TREE;
  const cache = process.env.KLP_CACHE ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'kernel-livepatch');
  return path.join(cache, 'linux-6.1');
}

/** Sorted tree-relative paths of every .c/.h file under `dirs`. */
export function listSourceFiles(tree: string, dirs: string[] = ACCURACY_DIRS): string[] {
  const kt = KernelTree.open(tree);
  return dirs
    .flatMap((dir) =>
      fs.existsSync(path.join(tree, dir)) ? kt.walkFiles({ dir, name: /\.[ch]$/, skipDir: () => false, maxFiles: Infinity }).files : [],
    )
    .sort();
}

/** Every ceil(n/count)-th file of a sorted list: a deterministic, spread-out sample. */
export function sampleFiles(files: string[], count: number): string[] {
  const step = Math.max(1, Math.ceil(files.length / count));
  return files.filter((_, i) => i % step === 0);
}

export interface OracleFunction {
  name: string;
  /** 0-based first head line. */
  headStart: number;
  /** 0-based line of the `{` alone in column 0. */
  braceLine: number;
  /** 0-based line of the matching `}` alone in column 0. */
  closeLine: number;
  /** The head was a macro call (SYSCALL_DEFINEn, BPF_CALL_n...): the name is its first argument. */
  macro: string | null;
  /** The head text, comments removed, joined on one line. */
  head: string;
}

/** Function-like macros that only annotate a head; their `(` never follows the function name. */
const HEAD_ATTRIBUTE_FNS = new Set([
  ...ANNOTATION_FUNCTION_MACROS,
  '__attribute__',
  '__attribute',
  '__declspec',
  'asm',
  '__asm__',
  '__asm',
  '__diag_push',
  '__diag_pop',
  '__diag_ignore_all',
]);
/** Words that cannot be a function name: a `(` after them opens a declarator or a cast. */
const NOT_A_NAME = new Set([
  'void',
  'int',
  'char',
  'short',
  'long',
  'unsigned',
  'signed',
  'float',
  'double',
  'bool',
  '_Bool',
  'const',
  'volatile',
  'static',
  'inline',
  'extern',
  'struct',
  'union',
  'enum',
  'typeof',
  '__typeof__',
  'sizeof',
  'return',
  'if',
  'while',
  'for',
  'switch',
  'do',
  'else',
  'register',
  'restrict',
  '__restrict',
]);

const OPEN_LINE = /^\{\s*(?:\/\*.*\*\/\s*|\/\/.*)?$/;
const CLOSE_LINE = /^\}\s*(?:\/\*.*\*\/\s*|\/\/.*)?$/;

/** Removes comments and string/char literals' contents (keeps the quotes), line by line safe for heads. */
function stripComments(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '/' && text[i + 1] === '*') {
      const e = text.indexOf('*/', i + 2);
      i = e < 0 ? text.length : e + 1;
      out += ' ';
    } else if (ch === '/' && text[i + 1] === '/') {
      const e = text.indexOf('\n', i);
      i = e < 0 ? text.length : e - 1;
      out += ' ';
    } else if (ch === '"' || ch === "'") {
      let j = i + 1;
      while (j < text.length && text[j] !== ch && text[j] !== '\n') j += text[j] === '\\' ? 2 : 1;
      out += ch + ch;
      i = j;
    } else out += ch;
  }
  return out;
}

/** True when the line ends a previous construct, so the head starts below it. */
function stopsHead(line: string): boolean {
  const t = line.trim();
  if (t === '') return true;
  if (t.startsWith('#')) return true;
  if (/[;{}\\]$/.test(t)) return true;
  if (t.endsWith('*/')) return true;
  if (t.startsWith('//')) return true;
  return false;
}

interface Token {
  t: string;
  depth: number;
}

function tokenize(head: string): Token[] {
  const out: Token[] = [];
  const re = /[A-Za-z_]\w*|\d\w*|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|\S/g;
  let depth = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(head))) {
    const t = m[0];
    if (t === ')' || t === ']') depth--;
    out.push({ t, depth });
    if (t === '(' || t === '[') depth++;
  }
  return out;
}

const IDENT = /^[A-Za-z_]\w*$/;

/**
 * The expected function name of a head, or null when the head is not a function
 * definition (an initializer, a struct body, a macro body...).
 */
export function headName(head: string): { name: string; macro: string | null } | null {
  const toks = tokenize(head);
  if (!toks.length) return null;
  // An initializer (`... = {`) or a type body (`struct x {`) is not a function.
  if (toks.some((k) => k.depth === 0 && k.t === '=')) return null;
  // The head ends in `)`, optionally followed by attribute macros (`__releases(x)`, `__attribute__((...))`, `__acquires`).
  let end = toks.length - 1;
  for (;;) {
    const k = toks[end];
    if (!k) return null;
    if (k.t === ')' && k.depth === 0) {
      // Find its `(`, and see whether an attribute macro owns it.
      let o = end - 1;
      while (o >= 0 && !(toks[o].t === '(' && toks[o].depth === 0)) o--;
      if (o > 0 && HEAD_ATTRIBUTE_FNS.has(toks[o - 1].t)) {
        end = o - 2;
        continue;
      }
      break;
    }
    if (IDENT.test(k.t) && k.depth === 0 && (/^__/.test(k.t) || k.t === 'notrace' || k.t === 'noinline')) {
      end--;
      continue;
    }
    return null;
  }
  // The name: the first identifier before a top-level `(` that is not an attribute macro.
  for (let i = 1; i <= end; i++) {
    const k = toks[i];
    if (k.t !== '(' || k.depth !== 0) continue;
    const prev = toks[i - 1];
    if (!IDENT.test(prev.t) || prev.depth !== 0) {
      // `type (*name(args))(args)`: a function returning a function pointer.
      if (toks[i + 1]?.t === '*' && IDENT.test(toks[i + 2]?.t ?? '') && toks[i + 3]?.t === '(') {
        return { name: toks[i + 2].t, macro: null };
      }
      return null;
    }
    if (HEAD_ATTRIBUTE_FNS.has(prev.t)) {
      // Skip the attribute's arguments.
      let j = i + 1;
      while (j <= end && !(toks[j].t === ')' && toks[j].depth === 0)) j++;
      i = j;
      continue;
    }
    if (NOT_A_NAME.has(prev.t)) {
      if (toks[i + 1]?.t === '*' && IDENT.test(toks[i + 2]?.t ?? '') && toks[i + 3]?.t === '(') {
        return { name: toks[i + 2].t, macro: null };
      }
      return null;
    }
    if (/^[A-Z][A-Z0-9_]*$/.test(prev.t) && /[A-Z]/.test(prev.t)) {
      // A function-defining macro: SYSCALL_DEFINE3(open, ...), BPF_CALL_2(name, ...).
      const arg = toks[i + 1];
      if (!arg || !IDENT.test(arg.t)) return null;
      const after = toks[i + 2]?.t;
      // `int NAME_MACRO(void)`: a macro that expands to the name itself.
      if (NOT_A_NAME.has(arg.t)) {
        return { name: prev.t, macro: null };
      }
      if (after !== ',' && after !== ')') return null;
      // `int PRINT_TYPE_FUNC_NAME(symbol)(args)`: the name is pasted by the macro; unknowable without cpp.
      if (after === ')' && toks[i + 3]?.t === '(') return null;
      return { name: arg.t, macro: prev.t };
    }
    return { name: prev.t, macro: null };
  }
  return null;
}

/** The kernel-style functions of a text. Ambiguous bodies (a second column-0 `{` before the `}`) are left out. */
export function oracleFunctions(text: string): OracleFunction[] {
  const lines = text.split(/\r?\n/);
  const out: OracleFunction[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!OPEN_LINE.test(lines[i])) continue;
    let h = i;
    while (h > 0 && !stopsHead(lines[h - 1])) h--;
    // Continuation lines of a preprocessor line (`#if defined(A) && \`) are not head lines.
    while (h < i && h > 0 && lines[h - 1].trimEnd().endsWith('\\')) h++;
    if (h === i) continue;
    const head = stripComments(lines.slice(h, i).join('\n')).replace(/\s+/g, ' ').trim();
    const named = headName(head);
    if (!named) continue;
    let close = -1;
    let ambiguous = false;
    for (let j = i + 1; j < lines.length; j++) {
      if (CLOSE_LINE.test(lines[j])) {
        close = j;
        break;
      }
      if (OPEN_LINE.test(lines[j])) {
        ambiguous = true;
        break;
      }
    }
    if (close < 0 || ambiguous) continue;
    out.push({ name: named.name, headStart: h, braceLine: i, closeLine: close, macro: named.macro, head });
    i = close;
  }
  return out;
}

export type MissKind = 'no function at brace' | 'wrong name' | 'range overruns' | 'range ends early' | 'start outside head';

export interface Miss {
  file: string;
  fn: OracleFunction;
  kind: MissKind;
  /** What the indexer had instead (a name, an end line...). */
  got: string;
  /** A grouping key: kind plus the likely culprit. */
  pattern: string;
}

export interface FileResult {
  file: string;
  oracle: number;
  nameOk: number;
  rangeOk: number;
  /** Indexer functions that no oracle function explains (informational). */
  misses: Miss[];
}

/** Kernel macros in a head that tree-sitter cannot know: the first one names a miss pattern. */
function culprit(fn: OracleFunction): string {
  if (fn.macro) return `macro head ${fn.macro.replace(/\d+$/, 'n')}`;
  const words = fn.head.match(/[A-Za-z_]\w*/g) ?? [];
  const upper = words.find((w) => /^[A-Z][A-Z0-9_]{2,}$/.test(w));
  const dunder = words.find((w) => /^__\w+$/.test(w) && w !== '__attribute__');
  if (/#/.test(fn.head)) return 'preprocessor line in head';
  if (dunder) return `head word ${dunder}`;
  if (upper) return `head word ${upper}`;
  return 'plain head';
}

/** Compares the indexer's functions of one file with the oracle. */
export function compareFile(file: string, oracle: OracleFunction[], index: FileIndex): FileResult {
  const res: FileResult = { file, oracle: oracle.length, nameOk: 0, rangeOk: 0, misses: [] };
  const fns = index.functions;
  for (const o of oracle) {
    const containing = fns.filter((f) => f.span.start <= o.braceLine && f.span.end >= o.braceLine);
    const named = containing.filter((f) => f.name === o.name);
    if (!named.length) {
      if (!containing.length) {
        res.misses.push({ file, fn: o, kind: 'no function at brace', got: '-', pattern: `no function at brace: ${culprit(o)}` });
      } else {
        // The innermost (shortest) function spanning the brace.
        const f = containing.reduce((a, b) => (b.span.end - b.span.start < a.span.end - a.span.start ? b : a));
        const swallowed = f.bodySpan.start < o.braceLine;
        const kind: MissKind = 'wrong name';
        const pattern = swallowed
          ? `inside another function's span (${f.name} runs over it)`
          : `wrong name: ${culprit(o)}${f.name === 'void' ? ' (got void)' : ''}`;
        res.misses.push({ file, fn: o, kind, got: `${f.name} @${f.span.start + 1}-${f.span.end + 1}`, pattern });
      }
      continue;
    }
    res.nameOk++;
    const f = named.find((x) => x.span.end === o.closeLine) ?? named[0];
    const endOk = f.span.end === o.closeLine;
    const startOk = f.span.start >= o.headStart && f.span.start < o.braceLine;
    if (endOk && startOk) {
      res.rangeOk++;
      continue;
    }
    const kind: MissKind = !endOk ? (f.span.end > o.closeLine ? 'range overruns' : 'range ends early') : 'start outside head';
    res.misses.push({ file, fn: o, kind, got: `${f.span.start + 1}-${f.span.end + 1}`, pattern: `${kind}` });
  }
  return res;
}

export interface Summary {
  files: number;
  bytes: number;
  oracle: number;
  nameOk: number;
  rangeOk: number;
  misses: Miss[];
  /** Files whose tree has an ERROR or MISSING node. */
  filesWithErrors: number;
  ms: number;
}

export type Mode = 'blanked' | 'raw';

/** Indexes one text with the parser, blanked (as the engine does) or raw. */
export function indexWith(parser: CParser, mode: Mode, file: string, text: string): { index: FileIndex; hasError: boolean } {
  const tree = mode === 'blanked' ? parser.parse(text) : parser.parseRaw(text);
  try {
    return { index: indexTree(tree.rootNode, file, text), hasError: tree.rootNode.hasError };
  } finally {
    tree.delete();
  }
}

/** Measures name and range accuracy over files of a tree. */
export async function measure(parser: CParser, tree: string, files: string[], mode: Mode): Promise<Summary> {
  const sum: Summary = { files: 0, bytes: 0, oracle: 0, nameOk: 0, rangeOk: 0, misses: [], filesWithErrors: 0, ms: 0 };
  const t0 = performance.now();
  for (let i = 0; i < files.length; i++) {
    const file = files[i];
    const text = fs.readFileSync(path.join(tree, file), 'utf8');
    const oracle = oracleFunctions(text);
    const { index, hasError } = indexWith(parser, mode, file, text);
    const r = compareFile(file, oracle, index);
    sum.files++;
    if (hasError) sum.filesWithErrors++;
    sum.bytes += text.length;
    sum.oracle += r.oracle;
    sum.nameOk += r.nameOk;
    sum.rangeOk += r.rangeOk;
    sum.misses.push(...r.misses);
    // Let native finalizers run (native trees are freed between event-loop turns).
    if (i % 50 === 49) await new Promise((res) => setImmediate(res));
  }
  sum.ms = performance.now() - t0;
  return sum;
}

/** Miss patterns by count, with the first example of each. */
export function missPatterns(misses: Miss[]): { pattern: string; count: number; example: Miss }[] {
  const by = new Map<string, { pattern: string; count: number; example: Miss }>();
  for (const m of misses) {
    const e = by.get(m.pattern);
    if (e) e.count++;
    else by.set(m.pattern, { pattern: m.pattern, count: 1, example: m });
  }
  return [...by.values()].sort((a, b) => b.count - a.count || a.pattern.localeCompare(b.pattern));
}

/** A percentage with two decimals, or three when two would round a miss up to 100.00%. */
export function pct(n: number, d: number): string {
  if (!d) return '-';
  const p = (100 * n) / d;
  return `${p.toFixed(n < d && p >= 99.995 ? 3 : 2)}%`;
}

// Property-based and mutation fuzzing of the diff reader and the engine.
//
// Every input is a pure function of (seed, index): a patch generated from the
// seed tree (fuzzTree.ts) — a handwritten seed patch, random edits of tree
// files, or a synthetic patch unrelated to the tree — optionally given
// pathological C content (deep #if/parens/braces, unterminated comments, huge
// hunks...) while staying a valid patch, then optionally mutated as bytes
// (truncation, wrong hunk counts, binary sections, NUL, invalid UTF-8, CRLF,
// escaping paths, duplicated/missing/rename headers...).
//
// runInput() runs it through the CLI's path (analyzePatches, which calls
// readPatch) twice: with the seed tree and hunk-only. Per mode the outcome is:
//   ok       analysed, and the result is sane (patch lines inside the patch);
//   refused  PatchError, the typed bad-input error (CLI exit 2);
//   invalid  a valid generated patch was refused, or the result is not sane;
//   crash    any other exception;
//   hang     one mode took longer than hangMs plus hangMsPerMb per MB of
//            input, in wall and in CPU time (a busy machine alone does not
//            make a hang, nor does the linear cost of parsing a big input).
// The input's outcome is its worst mode's.

import { performance } from 'node:perf_hooks';
import { diffArrays } from 'diff';
import { analyzePatches, PatchError, type AnalysisResult } from '../../server/src/engine/analyze';
import type { CParser } from '../../server/src/engine/parse/parser';
import { KernelTree } from '../../server/src/engine/tree/kernelTree';
import { SEED_TREE, HUGE_FILE, hugeFileText, type SeedTrees } from './fuzzTree';

// ---------------------------------------------------------------- randomness

export interface Rng {
  next(): number;
  /** Integer in [0, n). */
  int(n: number): number;
  /** Integer in [lo, hi]. */
  range(lo: number, hi: number): number;
  pick<T>(xs: readonly T[]): T;
  chance(p: number): boolean;
}

/** mulberry32: small, fast, deterministic. */
export function makeRng(seed: number): Rng {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return {
    next,
    int,
    range: (lo, hi) => lo + int(hi - lo + 1),
    pick: (xs) => xs[int(xs.length)],
    chance: (p) => next() < p,
  };
}

/** The rng seed of input `index` of a run seeded with `seed`. */
export function inputSeed(seed: number, index: number): number {
  let h = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca77)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d) >>> 0;
  h ^= h >>> 15;
  return h >>> 0;
}

function weighted<T extends string>(r: Rng, table: readonly (readonly [T, number])[]): T {
  let total = 0;
  for (const [, w] of table) total += w;
  let x = r.next() * total;
  for (const [k, w] of table) {
    if ((x -= w) < 0) return k;
  }
  return table[table.length - 1][0];
}

// ---------------------------------------------------------------- the model

export type EditKind = 'modify' | 'add' | 'delete' | 'rename' | 'copy' | 'mode';

/** One file of a patch before it is written as text. */
export interface FileEdit {
  kind: EditKind;
  oldPath: string | null;
  newPath: string | null;
  before: string | null;
  after: string | null;
}

export interface FuzzInput {
  index: number;
  patches: { name: string; text: Buffer }[];
  /** Which seed tree the tree-mode run uses. */
  tree: keyof SeedTrees;
  /** Per mode: the input is a valid patch that must be analysed, not refused. */
  expectOk: { tree: boolean; hunk: boolean };
  description: string;
}

export const C_TREE_FILES = Object.keys(SEED_TREE).filter((p) => /\.[ch]$/.test(p));
const OTHER_TREE_FILES = Object.keys(SEED_TREE).filter((p) => !/\.[ch]$/.test(p) && p !== '.config');
const NEW_FILE_NAMES = [
  'drivers/fuzz/fuzz_new.c',
  'kernel/fuzz_extra.c',
  'include/linux/fuzz_new.h',
  'lib/fuzz_new.c',
  'drivers/fuzz/Kconfig',
  'arch/x86/entry/vdso/vfuzz.c',
  'tools/fuzz/main.c',
  'drivers/fuzz/notes.txt',
];

/** Kernel-style lines random edits insert. */
export const SNIPPETS = [
  '\tpr_info("fuzz: %d\\n", __LINE__);',
  '\tstatic int calls;',
  '\tcalls++;',
  '\tWARN_ON_ONCE(!d);',
  '\tprintk_ratelimited(KERN_WARNING "fuzz\\n");',
  '\tif (unlikely(!d))\n\t\treturn -EINVAL;',
  '\tspin_lock(&fuzz_lock);\n\tfuzz_budget--;\n\tspin_unlock(&fuzz_lock);',
  '\tmutex_lock(&fuzz_mutex);',
  '\trcu_read_lock();\n\trcu_read_unlock();',
  '\tif (static_branch_unlikely(&fuzz_fast_path))\n\t\tgoto out;',
  '\treturn static_call(fuzz_op)(1);',
  'static DEFINE_MUTEX(fuzz_mutex);',
  'static int fuzz_new_global = 3;',
  'static const int fuzz_table2[] = { 1, 2, 3 };',
  'int fuzz_exported_new(void)\n{\n\treturn 0;\n}\nEXPORT_SYMBOL_GPL(fuzz_exported_new);',
  'static int __init fuzz_new_init(void)\n{\n\treturn 0;\n}',
  'static void __exit fuzz_new_exit(void)\n{\n}',
  'static notrace int fuzz_nt(void)\n{\n\treturn 1;\n}',
  'static inline int fuzz_inl(int x)\n{\n\treturn x * 2;\n}',
  'static __always_inline void fuzz_ai(void) { }',
  'SYSCALL_DEFINE1(fuzz_new, int, x)\n{\n\treturn x;\n}',
  'EXPORT_SYMBOL_NS_GPL(fuzz_count, FUZZ);',
  'MODULE_IMPORT_NS(FUZZ);',
  '#ifdef CONFIG_FUZZ_DEBUG',
  '#endif',
  '#define FUZZ_NEW(x) ((x) + 1)',
  '\tunsigned long nr_new;',
  '\tu64 stamp;',
  '/* a comment */',
  '// a line comment',
  '',
  '}',
  '{',
  '\tlist_for_each_entry(d, &fuzz_devs, node)\n\t\td->flags = 0;',
  '\tfor_each_online_cpu(cpu)\n\t\tfuzz_budget++;',
  'late_initcall(fuzz_new_init);',
  'module_param(fuzz_nr_devs, int, 0644);',
  'static struct fuzz_ops fuzz_more_ops = { .probe = NULL };',
  '\tDO_ONCE_LITE(pr_info, "once\\n");',
  '\tkthread_run(fuzz_thread, NULL, "x");',
  'struct fuzz_item fuzz_global_item __read_mostly;',
  'static DEFINE_PER_CPU(int, fuzz_pcpu);',
  '\tasm volatile("nop");',
  '\tBUILD_BUG_ON(sizeof(int) != 4);',
  'char *fuzz_str = "a \\"quoted\\" string with /* no comment */";',
];

/** Tokens for C "soup": syntactically random but lexically kernel-like. */
const TOKENS = [
  'static',
  'int',
  'void',
  'struct',
  'fuzz_dev',
  'union',
  'enum',
  '{',
  '}',
  '(',
  ')',
  ';',
  ',',
  '=',
  '*',
  '&',
  '__init',
  '__exit',
  'notrace',
  'inline',
  '__always_inline',
  'const',
  'return',
  'if',
  'else',
  'while',
  'for',
  'goto',
  'EXPORT_SYMBOL(',
  'SYSCALL_DEFINE2(',
  'DEFINE_STATIC_KEY_FALSE(',
  'module_init(',
  'list_for_each_entry(',
  '#if',
  '#ifdef',
  '#else',
  '#endif',
  '#define',
  '\\',
  '"',
  "'",
  '/*',
  '*/',
  '//',
  '__LINE__',
  'x',
  'y',
  '0',
  '1',
  '0x7f',
  '[',
  ']',
  '->',
  '.',
  ':',
  '?',
  'sizeof',
  'typeof',
  '__attribute__((',
  '))',
  'asm',
  'volatile',
  '<<',
  '>>',
  '#',
  '##',
  '\t',
  'ü',
  '€',
];

export function soup(r: Rng, lines: number): string {
  const out: string[] = [];
  for (let i = 0; i < lines; i++) {
    const n = r.range(0, 12);
    const toks: string[] = [];
    for (let k = 0; k < n; k++) toks.push(r.pick(TOKENS));
    out.push(toks.join(r.chance(0.7) ? ' ' : ''));
  }
  return out.join('\n');
}

/** Array.splice without spreading the new items into arguments (100k-line hunks overflow the stack). */
function splice<T>(xs: T[], at: number, remove: number, items: T[]): T[] {
  return xs.slice(0, at).concat(items, xs.slice(at + remove));
}

function splitLines(text: string): string[] {
  const ls = text.split('\n');
  if (ls[ls.length - 1] === '') ls.pop();
  return ls;
}

/** 1–4 random line edits of a text; always changes it. */
function editText(r: Rng, text: string): string {
  const lines = splitLines(text);
  const ops = r.range(1, 4);
  for (let k = 0; k < ops; k++) {
    const at = r.int(lines.length + 1);
    const op = weighted(r, [
      ['insert', 5],
      ['delete', 2],
      ['replace', 3],
      ['duplicate', 1],
      ['indent', 1],
    ] as const);
    if (op === 'insert' || lines.length === 0) lines.splice(at, 0, ...r.pick(SNIPPETS).split('\n'));
    else if (op === 'delete') lines.splice(Math.min(at, lines.length - 1), r.range(1, 5));
    else if (op === 'replace') lines.splice(Math.min(at, lines.length - 1), 1, ...r.pick(SNIPPETS).split('\n'));
    else if (op === 'duplicate') {
      const i = Math.min(at, lines.length - 1);
      lines.splice(i, 0, lines[i]);
    } else {
      const i = Math.min(at, lines.length - 1);
      lines[i] = ' ' + lines[i];
    }
  }
  let out = lines.join('\n') + (r.chance(0.97) ? '\n' : '');
  if (out === text) out += '/* changed */\n';
  return out;
}

// ---------------------------------------------------------------- content mutations (the patch stays valid)

type ContentMutation = (r: Rng) => string;

const rep = (s: string, n: number) => s.repeat(n);

export const CONTENT_MUTATIONS: Record<string, ContentMutation> = {
  'deep-if': (r) => {
    const n = r.range(10, 3000);
    const open = Array.from({ length: n }, (_, i) => `#if defined(CONFIG_F${i}) || ${i}`).join('\n');
    const close = rep('#endif\n', r.chance(0.7) ? n : r.int(n));
    return `${open}\nstatic int deep_if_var;\n${close}`;
  },
  'deep-ifdef-else': (r) => {
    const n = r.range(10, 1500);
    return rep('#ifdef CONFIG_A\n#else\n', n) + 'int deep_else;\n' + rep('#endif\n', n);
  },
  'deep-parens': (r) => {
    const n = r.range(50, 6000);
    return `\tfuzz_budget = ${rep('F(', n)}1${rep(')', r.chance(0.8) ? n : r.int(n))};`;
  },
  'deep-braces': (r) => {
    const n = r.range(50, 4000);
    return `static void deep_braces(void)\n${rep('{', n)}\n\tfuzz_budget++;\n${rep('}', r.chance(0.8) ? n : r.int(n))}`;
  },
  'deep-macro': (r) => {
    const n = r.range(20, 2000);
    const defs = ['#define M0 1'];
    for (let i = 1; i < n; i++) defs.push(`#define M${i} (M${i - 1} + M${i - 1})`);
    return defs.join('\n') + `\nstatic int deep_macro = M${n - 1};`;
  },
  'macro-continuation': (r) => `#define LONG_MACRO(x) \\\n${rep('\tdo { (x)++; } while (0); \\\n', r.range(10, 5000))}\t(x)`,
  'deep-declarator': (r) => {
    const n = r.range(50, 5000);
    return r.pick([
      `static int ${rep('*', n)}deep_ptr;`,
      `int ${rep('(', n)}deep_paren${rep(')', n)};`,
      `int deep_arr${rep('[1]', n)};`,
      `void (${rep('*', n)}deep_fp)(void);`,
    ]);
  },
  'deep-attribute': (r) => `static int ${rep('__attribute__((unused)) ', r.range(10, 3000))}attr_var;`,
  'unterminated-comment': () => '/* this comment is never closed',
  'unterminated-string': (r) =>
    r.pick(['\tpr_info("never closed);', "\tchar c = '", '\tchar *s = "a\\', '#include "fuzz.h', '\tx = R"(raw']),
  'stray-endif': (r) => rep('#endif\n', r.range(1, 50)) + rep('#else\n', r.range(0, 3)),
  'long-line': (r) => `static int long_line = ${rep('1 + ', r.range(1000, 50_000))}1;`,
  'long-line-1mb': () => `static int long_line = ${rep('1 + ', 250_000)}1;`,
  unicode: (r) =>
    r.pick([
      'static int ünïcödé = 1;',
      '\tpr_info("🦀 emoji €\\n");',
      '\uFEFFint bom_inside;',
      'int a\u2028b;',
      '// ' + rep('日本語', 1000),
      'static int \u200bzero_width;',
    ]),
  'keyword-soup': (r) => soup(r, r.range(1, 300)),
  'many-functions': (r) =>
    Array.from({ length: r.range(200, 3000) }, (_, i) => `static int gen_fn${i}(int x)\n{\n\treturn x + ${i};\n}\n`).join('\n'),
  'many-statics': (r) =>
    `static void many_statics(void)\n{\n${Array.from({ length: r.range(100, 3000) }, (_, i) => `\tstatic int s${i};`).join('\n')}\n}`,
  'line-macro-storm': (r) => rep('\tpr_info("%d\\n", __LINE__); WARN_ON(1); BUG_ON(0);\n', r.range(100, 5000)),
  // A 100k-line hunk: one new function of 100k statements, at the end of the file (valid C).
  'huge-hunk': () => `static void huge_hunk_fn(void)\n{\n${rep('\tfuzz_budget += 1;\n', 100_000)}}`,
};

const RARE_CONTENT = new Set(['huge-hunk', 'long-line-1mb']);
const CONTENT_WEIGHTS: (readonly [string, number])[] = Object.keys(CONTENT_MUTATIONS).map(
  (k) => [k, RARE_CONTENT.has(k) ? 0.05 : 1] as const,
);

/** Inserts pathological text into an edit's post-image (or a new file). */
function applyContent(r: Rng, e: FileEdit, name: string): void {
  const text = CONTENT_MUTATIONS[name](r);
  const lines = splitLines(e.after ?? '');
  const at = name === 'huge-hunk' ? lines.length : r.int(lines.length + 1);
  e.after = splice(lines, at, 0, text.split('\n')).join('\n') + '\n';
}

// ---------------------------------------------------------------- generators

/** The handwritten seed patches: small, realistic changes to the seed tree. */
export const SEED_PATCHES: Record<string, () => FileEdit[]> = {
  'probe-body': () => [
    modify('drivers/fuzz/fuzz_drv.c', (t) =>
      t
        .replace('\tstatic bool warned;\n', '\tstatic bool warned;\n\tstatic int probes;\n')
        .replace('\tlist_add_tail(', '\tprobes++;\n\tlist_add_tail('),
    ),
  ],
  'struct-member': () => [
    modify('include/linux/fuzz.h', (t) =>
      t.replace('\tu32 flags;\n', '\tu32 flags;\n\tu64 stamp;\n').replace('return it->flags & 1;', 'return (it->flags & 1) || it->stamp;'),
    ),
  ],
  'init-and-syscall': () => [
    modify('kernel/fuzz_sys.c', (t) =>
      t
        .replace(
          '\tkthread_run(fuzz_thread, NULL, "kfuzzd");',
          '\tif (IS_ERR(kthread_run(fuzz_thread, NULL, "kfuzzd")))\n\t\treturn -ENOMEM;',
        )
        .replace('\t\treturn -EINVAL;\n\tpr_debug', '\t\treturn -ERANGE;\n\tpr_debug'),
    ),
  ],
  'new-file': () => [
    {
      kind: 'add',
      oldPath: null,
      newPath: 'drivers/fuzz/fuzz_extra.c',
      before: null,
      after: '// SPDX-License-Identifier: GPL-2.0\n#include <linux/module.h>\n\nint fuzz_extra(void)\n{\n\treturn 42;\n}\n',
    },
    modify('drivers/fuzz/Makefile', (t) => t + 'fuzz_drv-y += fuzz_extra.o\n'),
  ],
  rename: () => [
    {
      kind: 'rename',
      oldPath: 'lib/fuzz_lib.c',
      newPath: 'lib/fuzz_hash.c',
      before: SEED_TREE['lib/fuzz_lib.c'],
      after: SEED_TREE['lib/fuzz_lib.c'].replace('h * 31', 'h * 33'),
    },
  ],
  'exit-and-ops': () => [
    modify('drivers/fuzz/fuzz_drv.c', (t) =>
      t
        .replace('\t.remove = fuzz_remove_all,\n', '\t.remove = NULL,\n')
        .replace('\tfuzz_remove_all();\n}', '\tfuzz_remove_all();\n\tfuzz_nr_devs = 0;\n}'),
    ),
  ],
  'line-shift': () => [
    modify('drivers/fuzz/fuzz_drv.c', (t) => t.replace('#define FUZZ_NAME', '/* shifts __LINE__ */\n#define FUZZ_NAME')),
  ],
  asm: () => [modify('arch/x86/kernel/fuzz_asm.S', (t) => t.replace('\tnop\n', '\tnop\n\tnop\n'))],
  delete: () => [{ kind: 'delete', oldPath: 'lib/fuzz_lib.c', newPath: null, before: SEED_TREE['lib/fuzz_lib.c'], after: null }],
};

function modify(path: string, f: (t: string) => string): FileEdit {
  return { kind: 'modify', oldPath: path, newPath: path, before: SEED_TREE[path], after: f(SEED_TREE[path]) };
}

/** Random edits of 1–3 tree files (modify, add, delete, rename, copy, mode change). */
function randomEdits(r: Rng): FileEdit[] {
  const out: FileEdit[] = [];
  const used = new Set<string>();
  const n = weighted(r, [
    ['1', 6],
    ['2', 3],
    ['3', 1],
  ] as const);
  for (let i = 0; i < Number(n); i++) {
    const kind = weighted(r, [
      ['modify', 14],
      ['add', 2],
      ['delete', 1],
      ['rename', 2],
      ['copy', 1],
      ['mode', 1],
    ] as const);
    const src = r.chance(0.85) ? r.pick(C_TREE_FILES) : r.pick(OTHER_TREE_FILES);
    if (kind === 'add') {
      const p = r.pick(NEW_FILE_NAMES);
      if (used.has(p)) continue;
      used.add(p);
      out.push({ kind, oldPath: null, newPath: p, before: null, after: editText(r, r.chance(0.5) ? SEED_TREE[r.pick(C_TREE_FILES)] : '') });
      continue;
    }
    if (used.has(src)) continue;
    used.add(src);
    const before = SEED_TREE[src];
    if (kind === 'delete') out.push({ kind, oldPath: src, newPath: null, before, after: null });
    else if (kind === 'rename' || kind === 'copy') {
      const to = src.replace(/(\.[chS])?$/, (ext) => `_${kind}${ext}`);
      if (used.has(to)) continue;
      used.add(to);
      out.push({ kind, oldPath: src, newPath: to, before, after: r.chance(0.7) ? editText(r, before) : before });
    } else if (kind === 'mode') out.push({ kind, oldPath: src, newPath: src, before, after: r.chance(0.5) ? editText(r, before) : before });
    else out.push({ kind, oldPath: src, newPath: src, before, after: editText(r, before) });
  }
  if (!out.length) out.push(modify('drivers/fuzz/fuzz_drv.c', (t) => editText(r, t)));
  return out;
}

/** A patch unrelated to the tree: random paths, random (soup or snippet) text. Valid, but only hunk-only mode can analyse it. */
function syntheticEdits(r: Rng): FileEdit[] {
  const dirs = ['fs/fuzzfs', 'mm', 'net/core', 'drivers/gpu/fuzz', 'arch/x86/kernel', 'include/uapi/linux', 'kernel/sched'];
  const out: FileEdit[] = [];
  for (let i = r.range(1, 3); i > 0; i--) {
    const p = `${r.pick(dirs)}/syn${r.int(100)}.${r.pick(['c', 'c', 'h', 'S'])}`;
    if (out.some((e) => e.newPath === p)) continue;
    const before = r.chance(0.5)
      ? soup(r, r.range(1, 60)) + '\n'
      : Array.from({ length: r.range(1, 40) }, () => r.pick(SNIPPETS)).join('\n') + '\n';
    out.push({ kind: 'modify', oldPath: p, newPath: p, before, after: editText(r, before) });
  }
  return out;
}

/** An edit of the 10 MB file (huge tree only): one table row changed. */
function hugeFileEdits(r: Rng): FileEdit[] {
  const before = hugeFileTextCached();
  const at = before.lastIndexOf('\n', r.range(before.length / 100, before.length - 100)) + 1;
  const end = before.indexOf('\n', at);
  const after = before.slice(0, at) + '\t0x0001, 0x0000, 0x0000,' + before.slice(end);
  return [{ kind: 'modify', oldPath: HUGE_FILE, newPath: HUGE_FILE, before, after }];
}

let hugeCache: string | undefined;
function hugeFileTextCached(): string {
  return (hugeCache ??= hugeFileText());
}

// ---------------------------------------------------------------- writing a patch

/** git's default hunk heading: the last line above the hunk that starts with a letter, _ or $. */
function withSections(body: string[], oldLines: string[]): string[] {
  return body.map((l) => {
    const m = /^@@ -(\d+)(?:,\d+)? \+\d+(?:,\d+)? @@$/.exec(l);
    if (!m) return l;
    for (let i = Number(m[1]) - 2; i >= 0; i--) if (/^[A-Za-z_$]/.test(oldLines[i] ?? '')) return `${l} ${oldLines[i].slice(0, 40)}`;
    return l;
  });
}

/** Lines of a text, each with its newline ("\n" or "" for a last line without one). */
function linesWithEnds(t: string): string[] {
  if (t === '') return [];
  const out = t.split('\n').map((l) => l + '\n');
  out[out.length - 1] = out[out.length - 1].slice(0, -1);
  if (out[out.length - 1] === '') out.pop();
  return out;
}

function countNewlines(t: string, from: number, to: number): number {
  let n = 0;
  for (let i = t.indexOf('\n', from); i !== -1 && i < to; i = t.indexOf('\n', i + 1)) n++;
  return n;
}

/**
 * Unified hunks turning `before` into `after`, with `context` lines around
 * changes. The common head and tail are found on characters first, only the
 * lines between them (plus context) are split, and a big middle is written as
 * one replacement: an edit of a 10 MB file or a 100k-line insertion costs
 * milliseconds (a Myers diff over them costs seconds).
 */
export function unifiedHunks(before: string, after: string, context: number, r: Rng): string[] {
  const max = Math.min(before.length, after.length);
  let p = 0;
  while (p < max && before.charCodeAt(p) === after.charCodeAt(p)) p++;
  // Whole lines (with their newline) inside the common prefix.
  const hs = p === 0 ? 0 : before.lastIndexOf('\n', p - 1) + 1;
  let s = 0;
  while (s < max - hs && before.charCodeAt(before.length - 1 - s) === after.charCodeAt(after.length - 1 - s)) s++;
  // Whole lines inside the common suffix start after a newline that is in it too.
  const nlB = before.indexOf('\n', before.length - s);
  const tb = s === 0 || nlB === -1 ? before.length : nlB + 1;
  const ta = tb + (after.length - before.length);
  // Context: up to `context` whole lines before hs and after tb.
  let cs = hs;
  for (let k = 0; k < context && cs > 0; k++) cs = cs < 2 ? 0 : before.lastIndexOf('\n', cs - 2) + 1;
  let ce = tb;
  for (let k = 0; k < context && ce < before.length; k++) {
    const nl = before.indexOf('\n', ce);
    ce = nl === -1 ? before.length : nl + 1;
  }
  const base = countNewlines(before, 0, cs);
  const am = linesWithEnds(before.slice(hs, tb));
  const bm = linesWithEnds(after.slice(hs, ta));
  const ops: [' ' | '-' | '+', string][] = linesWithEnds(before.slice(cs, hs)).map((l) => [' ', l]);
  if (am.length + bm.length <= 300) {
    for (const c of diffArrays(am, bm)) for (const l of c.value) ops.push([c.added ? '+' : c.removed ? '-' : ' ', l]);
  } else {
    for (const l of am) ops.push(['-', l]);
    for (const l of bm) ops.push(['+', l]);
  }
  for (const l of linesWithEnds(before.slice(tb, ce))) ops.push([' ', l]);
  // Group changes closer than 2 * context into one hunk.
  const changed = ops.map((o, i) => (o[0] === ' ' ? -1 : i)).filter((i) => i >= 0);
  const out: string[] = [];
  let k = 0;
  let at = 0;
  let oldPos = base;
  let newPos = base;
  const advance = (to: number) => {
    for (; at < to; at++) {
      if (ops[at][0] !== '+') oldPos++;
      if (ops[at][0] !== '-') newPos++;
    }
  };
  while (k < changed.length) {
    let last = k;
    while (last + 1 < changed.length && changed[last + 1] - changed[last] - 1 <= 2 * context) last++;
    const from = Math.max(0, changed[k] - context);
    const to = Math.min(ops.length, changed[last] + context + 1);
    advance(from);
    const startOld = oldPos;
    const startNew = newPos;
    const body: string[] = [];
    for (let i = from; i < to; i++) {
      const [op, l] = ops[i];
      body.push(op + (l.endsWith('\n') ? l.slice(0, -1) : l));
      if (!l.endsWith('\n')) body.push('\\ No newline at end of file');
    }
    advance(to);
    const range = (pos: number, n: number) => (n === 1 && r.chance(0.5) ? `${pos + 1}` : `${n === 0 ? pos : pos + 1},${n}`);
    out.push(`@@ -${range(startOld, oldPos - startOld)} +${range(startNew, newPos - startNew)} @@`);
    for (const l of body) out.push(l);
    k = last + 1;
  }
  return out;
}

/** git-style text of a list of file edits. */
export function writePatch(edits: FileEdit[], r: Rng): string {
  let out = '';
  for (const e of edits) {
    const a = e.oldPath ?? e.newPath!;
    const b = e.newPath ?? e.oldPath!;
    out += `diff --git a/${a} b/${b}\n`;
    if (e.kind === 'add') out += 'new file mode 100644\n';
    else if (e.kind === 'delete') out += 'deleted file mode 100644\n';
    else if (e.kind === 'mode') out += 'old mode 100644\nnew mode 100755\n';
    else if (e.kind === 'rename' || e.kind === 'copy') {
      out += `similarity index ${e.before === e.after ? 100 : 90}%\n${e.kind} from ${a}\n${e.kind} to ${b}\n`;
    }
    if (e.before === e.after) continue;
    out += `index 1234567..89abcde${e.kind === 'add' || e.kind === 'delete' ? '' : ' 100644'}\n`;
    out += `--- ${e.oldPath ? `a/${a}` : '/dev/null'}\n+++ ${e.newPath ? `b/${b}` : '/dev/null'}\n`;
    const context = weighted(r, [
      ['3', 8],
      ['0', 1],
      ['1', 1],
      ['6', 1],
    ] as const);
    const hunks = unifiedHunks(e.before ?? '', e.after ?? '', Number(context), r);
    const sections = r.chance(0.8) && (e.before ?? '').length < 1048576;
    out += (sections ? withSections(hunks, (e.before ?? '').split('\n')) : hunks).join('\n') + '\n';
  }
  return out;
}

// ---------------------------------------------------------------- byte mutations

type ByteMutation = (b: Buffer, r: Rng) => Buffer;

const L = (b: Buffer) => b.toString('latin1').split('\n');
const J = (ls: string[]) => Buffer.from(ls.join('\n'), 'latin1');
const U = (s: string) => Buffer.from(s, 'utf8');
const idxWhere = (ls: string[], re: RegExp) => ls.map((l, i) => (re.test(l) ? i : -1)).filter((i) => i >= 0);

const ODD_PATHS = [
  '../../etc/passwd',
  '/etc/passwd',
  'a/../../x.c',
  'a/fs/../../../x.c',
  '"a/odd\\tname.c"',
  'a/with space.c',
  'a/ünï.c',
  'a/' + 'x'.repeat(5000) + '.c',
  'a/-rf.c',
  'a/.',
  'a//',
  '/dev/null',
  'a/..\\..\\x.c',
  'a/x.c\t2024-01-01 00:00:00.000000000 +0000',
  'C:\\x.c',
  'a/~/x.c',
  'a/%2e%2e/x.c',
  '',
  'a',
  '"a/unterminated',
  '"a/\\001\\377.c"',
  'a/./././x.c',
  'a/x.c/',
  'a/.git/config',
  'a/drivers/fuzz/fuzz_drv.c/..',
  'b/kernel',
  'a/kernel/../kernel/fuzz_sys.c',
];

const BINARY_GIT =
  'diff --git a/firmware/fuzz.bin b/firmware/fuzz.bin\nnew file mode 100644\nindex 0000000..e69de29\nGIT binary patch\nliteral 12\nTcmZQzU|?imVqjxnU|?(j\n\nliteral 0\nHcmV?d00001\n\n';
const BINARY_DIFFER =
  'diff --git a/firmware/fuzz.bin b/firmware/fuzz.bin\nindex 1234567..89abcde 100644\nBinary files a/firmware/fuzz.bin and b/firmware/fuzz.bin differ\n';

export const BYTE_MUTATIONS: Record<string, ByteMutation> = {
  'truncate-bytes': (b, r) => b.subarray(0, r.int(b.length + 1)),
  'truncate-lines': (b, r) => {
    const ls = L(b);
    return J(ls.slice(0, r.int(ls.length + 1)));
  },
  'truncate-hunk': (b, r) => {
    const ls = L(b);
    const hs = idxWhere(ls, /^@@/);
    if (!hs.length) return b;
    const h = r.pick(hs);
    return J(ls.slice(0, h + 1 + r.int(4)));
  },
  'drop-line': (b, r) => {
    const ls = L(b);
    ls.splice(r.int(ls.length), 1);
    return J(ls);
  },
  'duplicate-line': (b, r) => {
    const ls = L(b);
    const i = r.int(ls.length);
    ls.splice(i, 0, ls[i]);
    return J(ls);
  },
  'swap-lines': (b, r) => {
    const ls = L(b);
    const i = r.int(ls.length);
    const j = r.int(ls.length);
    [ls[i], ls[j]] = [ls[j], ls[i]];
    return J(ls);
  },
  'swap-hunks': (b, r) => {
    const ls = L(b);
    const hs = idxWhere(ls, /^@@/);
    if (hs.length < 2) return b;
    const k = r.int(hs.length - 1);
    const end = idxWhere(ls, /^(@@|diff )/).find((i) => i > hs[k + 1]) ?? ls.length;
    const first = ls.slice(hs[k], hs[k + 1]);
    const second = ls.slice(hs[k + 1], end);
    return J(splice(ls, hs[k], end - hs[k], second.concat(first)));
  },
  'bad-counts': (b, r) => J(L(b).map((l) => (l.startsWith('@@') && r.chance(0.7) ? l.replace(/\d+/g, () => String(r.int(60))) : l))),
  'count-off-by-one': (b, r) =>
    J(L(b).map((l) => (l.startsWith('@@') && r.chance(0.5) ? l.replace(/,(\d+)/, (_, n) => `,${Number(n) + r.pick([-1, 1])}`) : l))),
  'odd-hunk-header': (b, r) =>
    J(
      L(b).map((l) =>
        l.startsWith('@@') && r.chance(0.6)
          ? r.pick([
              '@@ -0,0 +0,0 @@',
              '@@ -99999999999999999999,1 +1 @@',
              '@@ -1 +1 @@',
              '@@ --1,-3 +-1,3 @@',
              '@@ -1,3 +1,3',
              '@@ @@',
              '@@@ -1,3 -1,3 +1,3 @@@',
              '@@ -4294967296,1 +4294967296,1 @@',
              '@@ -1,1e3 +1,0x10 @@',
              '@@ -1,3 +1,3 @@ ' + 'x'.repeat(10000),
              '@@ -9007199254740993,0 +1,1 @@',
            ])
          : l,
      ),
    ),
  'flip-op': (b, r) =>
    J(L(b).map((l) => (/^[+ -]/.test(l) && r.chance(0.15) ? r.pick(['+', '-', ' ', '\\', '@', '', '\t']) + l.slice(1) : l))),
  'nul-byte': (b, r) => {
    const c = Buffer.from(b);
    if (c.length) c[r.int(c.length)] = 0;
    return c;
  },
  'invalid-utf8': (b, r) => {
    const bad = r.pick([[0xff], [0x80], [0xc0, 0xaf], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xfe, 0xfe]]);
    const at = r.int(b.length + 1);
    return Buffer.concat([b.subarray(0, at), Buffer.from(bad), b.subarray(at)]);
  },
  'utf8-replacement-char': (b, r) => {
    const at = r.int(b.length + 1);
    return Buffer.concat([b.subarray(0, at), U('\uFFFD'), b.subarray(at)]);
  },
  bom: (b) => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), b]),
  crlf: (b) => Buffer.from(b.toString('latin1').replace(/\n/g, '\r\n'), 'latin1'),
  'partial-crlf': (b, r) => J(L(b).map((l, i, a) => (i < a.length - 1 && r.chance(0.5) ? l + '\r' : l))),
  'lone-cr': (b, r) => {
    const ls = L(b);
    const i = r.int(ls.length);
    ls[i] = ls[i].slice(0, r.int(ls[i].length + 1)) + '\r' + ls[i].slice(r.int(ls[i].length + 1));
    return J(ls);
  },
  'cr-only-newlines': (b) => Buffer.from(b.toString('latin1').replace(/\n/g, '\r'), 'latin1'),
  'git-binary': (b, r) => Buffer.concat(r.chance(0.5) ? [b, U('\n' + BINARY_GIT)] : [U(BINARY_GIT), b]),
  'binary-differ': (b, r) => Buffer.concat(r.chance(0.5) ? [b, U('\n' + BINARY_DIFFER)] : [U(BINARY_DIFFER), b]),
  'odd-path': (b, r) => {
    const ls = L(b);
    const hs = idxWhere(ls, /^(--- |\+\+\+ |diff --git |rename (from|to) |copy (from|to) )/);
    if (!hs.length) return b;
    const i = r.pick(hs);
    const p = Buffer.from(r.pick(ODD_PATHS), 'utf8').toString('latin1');
    const m = /^(--- |\+\+\+ |rename from |rename to |copy from |copy to )/.exec(ls[i]);
    ls[i] = m ? m[1] + p : `diff --git ${p} ${r.chance(0.5) ? p : 'b/x.c'}`;
    return J(ls);
  },
  'drop-header': (b, r) =>
    J(L(b).filter((l) => !(/^(--- |\+\+\+ |diff --git |index |new file mode|deleted file mode)/.test(l) && r.chance(0.4)))),
  'duplicate-header': (b, r) => {
    const ls = L(b);
    const hs = idxWhere(ls, /^(--- |\+\+\+ |diff --git |new file mode|deleted file mode|index )/);
    if (!hs.length) return b;
    const i = r.pick(hs);
    ls.splice(i, 0, ls[i]);
    return J(ls);
  },
  'swap-file-headers': (b) => {
    const ls = L(b);
    const i = ls.findIndex((l, k) => l.startsWith('--- ') && ls[k + 1]?.startsWith('+++ '));
    if (i >= 0) [ls[i], ls[i + 1]] = ['--- ' + ls[i + 1].slice(4), '+++ ' + ls[i].slice(4)];
    return J(ls);
  },
  'devnull-both': (b) => J(L(b).map((l) => (l.startsWith('--- ') ? '--- /dev/null' : l.startsWith('+++ ') ? '+++ /dev/null' : l))),
  'inject-ext-header': (b, r) => {
    const ls = L(b);
    const hs = idxWhere(ls, /^diff --git /);
    if (!hs.length) return b;
    const ext = r.pick([
      'similarity index 90%\nrename from drivers/fuzz/fuzz_drv.c\nrename to drivers/fuzz/other.c',
      'copy from kernel/fuzz_sys.c\ncopy to kernel/fuzz_copy.c',
      'old mode 100644\nnew mode 100755',
      'new file mode 100644',
      'deleted file mode 100644',
      'rename from ../../etc/passwd\nrename to x.c',
      'rename from\nrename to',
      'similarity index 100%',
      'new file mode 120000',
      'dissimilarity index 99%',
      'copy to /dev/null',
    ]);
    ls.splice(r.pick(hs) + 1, 0, ...ext.split('\n'));
    return J(ls);
  },
  'mail-wrap': (b) =>
    Buffer.concat([
      U(
        'From 1234567890abcdef Mon Sep 17 00:00:00 2001\nFrom: Fuzz <fuzz@example.org>\nDate: Mon, 1 Jan 2024 00:00:00 +0000\nSubject: [PATCH] fuzz: change things\n\nA commit message.\n\nSigned-off-by: Fuzz <fuzz@example.org>\n---\n x | 1 +\n 1 file changed\n\n',
      ),
      b,
      U('-- \n2.43.0\n\n'),
    ]),
  'signature-between': (b, r) => {
    const ls = L(b);
    ls.splice(r.int(ls.length + 1), 0, '-- ', '2.43.0');
    return J(ls);
  },
  'signature-bomb': (b, r) => {
    const ls = L(b);
    return J(splice(ls, r.int(ls.length + 1), 0, Array(r.range(1000, 50_000)).fill('-- ')));
  },
  'line-bomb': (b, r) => {
    const ls = L(b);
    const i = r.int(ls.length);
    // At most ~20 MB: a 1 MB line repeated 100k times would not fit in a string.
    const n = Math.min(r.range(5000, 100_000), Math.floor((20 << 20) / (ls[i].length + 1)));
    return J(splice(ls, i, 0, Array(n).fill(ls[i])));
  },
  'no-newline-marker': (b, r) => {
    const ls = L(b);
    ls.splice(r.int(ls.length + 1), 0, '\\ No newline at end of file');
    return J(ls);
  },
  'garbage-line': (b, r) => {
    const ls = L(b);
    ls.splice(r.int(ls.length + 1), 0, Buffer.from(soup(r, 1), 'utf8').toString('latin1'));
    return J(ls);
  },
  'random-bytes': (b, r) => {
    const c = Buffer.from(b);
    for (let k = r.range(1, 8); k > 0 && c.length; k--) c[r.int(c.length)] = r.int(256);
    return c;
  },
  'same-file-twice': (b) => {
    const s = b.toString('latin1');
    const i = s.indexOf('diff --git', 1);
    return Buffer.from(s + '\n' + (i > 0 ? s.slice(0, i) : s), 'latin1');
  },
  'splice-seed': (b, r) => Buffer.concat([b, U('\n'), U(writePatch(SEED_PATCHES[r.pick(Object.keys(SEED_PATCHES))](), r))]),
  'hunk-before-header': (b) => Buffer.concat([U('@@ -1,1 +1,1 @@\n-a\n+b\n'), b]),
  empty: (_b, r) =>
    U(r.pick(['', '\n', ' \n\t\n', '\n\n\n', 'diff --git a/x b/x\n', '--- a/x.c\n+++ b/x.c\n', '@@ -1 +1 @@\n', 'not a patch at all\n'])),
  'huge-10mb': (b) => {
    const line = '+\tfuzz_budget = fuzz_budget * 33 + 17;\n';
    const n = Math.ceil((10 * 1024 * 1024) / line.length);
    return Buffer.concat([
      b,
      U(
        `\ndiff --git a/drivers/fuzz/huge_new.c b/drivers/fuzz/huge_new.c\nnew file mode 100644\n--- /dev/null\n+++ b/drivers/fuzz/huge_new.c\n@@ -0,0 +1,${n} @@\n`,
      ),
      U(line.repeat(n)),
    ]);
  },
};

/** Mutations that keep a valid patch valid: the input must still be analysed. */
const BENIGN = new Set(['crlf', 'partial-crlf', 'mail-wrap']);
const CR_MUTATIONS = new Set(['crlf', 'partial-crlf', 'lone-cr', 'cr-only-newlines']);
const RARE = new Set(['huge-10mb', 'signature-bomb', 'line-bomb']);

const BYTE_WEIGHTS: (readonly [string, number])[] = Object.keys(BYTE_MUTATIONS).map(
  (k) => [k, k === 'huge-10mb' ? 0.03 : RARE.has(k) ? 0.15 : 1] as const,
);

// ---------------------------------------------------------------- one input

/** Input `index` of the run seeded with `seed`; a pure function of both. */
export function generateInput(seed: number, index: number, opts: { allowHuge?: boolean } = {}): FuzzInput {
  const r = makeRng(inputSeed(seed, index));
  const allowHuge = opts.allowHuge ?? true;
  const gen = weighted(r, [
    ['seed', 3],
    ['random', 10],
    ['synthetic', 2],
    ['huge-file', allowHuge ? 0.03 : 0],
  ] as const);
  let edits: FileEdit[];
  let what: string;
  if (gen === 'seed') {
    const name = r.pick(Object.keys(SEED_PATCHES));
    edits = SEED_PATCHES[name]();
    what = `seed:${name}`;
  } else if (gen === 'random') {
    edits = randomEdits(r);
    what = 'random';
  } else if (gen === 'synthetic') {
    edits = syntheticEdits(r);
    what = 'synthetic';
  } else {
    edits = hugeFileEdits(r);
    what = 'huge-file';
  }
  what += `(${edits.map((e) => `${e.kind} ${e.newPath ?? e.oldPath}`).join(', ')})`;
  const parts = [what];
  if (r.chance(0.25)) {
    const targets = edits.filter((e) => e.after !== null && e.kind !== 'mode' && !e.newPath!.endsWith('.S') && e.newPath !== HUGE_FILE);
    if (targets.length) {
      let name = weighted(r, CONTENT_WEIGHTS);
      if (!allowHuge && RARE_CONTENT.has(name)) name = 'keyword-soup';
      const e = r.pick(targets);
      applyContent(r, e, name);
      parts.push(`content:${name}@${e.newPath}`);
    }
  }
  let text: Buffer = U(writePatch(edits, r));
  const valid = { tree: gen !== 'synthetic', hunk: true };
  const nMut = weighted(r, [
    ['0', 3],
    ['1', 4],
    ['2', 2],
    ['3', 1],
  ] as const);
  const applied: string[] = [];
  let crSeen = false;
  for (let k = 0; k < Number(nMut); k++) {
    let m = weighted(r, BYTE_WEIGHTS);
    if (!allowHuge && m === 'huge-10mb') m = 'random-bytes';
    text = BYTE_MUTATIONS[m](text, r);
    applied.push(m);
    // CRLF once is benign; a second CR mutation leaves "\r\r\n" or stray CRs in the lines.
    if (!BENIGN.has(m) || (CR_MUTATIONS.has(m) && crSeen)) valid.tree = valid.hunk = false;
    if (CR_MUTATIONS.has(m)) crSeen = true;
  }
  if (applied.length) parts.push(`bytes:${applied.join('+')}`);
  const patches = [{ name: `fuzz-${index}.patch`, text }];
  if (r.chance(0.04)) {
    patches.push({
      name: `fuzz-${index}-b.patch`,
      text: U(writePatch(r.chance(0.5) ? randomEdits(r) : SEED_PATCHES[r.pick(Object.keys(SEED_PATCHES))](), r)),
    });
    parts.push('+second patch');
  }
  const bytes = patches.reduce((n, p) => n + p.text.length, 0);
  parts.push(bytes >= 1048576 ? `${(bytes / 1048576).toFixed(1)} MB` : `${bytes} B`);
  return { index, patches, tree: gen === 'huge-file' ? 'huge' : 'small', expectOk: valid, description: parts.join(' | ') };
}

// ---------------------------------------------------------------- running one input

export type Outcome = 'ok' | 'refused' | 'invalid' | 'crash' | 'hang';
export const OUTCOME_ORDER: Outcome[] = ['ok', 'refused', 'invalid', 'hang', 'crash'];

export interface ModeResult {
  mode: 'tree' | 'hunk';
  outcome: Outcome;
  /** Wall time. */
  ms: number;
  /** CPU time of the process (user + system) while it ran. */
  cpuMs: number;
  /** Refusal message, crash stack or what was not sane. */
  detail?: string;
}

export interface RunResult {
  outcome: Outcome;
  /** Slowest mode, wall time. */
  ms: number;
  /** Slowest mode, CPU time. */
  cpuMs: number;
  modes: ModeResult[];
}

export interface RunContext {
  parser: CParser;
  trees: SeedTrees;
  /** A mode that takes longer than this, in wall and in CPU time, is a hang (default 2000)... */
  hangMs?: number;
  /**
   * ...plus this much per MB of input (default 2000): parsing is linear, and
   * tree-sitter alone needs about a second per MB of C on a busy machine, so
   * a 2 MB hunk is slow but not hung. Quadratic blow-ups still overrun it.
   */
  hangMsPerMb?: number;
  /** Which modes to run (default both). */
  modes?: ('tree' | 'hunk')[];
}

/** What must hold for an analysed input: patch lines inside the patch, sane line numbers. */
export function checkResult(input: FuzzInput, r: AnalysisResult): string | null {
  const lineCounts = input.patches.map((p) => p.text.toString('utf8').split('\n').length);
  for (const f of r.findings) {
    const where = `${f.rule} ${f.file}:${f.line}`;
    if (!Number.isInteger(f.line) || f.line < 0) return `${where}: bad line ${f.line}`;
    if (!Number.isInteger(f.endLine) || f.endLine < 0) return `${where}: bad endLine ${f.endLine}`;
    if (f.patchIndex === undefined || f.patchIndex < 0 || f.patchIndex >= input.patches.length)
      return `${where}: bad patchIndex ${f.patchIndex}`;
    if (f.patchLine !== undefined && (!Number.isInteger(f.patchLine) || f.patchLine < 0 || f.patchLine >= lineCounts[f.patchIndex])) {
      return `${where}: patchLine ${f.patchLine} outside the patch (${lineCounts[f.patchIndex]} lines)`;
    }
    if (typeof f.message !== 'string' || !f.message) return `${where}: empty message`;
  }
  return null;
}

function rank(o: Outcome): number {
  return OUTCOME_ORDER.indexOf(o);
}

/**
 * The seed trees are fresh temp directories, never the top of a git checkout,
 * which is all KernelTree asks git (`git rev-parse`, once per analysis). Give
 * that answer without spawning git: a spawn costs tens of milliseconds on a busy
 * machine, more than the rest of a typical input. What the engine does with the
 * answer is unchanged. For the fuzz harness and tests only.
 */
export function answerGitProbeWithoutGit(): void {
  type Probe = { gitState?: { top: boolean; key: string | null } };
  (KernelTree.prototype as unknown as { git(this: Probe): { top: boolean; key: string | null } }).git = function (this: Probe) {
    return (this.gitState ??= { top: false, key: null });
  };
}

export async function runInput(input: FuzzInput, ctx: RunContext): Promise<RunResult> {
  const bytes = input.patches.reduce((n, p) => n + p.text.length, 0);
  const limit = (ctx.hangMs ?? 2000) + (ctx.hangMsPerMb ?? 2000) * (bytes / 1048576);
  const modes: ModeResult[] = [];
  for (const mode of ctx.modes ?? (['tree', 'hunk'] as const)) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    let outcome: Outcome;
    let detail: string | undefined;
    try {
      const result = await analyzePatches(input.patches, { tree: mode === 'tree' ? ctx.trees[input.tree] : null, parser: ctx.parser });
      const bad = checkResult(input, result);
      outcome = bad ? 'invalid' : 'ok';
      detail = bad ?? undefined;
    } catch (err) {
      if (err instanceof PatchError) {
        outcome = input.expectOk[mode] ? 'invalid' : 'refused';
        detail = input.expectOk[mode] ? `valid patch refused: ${err.message}` : err.message;
      } else {
        outcome = 'crash';
        detail = (err as Error)?.stack ?? String(err);
      }
    }
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(c0);
    const cpuMs = (cpu.user + cpu.system) / 1000;
    // Both clocks must agree: wall time alone flags inputs that merely waited for
    // a busy machine, CPU time alone misses blocking waits.
    if (ms > limit && cpuMs > limit && rank(outcome) < rank('hang')) {
      detail = `took ${ms.toFixed(0)} ms (${cpuMs.toFixed(0)} ms CPU; limit ${limit.toFixed(0)} ms)${detail ? `; ${detail}` : ''}`;
      outcome = 'hang';
    }
    modes.push({ mode, outcome, ms, cpuMs, detail: detail?.slice(0, 4000) });
  }
  const worst = modes.reduce((a, b) => (rank(b.outcome) > rank(a.outcome) ? b : a));
  return { outcome: worst.outcome, ms: Math.max(...modes.map((m) => m.ms)), cpuMs: Math.max(...modes.map((m) => m.cpuMs)), modes };
}

// What the tree's Makefiles and Kconfig say about one object: is it built as a
// module, and does its Makefile strip the ftrace flags (so nothing in it can be
// patched)?

import * as path from 'node:path';
import type { KernelTree } from './kernelTree';
import { escapeRegExp } from '../util/text';

export interface ObjectFacts {
  /** `x.o` for `dir/x.c`. */
  object: string;
  /** The Makefile line that removes the ftrace flags for this object, if any. */
  ftraceRemoved: { makefile: string; line: number; text: string } | null;
  /** 'module' when built obj-m (or with a tristate symbol set to m), 'builtin', or 'unknown'. */
  build: 'module' | 'builtin' | 'maybe-module' | 'unknown';
  /** The CONFIG_ symbol controlling the object, if any. */
  symbol: string | null;
  /** Module name when the object is part of a composite module (`foo-y += x.o`). */
  moduleName: string | null;
}

const FTRACE_FLAGS = /\$\((?:CC_FLAGS_FTRACE|CC_FLAGS_FTRACE_ALL)\)|-pg\b|-mfentry\b|-mrecord-mcount\b/;

/**
 * The Makefile line that strips the ftrace flags from `<base>.o`, or null: `CFLAGS_REMOVE_x.o`,
 * the directory-wide `(subdir-)ccflags-remove-y` / `-$(CONFIG_X)` (kernel/trace/ in 6.1; only
 * when the .config, if known, sets X=y) and `KBUILD_CFLAGS := $(filter-out ...)`, unless a
 * `CFLAGS_x.o += $(CC_FLAGS_FTRACE)` line gives this object its flags back.
 */
function ftraceRemoval(
  tree: KernelTree,
  logical: { text: string; line: number }[],
  makefile: string,
  base: string,
): ObjectFacts['ftraceRemoved'] {
  const removeRe = new RegExp(
    `^\\s*(?:CFLAGS_REMOVE_${base}\\.o|(?:subdir-)?ccflags-remove-(?:y|\\$\\((CONFIG_\\w+)\\))|KBUILD_CFLAGS\\s*:?=\\s*\\$\\(filter-out)(?=\\s|[:+]?=)`,
  );
  const addsBack = new RegExp(`^\\s*CFLAGS_${base}\\.o\\s*[:+]?=.*\\$\\(CC_FLAGS_FTRACE\\)`);
  if (logical.some(({ text }) => addsBack.test(text))) return null;
  const config = tree.kernelConfig();
  for (const { text, line } of logical) {
    const m = removeRe.exec(text);
    if (!m || !FTRACE_FLAGS.test(text)) continue;
    if (m[1] && config && config.get(m[1]) !== 'y') continue;
    return { makefile, line, text: text.trim() };
  }
  return null;
}

// By tree and file: the language server opens a KernelTree per analysis, and several rules
// ask on every keystroke.
const factsCache = new Map<string, { at: number; stamp: string; facts: ObjectFacts }>();

/**
 * What the Makefiles and Kconfig say about `file`'s object. Answers are kept while the
 * directory's Makefile/Kbuild and the kernel config are unchanged (their times and sizes),
 * for as long as the Kconfig answers below. Callers must not change the result.
 */
export function objectFacts(tree: KernelTree, file: string): ObjectFacts {
  // Within one analysis (one KernelTree) the files are not checked again.
  let mine = factsOfTree.get(tree);
  if (!mine) factsOfTree.set(tree, (mine = new Map()));
  let facts = mine.get(file);
  if (!facts) mine.set(file, (facts = keptObjectFacts(tree, file)));
  return facts;
}

const factsOfTree = new WeakMap<KernelTree, Map<string, ObjectFacts>>();

function keptObjectFacts(tree: KernelTree, file: string): ObjectFacts {
  const dir = path.posix.dirname(file);
  const key = `${tree.root}\0${file}`;
  const stamp = tree.stamp([`${dir}/Kbuild`, `${dir}/Makefile`]);
  const hit = factsCache.get(key);
  if (hit && hit.stamp === stamp && Date.now() - hit.at < KCONFIG_CACHE_MS) return hit.facts;
  const facts = readObjectFacts(tree, file);
  if (factsCache.size >= 1024) factsCache.delete(factsCache.keys().next().value!);
  factsCache.set(key, { at: Date.now(), stamp, facts });
  return facts;
}

function readObjectFacts(tree: KernelTree, file: string): ObjectFacts {
  const dir = path.posix.dirname(file);
  const base = path.posix.basename(file).replace(/\.[ch]$/, '');
  const object = `${base}.o`;
  const facts: ObjectFacts = { object, ftraceRemoved: null, build: 'unknown', symbol: null, moduleName: null };
  const mk = tree.makefile(dir);
  if (mk === null) return facts;
  const mkName = tree.exists(path.posix.join(dir, 'Kbuild')) ? `${dir}/Kbuild` : `${dir}/Makefile`;
  // Logical lines (continuations joined), each with the physical line it starts on.
  const raw = (tree.readFile(mkName) ?? '').split('\n');
  const logical: { text: string; line: number }[] = [];
  for (let i = 0; i < raw.length; i++) {
    const start = i;
    let text = raw[i];
    while (text.endsWith('\\') && i + 1 < raw.length) text = text.slice(0, -1) + ' ' + raw[++i];
    logical.push({ text, line: start });
  }
  const lines = logical.map((l) => l.text);
  const escaped = escapeRegExp(base);
  facts.ftraceRemoved = ftraceRemoval(tree, logical, mkName, escaped);
  // obj-m += x.o, obj-$(CONFIG_FOO) += x.o, foo-y += x.o / foo-objs := x.o
  const objRe = new RegExp(`(?:^|\\s)${escaped}\\.o(?:\\s|$)`);
  let composite: string | null = null;
  for (const line of lines) {
    const m = /^\s*([\w-]+?)(?:-(y|m|objs|\$\((CONFIG_\w+)\)))\s*[:+]?=\s*(.*)$/.exec(line);
    if (!m || !objRe.test(' ' + m[4] + ' ')) continue;
    const lhs = m[1];
    if (lhs === 'obj') {
      if (m[2] === 'm') facts.build = 'module';
      else if (m[2] === 'y') facts.build = 'builtin';
      else if (m[3]) {
        facts.symbol = m[3];
        facts.build = symbolBuild(tree, m[3], dir);
      }
      return facts;
    }
    if (lhs !== 'lib' && lhs !== 'ccflags' && lhs !== 'subdir') composite = lhs;
  }
  if (composite) {
    facts.moduleName = composite;
    const compRe = new RegExp(`^\\s*obj-(y|m|\\$\\((CONFIG_\\w+)\\))\\s*[:+]?=.*(?:^|\\s)${composite}\\.o(?:\\s|$)`, 'm');
    const m = compRe.exec(mk);
    if (m) {
      if (m[1] === 'm') facts.build = 'module';
      else if (m[1] === 'y') facts.build = 'builtin';
      else if (m[2]) {
        facts.symbol = m[2];
        facts.build = symbolBuild(tree, m[2], dir);
      }
    }
  }
  return facts;
}

/** m/y from the .config when known, else whether the Kconfig symbol is tristate. */
function symbolBuild(tree: KernelTree, symbol: string, dir: string): ObjectFacts['build'] {
  const config = tree.kernelConfig();
  if (config) {
    const v = config.get(symbol);
    if (v === 'm') return 'module';
    if (v === 'y') return 'builtin';
  }
  const kind = kconfigKind(tree, symbol, dir, !config);
  return kind === 'tristate' ? 'maybe-module' : kind === 'bool' || kind === 'untyped' ? 'builtin' : 'unknown';
}

const kconfigCache = new Map<string, { at: number; kind: KconfigKind | null }>();
const KCONFIG_CACHE_MS = 5 * 60 * 1000;

type KconfigKind = 'bool' | 'tristate' | 'untyped';

/** The type a `config NAME` entry declares in the lines after it, 'untyped' when it names none. */
function entryKind(lines: string[], head: RegExp): KconfigKind | null {
  for (let i = 0; i < lines.length; i++) {
    if (!head.test(lines[i])) continue;
    for (let j = i + 1; j < lines.length && j < i + 14; j++) {
      if (/^\s*(?:tristate|def_tristate)\b/.test(lines[j])) return 'tristate';
      if (/^\s*(?:bool|def_bool)\b/.test(lines[j])) return 'bool';
      if (/^\s*(?:menu)?config\s/.test(lines[j]) || lines[j] === '--') break;
    }
    return 'untyped';
  }
  return null;
}

/**
 * The Kconfig type of `symbol`: from this directory's Kconfig or a parent's (where it
 * usually is, and what kbuild reads), else, with `treeWide`, from any Kconfig in the tree
 * (MEMCG is in init/Kconfig). null when no Kconfig declares it.
 */
export function kconfigKind(tree: KernelTree, symbol: string, dir: string, treeWide = true): KconfigKind | null {
  const name = symbol.replace(/^CONFIG_/, '');
  if (!/^\w+$/.test(name)) return null;
  const head = new RegExp(`^\\s*(?:menu)?config\\s+${name}\\s*$`);
  for (let d = dir; ; d = path.posix.dirname(d)) {
    const kconfig = tree.readFile(path.posix.join(d === '.' ? '' : d, 'Kconfig'));
    const kind = kconfig ? entryKind(kconfig.split('\n'), head) : null;
    if (kind) return kind;
    if (d === '.' || d === '' || d === '/') break;
  }
  if (!treeWide) return null;
  const key = `${tree.root}\0${name}`;
  const hit = kconfigCache.get(key);
  if (hit && Date.now() - hit.at < KCONFIG_CACHE_MS) return hit.kind;
  let text = tree.gitGrep(['-h', '-A12', '-E', '-e', `^\\s*(menu)?config\\s+${name}\\s*$`, '--', '*Kconfig*'])?.out ?? '';
  if (!text && !tree.isGitCheckout()) {
    text = tree
      .walkFiles({ name: /^Kconfig[\w.-]*$/, maxFiles: 2000 })
      .files.map((f) => {
        try {
          return tree.readFile(f) ?? '';
        } catch {
          return '';
        }
      })
      .join('\n');
  }
  // Tree-wide, an entry without a type line is as good as unknown.
  const found = entryKind(text.split('\n'), head);
  const kind = found === 'untyped' ? null : found;
  kconfigCache.set(key, { at: Date.now(), kind });
  return kind;
}

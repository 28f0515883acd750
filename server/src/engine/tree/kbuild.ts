// What the tree's Makefiles and Kconfig say about one object: is it built as a
// module, and does its Makefile strip the ftrace flags (so nothing in it can be
// patched)?

import * as path from 'node:path';
import type { KernelTree } from './kernelTree';

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

export function objectFacts(tree: KernelTree, file: string): ObjectFacts {
  const dir = path.posix.dirname(file);
  const base = path.posix.basename(file).replace(/\.[ch]$/, '');
  const object = `${base}.o`;
  const facts: ObjectFacts = { object, ftraceRemoved: null, build: 'unknown', symbol: null, moduleName: null };
  const mk = tree.makefile(dir);
  if (mk === null) return facts;
  const mkName = tree.exists(path.posix.join(dir, 'Kbuild')) ? `${dir}/Kbuild` : `${dir}/Makefile`;
  const lines = mk.split('\n');
  const escaped = base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const removeRe = new RegExp(`^\\s*(?:CFLAGS_REMOVE_${escaped}\\.o|ccflags-remove-y|ccflags-remove-\\$\\(CONFIG_\\w+\\)|subdir-ccflags-remove-y|KBUILD_CFLAGS\\s*:?=\\s*\\$\\(filter-out)\\b`);
  lines.forEach((line, i) => {
    if (facts.ftraceRemoved) return;
    if (removeRe.test(line) && FTRACE_FLAGS.test(line)) {
      facts.ftraceRemoved = { makefile: mkName, line: i, text: line.trim() };
    }
  });
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
  const kconfig = tree.readFile(path.posix.join(dir, 'Kconfig'));
  const name = symbol.replace(/^CONFIG_/, '');
  if (kconfig) {
    const m = new RegExp(`^(?:menu)?config\\s+${name}\\s*\\n((?:[ \\t].*\\n|\\s*\\n)*)`, 'm').exec(kconfig);
    if (m) return /^\s*(?:tristate|def_tristate)\b/m.test(m[1]) ? 'maybe-module' : 'builtin';
  }
  return 'unknown';
}

// Build tools name objects, functions, sections and symbols, rarely source lines:
// kpatch-build says "cmdline.o: function cmdline_proc_show has no fentry/mcount call",
// create-diff-object "changed section .data.foo not selected for inclusion". This turns
// such names (and compiler file:line pairs) into tree-relative source ranges with the
// engine's own index, so build errors land on the definition they are about.

import type { CParser } from '../parse/parser';
import type { FileIndex } from '../model';
import { indexSource } from '../index/indexer';
import type { KernelTree } from '../tree/kernelTree';

export interface BuildReference {
  /** Object file (fs/proc/cmdline.o) or patch object (vmlinux, a module name). */
  object?: string;
  function?: string;
  symbol?: string;
  section?: string;
  /** Compiler diagnostics: the path as printed, and the 1-based line. */
  file?: string;
  line?: number;
}

export interface SourceLocation {
  /** Tree-relative path. */
  file: string;
  /** 0-based lines, inclusive. */
  line: number;
  endLine: number;
  /** What the reference resolved to, for the message ("function cmdline_proc_show"). */
  what: string;
}

// gcc clones and splits keep the original name before the first dot.
const CLONE_SUFFIX = /\.(isra|constprop|part|cold|localalias|llvm|lto_priv|str)(\.\d+)*.*$/;
const SYSCALL_WRAPPER =
  /^(?:__(?:x64|ia32|arm64|s390x?|riscv|powerpc)_)?(?:__do_sys_|__se_sys_|__do_compat_sys_|__se_compat_sys_|__x64_sys_|__ia32_sys_|sys_|compat_sys_)/;

/** The function or variable a section or symbol name is about. */
export function nameFromSection(section: string): { kind: 'function' | 'variable'; name: string } | undefined {
  const text = /^\.text\.(?:unlikely\.|hot\.|startup\.|exit\.)?([A-Za-z_]\w*)/.exec(section);
  if (text) return { kind: 'function', name: text[1] };
  const data = /^\.(?:data|bss|rodata)\.(?:rel\.ro\.|rel\.local\.|read_mostly\.)?([A-Za-z_]\w*)/.exec(section);
  if (data) return { kind: 'variable', name: data[1] };
  return undefined;
}

export class BuildLocator {
  private indexes = new Map<string, FileIndex | null>();

  /**
   * @param files the files the patch touches, tree-relative: where build messages are
   *   almost always about, and searched first.
   */
  constructor(
    private readonly tree: KernelTree,
    private readonly parser: CParser,
    private readonly files: string[],
  ) {}

  locate(ref: BuildReference): SourceLocation | undefined {
    if (ref.file && ref.line) {
      const file = this.treePath(ref.file);
      if (file) return { file, line: ref.line - 1, endLine: ref.line - 1, what: `${file}:${ref.line}` };
    }
    if (ref.file && !ref.line) {
      // A whole file refused ("unsupported patch to lib/: lib/foo.c"): its first line.
      const file = this.treePath(ref.file);
      if (file) return { file, line: 0, endLine: 0, what: `file ${file}` };
    }
    const candidates = this.candidateFiles(ref.object);
    const inSection = ref.section ? nameFromSection(ref.section) : undefined;
    const fn = ref.function ?? (inSection?.kind === 'function' ? inSection.name : undefined);
    if (ref.function && ref.symbol) {
      // "static local variable calls.1 used by show": the static local's own line, when the tree still has it.
      const hit = this.findStaticLocal(ref.symbol, ref.function, candidates);
      if (hit) return hit;
    }
    if (fn) {
      const hit = this.findFunction(fn, candidates);
      if (hit) return hit;
    }
    for (const name of [ref.symbol, inSection?.kind === 'variable' ? inSection.name : undefined]) {
      if (!name) continue;
      const hit = this.findVariable(name, candidates) ?? this.findFunction(name, candidates);
      if (hit) return hit;
    }
    return undefined;
  }

  /** Compilers print paths relative to their build directory, or absolute ones from a copy of the tree. */
  private treePath(printed: string): string | undefined {
    const parts = printed
      .replace(/\\/g, '/')
      .split('/')
      .filter((p) => p && p !== '.');
    for (let i = 0; i < parts.length; i++) {
      const rel = parts.slice(i).join('/');
      if (rel.split('/').includes('..')) continue;
      try {
        if (this.tree.existsInTree(rel)) return rel;
      } catch {
        // A path the tree refuses (escaping it) is simply not ours.
      }
    }
    return undefined;
  }

  private candidateFiles(object: string | undefined): string[] {
    const fromObject = object && /\.o$/.test(object) ? this.treePath(object.replace(/\.o$/, '.c')) : undefined;
    const list = fromObject ? [fromObject, ...this.files.filter((f) => f !== fromObject)] : this.files;
    return list.filter((f) => /\.[ch]$/.test(f));
  }

  private index(file: string): FileIndex | null {
    if (!this.indexes.has(file)) {
      let text: string | null = null;
      try {
        text = this.tree.readFile(file);
      } catch {
        text = null;
      }
      this.indexes.set(file, text === null ? null : indexSource(this.parser, file, text));
    }
    return this.indexes.get(file) ?? null;
  }

  private findFunction(raw: string, files: string[]): SourceLocation | undefined {
    const name = raw.replace(CLONE_SUFFIX, '');
    const bare = name.replace(SYSCALL_WRAPPER, '');
    for (const file of files) {
      const ix = this.index(file);
      const f = ix?.functions.find((d) => d.name === name) ?? ix?.functions.find((d) => d.syscallMacro && d.name === bare);
      if (f) return { file, line: f.span.start, endLine: f.span.start, what: `function ${f.name}` };
    }
    return undefined;
  }

  private findStaticLocal(raw: string, inFunction: string, files: string[]): SourceLocation | undefined {
    const name = raw.replace(/\.\d+$/, '');
    const fn = inFunction.replace(CLONE_SUFFIX, '');
    for (const file of files) {
      const f = this.index(file)?.functions.find((d) => d.name === fn);
      const local = f?.staticLocals.find((l) => l.name === name);
      if (f && local) return { file, line: local.line, endLine: local.line, what: `static local ${name} in ${f.name}()` };
    }
    return undefined;
  }

  private findVariable(raw: string, files: string[]): SourceLocation | undefined {
    // gcc names a function's static local "<name>.<n>" in the symbol table.
    const name = raw.replace(/\.\d+$/, '');
    for (const file of files) {
      const ix = this.index(file);
      const v = ix?.variables.find((d) => d.name === name);
      if (v) return { file, line: v.span.start, endLine: v.span.start, what: `variable ${v.name}` };
      for (const f of ix?.functions ?? []) {
        const local = f.staticLocals.find((l) => l.name === name);
        if (local) return { file, line: local.line, endLine: local.line, what: `static local ${name} in ${f.name}()` };
      }
    }
    return undefined;
  }
}

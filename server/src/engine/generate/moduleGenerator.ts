// Turns an analysed patch into the source of a plain livepatch module
// (struct klp_func / klp_object / klp_patch, built with kbuild): each changed
// function's post-image copy under a new name, the file-local types, macros and
// static helpers it needs, and the patch tables. It refuses, naming the symbols,
// whatever it cannot do correctly: engine errors, changed signatures, references
// to static data (a copy would be a different object) and to symbols a module
// cannot link against (not exported).

import * as path from 'node:path';
import type { AnalysisResult } from '../analyze';
import type { FileIndex, FunctionDef } from '../model';
import type { FileChange } from '../rules/rule';
import type { KernelTree } from '../tree/kernelTree';
import { objectFacts } from '../tree/kbuild';
import { moduleNameProblem } from './moduleName';
import { formatRefusal } from './refusals';
import { NOT_ANALYSED } from '../notAnalysed';
import { Kallsyms, parseSymversEntries } from '../target/symbols';

export interface GenerateOptions {
  /** Module name (also the /sys/kernel/livepatch directory): see moduleNameProblem. */
  name: string;
  /**
   * Atomic replace: loading the module disables and replaces every livepatch already on the
   * target. Only when the user asked for it (default false: the patch stacks on the others).
   */
  replace?: boolean;
  /** Generate despite error-level findings (the user forced it); a not-analysed file is still refused. */
  allowFindings?: boolean;
  /** Exported symbols of the target kernel (Module.symvers); without it exports are not verified. */
  exported?: Set<string> | null;
  /** /proc/kallsyms text of the target, to compute old_sympos for names that are not unique. */
  kallsyms?: string | null;
  tree?: KernelTree | null;
}

export interface Refusal {
  symbol: string;
  file: string | null;
  line: number | null;
  message: string;
}

export class GenerateError extends Error {
  constructor(readonly refusals: Refusal[]) {
    super(`cannot generate a livepatch module:\n${refusals.map((r) => `  ${formatRefusal(r)}`).join('\n')}`);
  }
}

export interface PatchedFunction {
  object: string;
  oldName: string;
  newName: string;
  sympos: number;
  file: string;
}

export interface GeneratedModule {
  name: string;
  /** File name -> content: <name>.c, Kbuild, Makefile. */
  files: Record<string, string>;
  functions: PatchedFunction[];
  /** External symbols assumed to be exported because no Module.symvers was given. */
  unverified: string[];
}

const C_KEYWORDS = new Set(
  (
    'auto break case char const continue default do double else enum extern float for goto if inline int long ' +
    'register restrict return short signed sizeof static struct switch typedef union unsigned void volatile while bool true false NULL ' +
    '__LINE__ __func__ __FUNCTION__ __FILE__ typeof __typeof__ asm __asm__ likely unlikely'
  ).split(' '),
);

export { moduleNameFrom, moduleNameProblem, checkModuleName } from './moduleName';

/** Module.symvers text -> exported symbol names. */
export function parseSymvers(text: string): Set<string> {
  return new Set(parseSymversEntries(text).keys());
}

/** Names the kernel headers define as macros or static inlines: callable from a module without an export. */
function definedInHeaders(tree: KernelTree | null | undefined, name: string): boolean {
  if (!tree) return false;
  for (const f of tree.grepWord(name, 400)) {
    if (!f.endsWith('.h')) continue;
    const text = tree.readFile(f) ?? '';
    if (new RegExp(`#\\s*define\\s+${name}\\b`).test(text)) return true;
    if (new RegExp(`static\\s+(?:__always_inline|inline|__inline__)[^;{]*\\b${name}\\s*\\(`).test(text)) return true;
  }
  return false;
}

const DECL_RE =
  /(?:\b(?:int|long|char|short|unsigned|signed|bool|void|float|double|u8|u16|u32|u64|s8|s16|s32|s64|__u8|__u16|__u32|__u64|size_t|ssize_t|loff_t|umode_t|gfp_t|\w+_t|(?:struct|union|enum)\s+\w+|const|volatile|static|register)\b[\s*]+)+(\w+)\s*(?:\[[^\]]*\])*\s*(?=[=;,)])/g;

/**
 * Identifiers a function uses that it does not declare: not members (after . or ->),
 * not calls, not macros or enum constants (ALL_CAPS), not its parameters or locals.
 */
export function freeIdentifiers(fnText: string): Set<string> {
  const code = fnText.replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'/g, ' ');
  const declared = new Set<string>();
  for (const m of code.matchAll(DECL_RE)) declared.add(m[1]);
  // Labels and designated initialisers are not references either.
  for (const m of code.matchAll(/^\s*(\w+):/gm)) declared.add(m[1]);
  const out = new Set<string>();
  for (const m of code.matchAll(/[A-Za-z_]\w*/g)) {
    const w = m[0];
    const at = m.index!;
    const before = code.slice(Math.max(0, at - 2), at);
    if (before.endsWith('.') || before.endsWith('->')) continue;
    if (/\b(?:struct|union|enum)\s+$/.test(code.slice(Math.max(0, at - 8), at))) continue;
    if (/^\s*\(/.test(code.slice(at + w.length, at + w.length + 4))) continue;
    if (C_KEYWORDS.has(w) || declared.has(w) || /^[A-Z0-9_]+$/.test(w) || /^__builtin/.test(w)) continue;
    out.add(w);
  }
  return out;
}

/** True when the tree defines `name` as a global (non-static) variable in some .c file. */
function isGlobalVariable(tree: KernelTree | null | undefined, name: string): boolean {
  if (!tree) return false;
  const re = new RegExp(`^(?!static\\b|extern\\b|#|\\s)[^;(){}=]*\\b${name}\\s*(?:\\[[^\\]]*\\])*\\s*(?:=|;|__)`, 'm');
  for (const f of tree.grepWord(name, 100)) {
    if (!f.endsWith('.c')) continue;
    if (re.test(tree.readFile(f) ?? '')) return true;
  }
  return false;
}

function objectName(fc: FileChange, tree: KernelTree | null | undefined): string {
  if (!tree) return 'vmlinux';
  const facts = objectFacts(tree, fc.path);
  if (facts.build === 'module' || facts.build === 'maybe-module') return facts.moduleName ?? facts.object.replace(/\.o$/, '');
  return 'vmlinux';
}

/** The last kallsyms text parsed: one module generation asks about many functions of the same text. */
let parsedKallsyms: { text: string; ks: Kallsyms } | null = null;

function sympos(kallsyms: string | null | undefined, name: string, object: string): number | 'ambiguous' {
  if (!kallsyms) return 0;
  if (parsedKallsyms?.text !== kallsyms) parsedKallsyms = { text: kallsyms, ks: new Kallsyms(kallsyms) };
  const count = parsedKallsyms.ks.entries(name, object).filter((e) => e.type === 't' || e.type === 'T').length;
  return count > 1 ? 'ambiguous' : 0;
}

function textOf(ix: FileIndex, start: number, end: number): string {
  return ix.lines.slice(start, end + 1).join('\n');
}

/** Copied code keeps its origin: gcc then reports errors (and __LINE__) against the kernel source line. */
function fromSource(file: string, line0: number, text: string): string {
  return `#line ${line0 + 1} ${JSON.stringify(file)}\n${text}`;
}

const LINE_RESET = '#line __LIVEPATCH_RESET__';

export function generateModule(result: AnalysisResult, opts: GenerateOptions): GeneratedModule {
  const refusals: Refusal[] = [];
  const unverified = new Set<string>();
  for (const f of result.findings) {
    // A file the engine did not index has nothing to copy from: forcing cannot help.
    if (f.rule === NOT_ANALYSED.id) {
      refusals.push({
        symbol: f.file,
        file: f.file,
        line: null,
        message: `[${f.rule}] ${f.message}; the module is generated from the analysed file, so raise the size limit`,
      });
    } else if (f.severity === 'error' && !opts.allowFindings) {
      refusals.push({ symbol: f.symbol ?? f.function ?? f.file, file: f.file, line: f.line, message: `[${f.rule}] ${f.message}` });
    }
  }
  const name = opts.name;
  const badName = moduleNameProblem(name);
  if (badName) refusals.push({ symbol: JSON.stringify(name), file: null, line: null, message: `not a module name: ${badName}` });
  const functions: PatchedFunction[] = [];
  const sections: string[] = [];
  const includes = new Set<string>(['<linux/kernel.h>', '<linux/module.h>', '<linux/livepatch.h>']);
  const byObject = new Map<string, PatchedFunction[]>();

  for (const fc of result.changes.flat()) {
    if (!fc.isC || !fc.post) continue;
    const post = fc.post;
    const changed = fc.pairing.functions.filter((c) => c.kind === 'body' || c.kind === 'signature');
    if (!changed.length) continue;
    if (fc.path.endsWith('.h')) {
      refusals.push({
        symbol: changed[0].name,
        file: fc.path,
        line: changed[0].new?.span.start ?? null,
        message: 'functions defined in headers are inlined into their callers; patch the callers instead',
      });
      continue;
    }
    const object = objectName(fc, opts.tree);
    const localFns = new Map(post.functions.map((f) => [f.name, f]));
    const localVars = new Map(post.variables.map((v) => [v.name, v]));
    const localTypes = post.types;
    const localMacros = new Map(post.macros.map((m) => [m.name, m]));
    const helpers = new Set<FunctionDef>();
    const neededTypes = new Set<string>();
    const neededMacros = new Set<string>();
    const changedNames = new Set(changed.map((c) => c.name));

    const visit = (fn: FunctionDef, isHelper: boolean) => {
      const words = new Set<string>([...fn.identifiers, ...fn.calls.map((c) => c.name)]);
      // Head words too: parameter and return types.
      for (const w of fn.signature.match(/[A-Za-z_]\w*/g) ?? []) words.add(w);
      for (const w of words) {
        if (C_KEYWORDS.has(w) || w === fn.name) continue;
        if (localMacros.has(w)) neededMacros.add(w);
        if (localTypes.some((t) => t.name === w)) neededTypes.add(w);
        const callee = localFns.get(w);
        if (callee) {
          if (changedNames.has(w) && !isHelper) continue; // patched too; the klp redirect handles the call
          if (callee.storage === 'static') {
            if (!helpers.has(callee) && !changedNames.has(w)) {
              helpers.add(callee);
              visit(callee, true);
            }
          } else if (opts.exported && !opts.exported.has(w)) {
            refusals.push({
              symbol: w,
              file: fc.path,
              line: callee.span.start,
              message: `${fn.name}() calls ${w}(), which is not exported, so a module cannot link against it (kpatch-build resolves such references with klp relocations)`,
            });
          }
          continue;
        }
        const v = localVars.get(w);
        if (v) {
          if (v.storage === 'static' && !/\bconst\b/.test(v.type)) {
            refusals.push({
              symbol: w,
              file: fc.path,
              line: v.span.start,
              message: `${fn.name}() uses the static variable '${w}'; a copy in the module would be a different object (kpatch-build resolves it with a klp relocation)`,
            });
          } else if (v.storage !== 'static' && opts.exported && !opts.exported.has(w)) {
            refusals.push({ symbol: w, file: fc.path, line: v.span.start, message: `${fn.name}() uses '${w}', which is not exported` });
          } else if (v.storage === 'static') {
            neededMacros.add(`var:${w}`);
          }
        }
      }
      {
        for (const w of freeIdentifiers(textOf(post, fn.span.start, fn.span.end))) {
          if (localVars.has(w) || localFns.has(w) || localMacros.has(w) || localTypes.some((t) => t.name === w)) continue;
          const inKallsyms = opts.kallsyms ? new RegExp(`^[0-9a-f]+ [dDbBrR] ${w}$`, 'm').test(opts.kallsyms) : null;
          const global = inKallsyms ?? (opts.exported ? isGlobalVariable(opts.tree, w) : false);
          if (global && opts.exported && !opts.exported.has(w)) {
            refusals.push({
              symbol: w,
              file: fc.path,
              line: fn.span.start,
              message: `${fn.name}() uses the kernel variable '${w}', which is not exported, so a module cannot link against it (kpatch-build resolves such references with klp relocations)`,
            });
          }
        }
      }
      for (const c of fn.calls) {
        const w = c.name;
        if (localFns.has(w) || localMacros.has(w) || C_KEYWORDS.has(w) || /^[A-Z0-9_]+$/.test(w)) continue;
        if (opts.exported) {
          if (!opts.exported.has(w) && !definedInHeaders(opts.tree, w)) {
            refusals.push({
              symbol: w,
              file: fc.path,
              line: c.line,
              message: `${fn.name}() calls ${w}(), which is neither exported nor defined in a header`,
            });
          }
        } else if (!definedInHeaders(opts.tree, w)) {
          unverified.add(w);
        }
      }
    };

    for (const c of changed) {
      const fn = c.new!;
      if (c.kind === 'signature') {
        refusals.push({
          symbol: fn.name,
          file: fc.path,
          line: fn.span.start,
          message: `the signature of ${fn.name}() changed; its unpatched callers would pass the old arguments. Add a new function and patch the callers instead`,
        });
        continue;
      }
      visit(fn, false);
    }
    // Copied data, types and macros need their own types and macros (initialisers, members).
    const pending = [...neededMacros].filter((k) => k.startsWith('var:')).map((k) => k.slice(4));
    const typeQueue = [...neededTypes];
    const macroQueue = [...neededMacros].filter((k) => !k.startsWith('var:'));
    const scanWords = (text: string) => {
      for (const w of text.match(/[A-Za-z_]\w*/g) ?? []) {
        if (localMacros.has(w) && !neededMacros.has(w)) {
          neededMacros.add(w);
          macroQueue.push(w);
        }
        if (localTypes.some((t) => t.name === w) && !neededTypes.has(w)) {
          neededTypes.add(w);
          typeQueue.push(w);
        }
      }
    };
    for (let guard = 0; guard < 1000 && (pending.length || typeQueue.length || macroQueue.length); guard++) {
      const v = pending.pop();
      if (v) {
        const def = localVars.get(v);
        if (def) scanWords(textOf(post, def.span.start, def.span.end));
      }
      const t = typeQueue.pop();
      if (t) for (const def of localTypes.filter((x) => x.name === t)) scanWords(textOf(post, def.span.start, def.span.end));
      const mname = macroQueue.pop();
      if (mname) {
        const def = localMacros.get(mname);
        if (def) scanWords(def.body + ' ' + (def.params ?? ''));
      }
    }
    for (const inc of post.includes) {
      if (inc.path.startsWith('<')) includes.add(inc.path);
      else
        refusals.push({
          symbol: inc.path,
          file: fc.path,
          line: inc.line,
          message: `the file includes the private header ${inc.path}, which the kernel's build headers do not ship; copy what the patched code needs from it into the module`,
        });
    }
    const parts: string[] = [`/* From ${fc.path} (post-patch). */`];
    const copy = (span: { start: number; end: number }, suffix = '') =>
      parts.push(fromSource(fc.path, span.start, textOf(post, span.start, span.end) + suffix));
    for (const m of post.macros) if (neededMacros.has(m.name)) copy(m.span);
    for (const t of localTypes)
      if (neededTypes.has(t.name)) copy(t.span, textOf(post, t.span.end, t.span.end).trim().endsWith(';') ? '' : ';');
    for (const v of post.variables) if (neededMacros.has(`var:${v.name}`)) copy(v.span);
    for (const h of [...helpers].sort((a, b) => a.span.start - b.span.start)) copy(h.span);
    for (const c of changed) {
      if (c.kind !== 'body') continue;
      const fn = c.new!;
      const pos = sympos(opts.kallsyms, fn.name, object);
      if (pos === 'ambiguous') {
        refusals.push({
          symbol: fn.name,
          file: fc.path,
          line: fn.span.start,
          message: `${fn.name} is not unique in ${object}'s symbols; set old_sympos by hand`,
        });
      }
      const newName = `livepatch_${fn.name}`;
      let text = textOf(post, fn.span.start, fn.span.end);
      // Rename the definition (first occurrence of the name followed by '(' in the head).
      const headLen = fn.bodySpan.startByte - fn.span.startByte;
      const head = text
        .slice(0, headLen)
        .replace(new RegExp(`\\b${fn.name}(\\s*\\()`), `${newName}$1`)
        .replace(/\b(?:__init|__exit|inline|__always_inline|noinline|notrace)\b\s*/g, '');
      text = (/\bstatic\b/.test(head) ? head : 'static ' + head.replace(/^\s*(?:extern\s+)?/, '')) + text.slice(headLen);
      parts.push(fromSource(fc.path, fn.span.start, text));
      const pf: PatchedFunction = { object, oldName: fn.name, newName, sympos: 0, file: fc.path };
      functions.push(pf);
      byObject.set(object, [...(byObject.get(object) ?? []), pf]);
    }
    sections.push(parts.join('\n\n') + '\n' + LINE_RESET);
  }
  if (!functions.length && !refusals.length) {
    refusals.push({
      symbol: '(patch)',
      file: null,
      line: null,
      message: 'the patch changes no function body in a .c file: there is nothing to livepatch',
    });
  }
  if (refusals.length) throw new GenerateError(dedupeRefusals(refusals));

  const objectTables: string[] = [];
  const objectEntries: string[] = [];
  for (const [object, fns] of byObject) {
    const id = object.replace(/[^A-Za-z0-9_]/g, '_');
    objectTables.push(
      `static struct klp_func ${id}_funcs[] = {\n${fns.map((f) => `\t{\n\t\t.old_name = "${f.oldName}",\n\t\t.new_func = ${f.newName},\n${f.sympos ? `\t\t.old_sympos = ${f.sympos},\n` : ''}\t},`).join('\n')}\n\t{ }\n};`,
    );
    objectEntries.push(
      `\t{\n${object === 'vmlinux' ? '\t\t/* .name = NULL: vmlinux */\n' : `\t\t.name = "${object}",\n`}\t\t.funcs = ${id}_funcs,\n\t},`,
    );
  }
  const template = `// SPDX-License-Identifier: GPL-2.0
/*
 * ${name}: livepatch module generated by livepatch-check from ${result.patches.map((p) => path.basename(p.name)).join(', ')}.
 * ${functions.length} function(s): ${functions.map((f) => f.oldName).join(', ')}. Review before loading.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

${[...includes].map((i) => `#include ${i}`).join('\n')}

${sections.join('\n\n')}

${objectTables.join('\n\n')}

static struct klp_object ${name}_objs[] = {
${objectEntries.join('\n')}
\t{ }
};

${patchRegistration(name, opts.replace === true)}`;
  // After each copied section, line numbers are the module file's own again.
  const source = template
    .split('\n')
    .map((l, i) => (l === LINE_RESET ? `#line ${i + 2} "${name}.c"` : l))
    .join('\n');
  return {
    name,
    files: {
      [`${name}.c`]: source,
      Kbuild: `obj-m += ${name}.o\n`,
      Makefile: `# Build against the running kernel, or KDIR=/path/to/build.\nKDIR ?= /lib/modules/$(shell uname -r)/build\n\nall:\n\t$(MAKE) -C $(KDIR) M=$(CURDIR) modules\n\nclean:\n\t$(MAKE) -C $(KDIR) M=$(CURDIR) clean\n`,
    },
    functions,
    unverified: [...unverified].sort(),
  };
}

/** Refusals without repeats (the same symbol refused for the same reason from several places). */
export function dedupeRefusals(list: Refusal[]): Refusal[] {
  const seen = new Set<string>();
  return list.filter((r) => {
    const k = `${r.symbol}|${r.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** The klp_patch of `name`_objs and the module boilerplate that enables it: the tail of every generated module. */
export function patchRegistration(name: string, replace: boolean): string {
  return `static struct klp_patch ${name}_patch = {
\t.mod = THIS_MODULE,
\t.objs = ${name}_objs,
\t.replace = ${replace},
};

static int ${name}_init(void)
{
\treturn klp_enable_patch(&${name}_patch);
}

static void ${name}_exit(void)
{
}

module_init(${name}_init);
module_exit(${name}_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Livepatch generated by livepatch-check");
MODULE_INFO(livepatch, "Y");
`;
}

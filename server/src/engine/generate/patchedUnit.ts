// The kbuild backend's real-patch path: the module's source is the patched file
// itself (the post-image translation unit), transformed so that it compiles into a
// livepatch module, instead of a closure rebuilt by guessing.
//
// - Changed functions keep their bodies under `livepatch_<name>`; new functions and
//   inline helpers keep theirs as they are. Every other function of the file becomes a
//   declaration bound with an asm label to a placeholder for the running kernel's
//   symbol (klpElf/placeholder.ts); the ELF pass renames it `.klp.sym.<obj>.<name>,<pos>`.
// - Every file-scope object becomes an `extern` bound the same way. Its type comes from
//   an unused, renamed copy of the original definition (`__typeof__`), so macro-defined
//   objects (DEFINE_MUTEX, LIST_HEAD…) and arrays sized by their initialiser keep their
//   exact type, and sizeof/ARRAY_SIZE stay right. GCC drops the unused copy.
// - The file's initcalls, module_init/exit, EXPORT_SYMBOL*, __setup/early_param,
//   module_param* and MODULE_* lines go; the klp_patch tables are built beside it.
// - Static locals of a changed function are bound to the original (`name.N` in kallsyms)
//   when there is exactly one candidate; the kernel's own "once" statics get a new copy.
//
// Symbols of other files are left to the compiler: after the build, the undefined
// symbols that no export resolves are bound by name (server/src/build/hostBuild.ts).
// Line numbers are kept (removed text leaves its newlines), so a build error points at
// the kernel file's own line.
//
// This file holds the transformation's driver (generatePatchedUnit, transformFile); its
// pieces are in unit/: syntax helpers, static locals, the klp tables, the tree context
// (copied headers, flags) and the kpatch header stand-ins.

import * as path from 'node:path';
import type { AnalysisResult } from '../analyze';
import type { FunctionDef, VariableDef } from '../model';
import type { FileChange } from '../rules/rule';
import { children, ParseTimeout, type CParser, type SyntaxNode } from '../parse/parser';
import { matchParen } from '../parse/blank';
import type { KernelTree } from '../tree/kernelTree';
import { objectFacts } from '../tree/kbuild';
import { GenerateError, dedupeRefusals, type PatchedFunction, type Refusal } from './moduleGenerator';
import { moduleNameProblem } from './moduleName';
import { NOT_ANALYSED } from '../notAnalysed';
import { encodePlaceholder, placeholderBinding, type KlpSymbol } from './klpElf/placeholder';
import type { Kallsyms } from './symbols';
// The steps and pieces of the transformation, one file each.
import { CALLBACK_MACROS, KPATCH_MACROS, KPATCH_SYSCALL, type CallbackKind } from './unit/kpatchHeaders';
import {
  SHADOW,
  applyEdits,
  declarationHead,
  declaratorIdentifier,
  innermostFunctionDeclarator,
  sameType,
  topLevel,
  wordRe,
  type Edit,
} from './unit/syntax';
import { tablesSource } from './unit/tables';
import { transformStaticLocals } from './unit/staticLocals';
import { buildContext } from './unit/buildContext';

export interface PatchedUnitOptions {
  /** Module name (also the /sys/kernel/livepatch directory); [a-z0-9_]. */
  name: string;
  /** Atomic replace: off unless asked for (it would revert every other loaded livepatch). */
  replace?: boolean;
  /** Exported symbol -> exporting object (Module.symvers); null: nothing is assumed exported. */
  exported?: Map<string, string> | null;
  /** The target's /proc/kallsyms; without it every bound symbol gets sympos 0 and static locals are refused. */
  kallsyms?: Kallsyms | null;
  tree: KernelTree;
  parser: CParser;
  /** Generate despite error-level findings (the user's --force or Build Anyway); a file that was not analysed still cannot be compiled. */
  allowFindings?: boolean;
}

export interface PatchedUnitSource {
  /** Tree-relative path of the patched file. */
  path: string;
  /** Object the file is built into: `vmlinux` or the module name. */
  object: string;
  /** Name of the transformed file in the build directory. */
  unit: string;
}

export interface PatchedUnitModule {
  name: string;
  /** Relative path in the build directory -> content (units, copied headers, tables, Kbuild, Makefile). */
  files: Record<string, string>;
  functions: PatchedFunction[];
  units: PatchedUnitSource[];
  /** Symbols the generated C binds through placeholders. */
  bindings: KlpSymbol[];
  /** Objects with a klp_object in the patch. */
  objects: string[];
  /** Things the user should know (copied helpers, unverified sympos). */
  notes: string[];
}

/** Lines of the original file that register it with the kernel; the patch module has its own. */
const DROPPED_MACROS =
  /^[ \t]*((?:module_init|module_exit|__initcall|__exitcall|(?:pure|core|postcore|arch|subsys|fs|rootfs|device|late|console|security|early)_initcall(?:_sync)?|EXPORT_[A-Z_]+|__setup|early_param|core_param|module_param\w*|MODULE_(?!IMPORT_NS)[A-Z_]+|module_\w+_driver|builtin_\w+_driver|ALLOW_ERROR_INJECTION|NOKPROBE_SYMBOL|late_initcall_sync|postcore_param|arch_param_cb|device_param_cb|__MODULE_INFO)\s*)\(/gm;

/** Macros that define exactly one object named by their first argument (per-cpu ones by their last). */
const SINGLE_OBJECT_MACROS =
  /^(?:DEFINE_(?:MUTEX|SPINLOCK|RAW_SPINLOCK|RWLOCK|SEQLOCK|SEMAPHORE|IDA|IDR|XARRAY\w*|STATIC_KEY_(?:TRUE|FALSE)(?:_RO)?|HASHTABLE|READ_MOSTLY_HASHTABLE|RATELIMIT_STATE|TIMER|SRCU|STATIC_SRCU|WAIT_QUEUE_HEAD|LED_TRIGGER|KFIFO|WW_CLASS|RES_RANGE)|DECLARE_(?:WAIT_QUEUE_HEAD|RWSEM|COMPLETION|BITMAP|WORK|DELAYED_WORK|DEFERRABLE_WORK|KFIFO\w*)|LIST_HEAD|HLIST_HEAD|LLIST_HEAD)$/;

interface Problem {
  symbol: string;
  line: number;
  message: string;
}

function objectName(fc: FileChange, tree: KernelTree): string {
  const facts = objectFacts(tree, fc.path);
  if (facts.build === 'module' || facts.build === 'maybe-module')
    return (facts.moduleName ?? facts.object.replace(/\.o$/, '')).replace(/-/g, '_');
  return 'vmlinux';
}

export function generatePatchedUnit(result: AnalysisResult, opts: PatchedUnitOptions): PatchedUnitModule {
  const refusals: Refusal[] = [];
  for (const f of result.findings) {
    if (f.severity === 'error' && (!opts.allowFindings || f.rule === NOT_ANALYSED.id))
      refusals.push({ symbol: f.symbol ?? f.function ?? f.file, file: f.file, line: f.line, message: `[${f.rule}] ${f.message}` });
  }
  const name = opts.name;
  const badName = moduleNameProblem(name);
  if (badName)
    throw new GenerateError([{ symbol: JSON.stringify(name), file: null, line: null, message: `not a module name: ${badName}` }]);
  const files: Record<string, string> = {};
  const functions: PatchedFunction[] = [];
  const units: PatchedUnitSource[] = [];
  const bindings = new Map<string, KlpSymbol>();
  const notes: string[] = [];
  const ccflags: string[] = [];
  const callbacks = new Map<string, CallbackKind[]>();

  for (const fc of result.changes.flat()) {
    if (fc.isC && fc.patch.newPath && !fc.post) {
      const why = result.notes.find((n) => n.startsWith(`${fc.path}:`));
      refusals.push({
        symbol: fc.path,
        file: fc.path,
        line: null,
        message: `the patched file was not analysed${why ? ` (${why.slice(fc.path.length + 2)})` : ''}, so it cannot be compiled as the module`,
      });
    }
  }
  const changes = result.changes
    .flat()
    .filter(
      (fc) => fc.isC && fc.post && fc.pairing.functions.some((c) => c.kind === 'body' || c.kind === 'signature' || c.kind === 'added'),
    );
  for (const fc of changes) {
    if (fc.path.endsWith('.h')) {
      const c = fc.pairing.functions.find((x) => x.kind !== 'unchanged')!;
      refusals.push({
        symbol: c.name,
        file: fc.path,
        line: c.new?.span.start ?? null,
        message: 'a function defined in a header is compiled into every file that includes it; patch the functions that call it instead',
      });
      continue;
    }
    const unit = transformFile(fc, opts, refusals, notes, bindings, functions);
    if (!unit) continue;
    const base = path.posix.basename(fc.path, '.c').replace(/[^A-Za-z0-9_]/g, '_');
    const unitName = `patched_${units.length}_${base}.c`;
    files[unitName] = unit.text;
    units.push({ path: fc.path, object: unit.object, unit: unitName });
    for (const [rel, text] of unit.headers) files[`src/${rel}`] = text;
    // gcc drops an -I directory that does not exist, and `"../x.h"` is looked up through it.
    files[`src/${path.posix.dirname(fc.path)}/.keep`] ??= '';
    ccflags.push(...unit.ccflags.map((f) => `CFLAGS_${unitName.replace(/\.c$/, '.o')} += ${f}`));
    // The unit keeps its own copies of static functions the kernel inlined; the patched code
    // may call none of them, and gcc's "defined but not used" about them is noise to the author.
    ccflags.push(`CFLAGS_${unitName.replace(/\.c$/, '.o')} += -Wno-unused-function`);
    if (/#\s*include\s*"kpatch-macros\.h"/.test(unit.text)) files['kpatch-macros.h'] = KPATCH_MACROS;
    if (/#\s*include\s*"kpatch-syscall\.h"/.test(unit.text)) files['kpatch-syscall.h'] = KPATCH_SYSCALL;
    if (unit.callbacks.length) {
      if (callbacks.has(unit.object))
        refusals.push({
          symbol: fc.path,
          file: fc.path,
          line: null,
          message: `two patched files register klp callbacks for ${unit.object}, which has one set`,
        });
      callbacks.set(unit.object, unit.callbacks);
      files['kpatch-macros.h'] = KPATCH_MACROS;
      ccflags.push(`CFLAGS_${unitName.replace(/\.c$/, '.o')} += -D__LIVEPATCH_OBJECT=${unit.object}`);
    }
  }
  if (!functions.length && !callbacks.size && !refusals.length) {
    refusals.push({
      symbol: '(patch)',
      file: null,
      line: null,
      message: 'the patch changes no function body in a .c file: there is nothing to livepatch',
    });
  }
  const seen = new Set<string>();
  for (const f of functions) {
    if (seen.has(f.newName))
      refusals.push({
        symbol: f.oldName,
        file: f.file,
        line: null,
        message: `two patched files change a function named ${f.oldName}; give the patch one file per module`,
      });
    seen.add(f.newName);
  }
  if (refusals.length) throw new GenerateError(dedupeRefusals(refusals));

  const byObject = new Map<string, PatchedFunction[]>();
  for (const f of functions) byObject.set(f.object, [...(byObject.get(f.object) ?? []), f]);
  for (const object of callbacks.keys()) if (!byObject.has(object)) byObject.set(object, []);
  files['klp_patch_tables.c'] = tablesSource(name, result, functions, byObject, callbacks, opts.replace === true);
  const objs = [...units.map((u) => u.unit), 'klp_patch_tables.c'].map((u) => u.replace(/\.c$/, '.o'));
  files.Kbuild = [`obj-m := ${name}.o`, `${name}-y := ${objs.join(' ')}`, ...ccflags, ''].join('\n');
  files.Makefile = `# Build against the running kernel, or KDIR=/path/to/build. The .ko this makes still holds\n# placeholder symbols and does not load: livepatch-check --build-module (or livepatch-deploy)\n# builds it and rewrites them as klp relocations.\nKDIR ?= /lib/modules/$(shell uname -r)/build\n\nall:\n\t$(MAKE) -C $(KDIR) M=$(CURDIR) KBUILD_MODPOST_WARN=1 modules\n\nclean:\n\t$(MAKE) -C $(KDIR) M=$(CURDIR) clean\n`;
  return { name, files, functions, units, bindings: [...bindings.values()], objects: [...byObject.keys()], notes: [...new Set(notes)] };
}

interface UnitResult {
  text: string;
  object: string;
  /** klp callbacks the file registers with kpatch's KPATCH_*_CALLBACK macros. */
  callbacks: CallbackKind[];
  headers: Map<string, string>;
  ccflags: string[];
}

function transformFile(
  fc: FileChange,
  opts: PatchedUnitOptions,
  refusals: Refusal[],
  notes: string[],
  bindings: Map<string, KlpSymbol>,
  functions: PatchedFunction[],
): UnitResult | null {
  const post = fc.post!;
  const text = post.text;
  const object = objectName(fc, opts.tree);
  // kallsyms lists only vmlinux and the loaded modules: for a module it does not list, it says nothing.
  const ks = opts.kallsyms?.covers(object) ? opts.kallsyms : null;
  if (opts.kallsyms && !ks)
    notes.push(`${fc.path}: the target's kallsyms has no symbol of ${object} (not loaded): its symbols are assumed unique (sympos 0)`);
  const exported = opts.exported ?? null;
  const changedNames = new Set(fc.pairing.functions.filter((c) => c.kind === 'body').map((c) => c.name));
  const addedFns = new Set(fc.pairing.functions.filter((c) => c.kind === 'added').map((c) => c.new!));
  const addedVars = new Set(fc.pairing.variables.filter((c) => c.kind === 'added').map((c) => c.new!));
  for (const c of fc.pairing.functions) {
    if (c.kind === 'signature' && sameType(c.old!.signature, c.new!.signature)) {
      changedNames.add(c.name); // only attributes changed: still the same function to its callers
      continue;
    }
    // KPATCH_SYSCALL_DEFINEn in place of SYSCALL_DEFINEn: the same syscall, through kpatch's macro.
    if (c.kind === 'signature' && /^KPATCH_/.test(c.new!.syscallMacro ?? '') && /^SYSCALL_DEFINE/.test(c.old!.syscallMacro ?? '')) {
      changedNames.add(c.name);
      continue;
    }
    if (c.kind === 'signature') {
      refusals.push({
        symbol: c.name,
        file: fc.path,
        line: c.new!.span.start,
        message: `the signature of ${c.name}() changed; its unpatched callers would pass the old arguments. Add a new function and patch the callers instead`,
      });
    }
  }
  // A changed function the kernel inlined into its callers (declared inline, or absent from
  // the target's kallsyms) cannot be patched by itself: its callers in this file carry the
  // old copy. They become changed functions too, and it stays an inline helper of theirs.
  const inlined = new Set<string>();
  const isInlined = (name: string): boolean => {
    const fn = post.functions.find((f) => f.name === name);
    if (!fn) return false;
    return fn.inline !== 'none' || (!!ks && fn.storage === 'static' && ks.entries(name, object).length === 0);
  };
  for (let grew = true; grew; ) {
    grew = false;
    for (const name of [...changedNames]) {
      if (inlined.has(name) || !isInlined(name)) continue;
      inlined.add(name);
      for (const caller of post.functions) {
        if (changedNames.has(caller.name) || caller.syscallMacro) continue;
        if (caller.calls.some((c) => c.name === name) || caller.identifiers.has(name)) {
          changedNames.add(caller.name);
          notes.push(`${fc.path}: ${caller.name}() is patched too: it carries an inlined copy of the changed ${name}()`);
          grew = true;
        }
      }
    }
  }
  const problems = new Map<string, Problem>();
  const edits: Edit[] = [];
  const oldLocals = (name: string) =>
    new Set(fc.pairing.functions.find((c) => c.name === name && c.old)?.old?.staticLocals.map((l) => l.name) ?? []);

  let tree: ReturnType<CParser['parse']>;
  try {
    tree = opts.parser.parse(text);
  } catch (err) {
    // The parse budget protects an editor from pathological text; a loaded machine can
    // exceed it on a big real file, so one more try before giving up.
    if (!(err instanceof ParseTimeout)) throw err;
    tree = opts.parser.parse(text);
  }
  try {
    const top = topLevel(tree.rootNode);
    const defsByBody = new Map<number, SyntaxNode>();
    for (const n of top) if (n.type === 'function_definition') defsByBody.set(n.childForFieldName('body')?.startIndex ?? -1, n);

    const definedFns = new Map<string, FunctionDef[]>();
    for (const fn of post.functions) definedFns.set(fn.name, [...(definedFns.get(fn.name) ?? []), fn]);

    // 1. Which functions keep their bodies.
    const keep = new Set<FunctionDef>();
    const bind = (name: string, isStatic: boolean, line: number, kind: 'function' | 'data'): string | 'copy' | 'direct' => {
      const exporter = exported?.get(name);
      if (!isStatic && exporter === 'vmlinux') return 'direct';
      let sympos = 0;
      if (ks) {
        const here = ks.entries(name, object);
        if (here.length === 0) {
          if (kind === 'function' && isStatic) return 'copy';
          problems.set(name, {
            symbol: name,
            line,
            message: `${name} is not in the target's kallsyms for ${object} (the compiler removed or renamed it there), so the patched code cannot refer to the running kernel's ${kind === 'function' ? 'function' : 'object'}`,
          });
        } else if (here.length > 1) {
          if (kind === 'function' && isStatic) return 'copy';
          // Which of the same-named symbols is this file's: kallsyms does not say.
          problems.set(name, {
            symbol: name,
            line,
            message: `${object} has ${here.length} symbols named ${name} and kallsyms does not say which one ${fc.path} defines, so the patched code cannot be bound to the running kernel's ${name}`,
          });
        } else {
          sympos = 0;
        }
      }
      const sym = { object, name, sympos };
      bindings.set(encodePlaceholder(sym), sym);
      return placeholderBinding(sym);
    };

    const fnBinding = new Map<FunctionDef, string | 'direct'>();
    for (const fn of post.functions) {
      if (inlined.has(fn.name)) {
        keep.add(fn);
        continue;
      }
      if (changedNames.has(fn.name) || addedFns.has(fn)) continue;
      if (fn.inline !== 'none') {
        keep.add(fn);
        continue;
      }
      if (fn.syscallMacro || !defsByBody.has(fn.bodySpan.startByte)) continue;
      const b = bind(fn.name, fn.storage === 'static', fn.span.start, 'function');
      if (b === 'copy') {
        keep.add(fn);
        notes.push(
          `${fc.path}: ${fn.name}() is not a unique symbol of ${object} in the target's kallsyms (inlined or duplicated there); the module compiles its own copy`,
        );
      } else fnBinding.set(fn, b);
    }

    // 2. Function definitions: changed ones renamed, others declarations.
    for (const fn of post.functions) {
      const node = defsByBody.get(fn.bodySpan.startByte);
      if (changedNames.has(fn.name) && /^KPATCH_SYSCALL_DEFINE/.test(fn.syscallMacro ?? '')) {
        // kpatch-syscall.h (KPATCH_SYSCALL) makes livepatch___x64_sys_<name> and, with
        // IA32 emulation, livepatch___ia32_sys_<name>: the syscall's entry points.
        for (const abi of ['x64', 'ia32']) {
          functions.push({
            object,
            oldName: `__${abi}_sys_${fn.name}`,
            newName: `livepatch___${abi}_sys_${fn.name}`,
            sympos: 0,
            file: fc.path,
            ...(abi === 'ia32' ? { ifdef: 'CONFIG_IA32_EMULATION' } : {}),
          } as PatchedFunction);
        }
        continue;
      }
      if (inlined.has(fn.name) && node) {
        const body = transformStaticLocals(fn, oldLocals(fn.name), node, text, object, ks, bindings, refusals, fc.path);
        edits.push({ start: fn.bodySpan.startByte, end: fn.bodySpan.endByte, text: body });
        continue;
      }
      if (changedNames.has(fn.name) && !addedFns.has(fn)) {
        if (!node) {
          refusals.push({
            symbol: fn.name,
            file: fc.path,
            line: fn.span.start,
            message: `${fn.name}() is defined by a macro (${fn.syscallMacro ?? 'not a plain C definition'}), so its symbol cannot be named from the source`,
          });
          continue;
        }
        const ident = declaratorIdentifier(node.childForFieldName('declarator'));
        if (!ident || text.slice(ident.startIndex, ident.endIndex) !== fn.name) {
          refusals.push({
            symbol: fn.name,
            file: fc.path,
            line: fn.span.start,
            message: `the definition of ${fn.name}() is generated by a macro, so its symbol cannot be named from the source`,
          });
          continue;
        }
        const newName = `livepatch_${fn.name}`;
        const fd = innermostFunctionDeclarator(node.childForFieldName('declarator'))!;
        const head = text.slice(fn.span.startByte, fd.endIndex);
        // The original stays reachable for the kept code (through the ftrace redirect).
        const b = bind(fn.name, fn.storage === 'static', fn.span.start, 'function');
        // On the definition's first line, so every line keeps its number.
        const origDecl = b === 'copy' ? '' : `${declarationHead(head).replace(/\s*\n\s*/g, ' ')}${b === 'direct' ? '' : ' ' + b}; `;
        const renamed =
          text
            .slice(fn.span.startByte, ident.startIndex)
            .replace(/\bstatic\b\s*/, '')
            .replace(/\b(?:inline|__always_inline|noinline)\b\s*/g, '') +
          newName +
          text.slice(ident.endIndex, fn.bodySpan.startByte);
        const body = transformStaticLocals(fn, oldLocals(fn.name), node, text, object, ks, bindings, refusals, fc.path);
        edits.push({ start: fn.span.startByte, end: fn.span.endByte, text: `${origDecl}${renamed}${body}` });
        const sympos = 0;
        if (ks) {
          const n = ks.entries(fn.name, object).length;
          if (n === 0)
            refusals.push({
              symbol: fn.name,
              file: fc.path,
              line: fn.span.start,
              message: `${fn.name} is not in the target's kallsyms for ${object}: the running kernel has no such function to patch (inlined into its callers; patch them instead)`,
            });
          if (n > 1)
            refusals.push({
              symbol: fn.name,
              file: fc.path,
              line: fn.span.start,
              message: `${object} has ${n} functions named ${fn.name} and kallsyms does not say which one ${fc.path} defines, so old_sympos cannot be chosen`,
            });
        }
        // Two definitions of one name in one file are #if alternatives (kernel/dma.c's
        // proc_dma_show): both are renamed, the preprocessor keeps one, the kernel has one.
        if (!functions.some((f) => f.file === fc.path && f.oldName === fn.name))
          functions.push({ object, oldName: fn.name, newName, sympos, file: fc.path });
        continue;
      }
      if (addedFns.has(fn) || keep.has(fn)) continue;
      if (fn.syscallMacro) {
        // SYSCALL_DEFINEn makes the syscall's functions and its trace metadata; kept code
        // never calls them by name, and the metadata must stay the kernel's.
        edits.push({ start: fn.span.startByte, end: fn.span.endByte, text: '' });
        continue;
      }
      if (!node) continue;
      const b = fnBinding.get(fn);
      const fd = innermostFunctionDeclarator(node.childForFieldName('declarator'));
      if (!b || !fd) continue;
      const head = declarationHead(text.slice(fn.span.startByte, fd.endIndex));
      const after = text.slice(fd.endIndex, fn.bodySpan.startByte).trim();
      edits.push({
        start: fn.span.startByte,
        end: fn.span.endByte,
        text: `${head}${b === 'direct' ? '' : ' ' + b}${after ? ' ' + after : ''};`,
      });
    }

    // 3. Prototypes of the file's own functions take the same binding (and lose `static`).
    const boundByName = new Map<string, string | 'direct'>();
    for (const [fn, b] of fnBinding) boundByName.set(fn.name, b);
    for (const name of changedNames) {
      if (inlined.has(name)) continue;
      const fn = definedFns.get(name)?.[0];
      if (fn && !keep.has(fn)) {
        const sym = { object, name, sympos: 0 };
        if (bindings.has(encodePlaceholder(sym))) boundByName.set(name, placeholderBinding(sym));
      }
    }
    for (const n of top) {
      if (n.type !== 'declaration') continue;
      const decls = children(n).filter(
        (k) => k.type === 'function_declarator' || k.type === 'pointer_declarator' || k.type === 'init_declarator',
      );
      if (decls.length !== 1) continue;
      const fd = innermostFunctionDeclarator(decls[0]);
      const ident = declaratorIdentifier(decls[0]);
      if (!fd || !ident) continue;
      const fname = text.slice(ident.startIndex, ident.endIndex);
      const b = boundByName.get(fname);
      if (b === undefined) continue;
      const lineStart = text.lastIndexOf('\n', n.startIndex - 1) + 1;
      const start = /^[ \t]*$/.test(text.slice(lineStart, n.startIndex)) ? lineStart : n.startIndex;
      const rest = text.slice(fd.endIndex, n.endIndex).replace(/;\s*$/, '').trim();
      edits.push({
        start,
        end: n.endIndex,
        text: `${declarationHead(text.slice(start, fd.endIndex))}${b === 'direct' ? '' : ' ' + b}${rest ? ' ' + rest : ''};`,
      });
    }

    // 4. File-scope objects: an unused renamed copy for the type, and an extern bound to the original.
    const groups = new Map<number, VariableDef[]>();
    for (const v of post.variables) {
      if (v.storage === 'extern') continue;
      groups.set(v.span.startByte, [...(groups.get(v.span.startByte) ?? []), v]);
    }
    for (const vars of groups.values()) {
      if (vars.every((v) => addedVars.has(v))) continue; // new data: the module's own
      const v0 = vars[0];
      const lineStart = text.lastIndexOf('\n', v0.span.startByte - 1) + 1;
      const start = /^[\s\w]*$/.test(text.slice(lineStart, v0.span.startByte)) ? lineStart : v0.span.startByte;
      // `enum reboot_mode reboot_mode DEFAULT_REBOOT_MODE;`: an object-like macro tail can end the node early.
      let end = v0.span.endByte;
      if (!/;\s*$/.test(text.slice(start, end))) {
        const tail = /^[\s\w]*;/.exec(text.slice(end));
        if (tail) end += tail[0].length;
      }
      const declText = text.slice(start, end);
      // Not a declaration the parse closed: a function head with an annotation tree-sitter
      // took for a declarator (`static struct hlist_head * __net_init f(void)`). Leave it.
      if (!/;\s*$/.test(declText)) continue;
      const macro = v0.attributes.find((a) => /^(?:DEFINE|DECLARE)_|^L?H?LIST_HEAD$|^LIST_HEAD$/.test(a)) ?? null;
      const isStatic = v0.storage === 'static';
      const isConst = /\bconst\b/.test(v0.type) && !/\*/.test(v0.type);
      const decls: string[] = [];
      let copy = false;
      const bound: { v: VariableDef; b: string }[] = [];
      for (const v of vars) {
        const b = bind(v.name, isStatic, v.span.start, 'data');
        if (b === 'copy') copy = true;
        if (ks && problems.has(v.name) && isConst && ks.entries(v.name, object).length === 0) {
          // Read-only data the compiler folded away: a copy is the same data.
          problems.delete(v.name);
          copy = true;
        }
        bound.push({ v, b });
      }
      if (copy) continue;
      if (macro && /^DEFINE_PER_CPU/.test(macro)) {
        const open = declText.indexOf('(', declText.indexOf(macro));
        const close = matchParen(declText, open);
        if (open < 0 || close < 0) continue;
        const b = bound[0].b;
        decls.push(`${macro.replace(/^DEFINE_/, 'DECLARE_')}${declText.slice(open, close + 1)}${b === 'direct' ? '' : ' ' + b};`);
      } else {
        if (macro && !SINGLE_OBJECT_MACROS.test(macro)) {
          for (const v of vars)
            problems.set(v.name, {
              symbol: v.name,
              line: v.span.start,
              message: `${v.name} is defined by ${macro}(), which may define more than one object; bind what the patched code needs by hand`,
            });
          continue;
        }
        let shadow = declText;
        for (const v of vars) shadow = shadow.replace(wordRe(v.name), SHADOW + v.name);
        // The copy only lends its type: static, and never weak (a static symbol cannot be).
        shadow = shadow.replace(/\b__weak\b|__attribute__\s*\(\(\s*(?:__)?weak(?:__)?\s*\)\)/g, '');
        if (!isStatic) shadow = 'static ' + shadow.replace(/^\s*/, '');
        decls.push(shadow.trim());
        for (const { v, b } of bound) decls.push(`extern __typeof__(${SHADOW}${v.name}) ${v.name}${b === 'direct' ? '' : ' ' + b};`);
      }
      edits.push({ start, end, text: decls.join(' ') });
    }

    // 5. What registers the file with the kernel goes.
    for (const m of text.matchAll(DROPPED_MACROS)) {
      const open = m.index! + m[0].length - 1;
      const close = matchParen(text, open);
      if (close < 0) continue;
      let end = close + 1;
      const semi = /^\s*;/.exec(text.slice(end));
      if (semi) end += semi[0].length;
      edits.push({ start: m.index!, end, text: '' });
    }
    for (const m of text.matchAll(/^[ \t]*#[ \t]*define[ \t]+CREATE_TRACE_POINTS\b.*$/gm)) {
      // The tracepoints are the kernel's; the module must use them, not define its own.
      edits.push({ start: m.index!, end: m.index! + m[0].length, text: '' });
    }
  } finally {
    tree.delete();
  }

  // Refuse only what the kept code can reach.
  const reach = reachableWords(fc, changedNames, addedFns);
  for (const [sym, p] of problems) {
    if (reach.has(sym)) refusals.push({ symbol: sym, file: fc.path, line: p.line, message: p.message });
  }
  const { headers, flags, missing } = buildContext(fc.path, text, opts.tree);
  for (const h of missing) {
    const line = text.slice(0, text.indexOf(`"${h}"`)).split('\n').length - 1;
    refusals.push({
      symbol: h,
      file: fc.path,
      line,
      message: /^kpatch-/.test(h)
        ? `${h} is kpatch-build's own header (its KPATCH_* macros are kpatch-build features); build this patch with the kpatch-build backend`
        : `${h} is neither in the kernel tree nor in the patch, so the patched file cannot be compiled`,
    });
  }
  // Built-in code is compiled without MODULE in the kernel: headers hide declarations from
  // modules (`#ifndef MODULE` in asm/tlbflush.h), and the file's own #ifdef MODULE branches
  // must be the ones vmlinux runs. (kbuild's -DMODULE comes after any CFLAGS_<obj>.o.)
  const prologue = object === 'vmlinux' ? '#undef MODULE\n' : '';
  const unitText = `${prologue}#line 1 ${JSON.stringify(fc.path)}\n${applyEdits(text, edits)}`;
  const callbacks = [...post.escapeHatches.values()].map((m) => CALLBACK_MACROS[m]).filter((k): k is CallbackKind => !!k);
  return { text: unitText, object, headers, ccflags: flags, callbacks: [...new Set(callbacks)] };
}

/** Identifiers the kept code can reach: changed and new bodies, and the file's macros they use. */
function reachableWords(fc: FileChange, changed: Set<string>, added: Set<FunctionDef>): Set<string> {
  const post = fc.post!;
  const words = new Set<string>();
  const queue: string[] = [];
  const addText = (t: string) => {
    for (const w of t.match(/[A-Za-z_]\w*/g) ?? [])
      if (!words.has(w)) {
        words.add(w);
        queue.push(w);
      }
  };
  for (const fn of post.functions)
    if (changed.has(fn.name) || added.has(fn)) addText(post.text.slice(fn.bodySpan.startByte, fn.bodySpan.endByte));
  const macros = new Map(post.macros.map((m) => [m.name, m]));
  const inlines = new Map(post.functions.filter((f) => f.inline !== 'none').map((f) => [f.name, f]));
  while (queue.length) {
    const w = queue.pop()!;
    const m = macros.get(w);
    if (m) addText(m.body);
    const f = inlines.get(w);
    if (f) addText(post.text.slice(f.bodySpan.startByte, f.bodySpan.endByte));
  }
  return words;
}

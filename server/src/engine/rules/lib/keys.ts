// Static keys and static calls in patched code: where the key is defined, and whether a key in a module gets the patch refused.

import type { FunctionDef } from '../../model';
import type { ObjectFacts } from '../../tree/kbuild';
import type { FileChange, RuleContext } from '../rule';
import { isIgnoredFunction, touchedFunctions } from './changedFunctions';
import { usesIn, type Use } from './codeText';
import { fileData, type DataVar } from './fileData';
import { buildOf, describeModule, isModuleBuild } from './moduleBuild';
import { staticLocalNames } from './stateMacros';
import { findDefinition } from './treeSearch';
import { codeOnly } from './codeText';
import { lineAt, lineStarts } from '../../util/text';
import type { ExpandedView } from '../../expand/expanded';

export type KeyHome =
  /** Defined by the patch itself (new static local or new global): lives in the patch module. */
  | { kind: 'new' }
  /** Defined by the patched object already (file scope or a static local that existed). */
  | { kind: 'this-object'; line: number }
  | {
      kind: 'elsewhere';
      file: string;
      line: number;
      facts: ObjectFacts | null;
      /** Found through the preprocessor's view. */ expanded?: boolean;
    }
  | { kind: 'unknown' };

export interface KeyQuery {
  fc: FileChange;
  oldFn: FunctionDef | null;
  newFn: FunctionDef;
  key: string;
  /** Matches the key's definition in a file's code (comments blanked); built per key. */
  defRe: RegExp;
  /** Is this file-scope object a definition of the key? */
  isDef(v: DataVar): boolean;
  /** The keys of this kind a preprocessor's view defines (engine/expand), when it can tell. */
  expandedKey?(view: ExpandedView | null): ReadonlyMap<string, { file: string; line: number }> | null;
  /** A defining macro that pastes a key prefix (`DEFINE_STATIC_CALL_NULL(kvm_x86_##func, ...)`): group 1 the prefix. */
  pastedDef?: { words: string[]; re: RegExp };
}

/**
 * Each use of a key-taking macro (`re`, group 1 the macro, group 2 the key) in
 * the functions the patch changed, skipping objects known to be built in
 * (vmlinux keys are fine on 6.1) and functions the author told kpatch to ignore.
 */
export function keyUses(
  ctx: RuleContext,
  re: RegExp,
  /** The key as written at a use: only the first use of each key in a function is returned. */
  keyText: (use: Use) => string,
): { fc: FileChange; facts: ObjectFacts | null; fn: ReturnType<typeof touchedFunctions>[number]; use: Use }[] {
  const out: { fc: FileChange; facts: ObjectFacts | null; fn: ReturnType<typeof touchedFunctions>[number]; use: Use }[] = [];
  const seen = new Set<string>();
  for (const fc of ctx.files) {
    if (!fc.post || !fc.isC) continue;
    // The object's build is asked only once a use turns up: it may wait for a git
    // over the tree's Kconfig files, and most patches use no key.
    let facts: ObjectFacts | null | undefined;
    for (const fn of touchedFunctions(fc)) {
      if (isIgnoredFunction(fc, fn.new.name)) continue;
      for (const use of usesIn(fc.post, fn.new, re)) {
        if (facts === undefined) facts = buildOf(ctx, fc.path);
        if (facts?.build === 'builtin') break;
        const id = `${fc.path}\0${fn.new.name}\0${keyText(use)}`;
        if (seen.has(id)) continue;
        seen.add(id);
        out.push({ fc, facts, fn, use });
      }
    }
  }
  return out;
}

/** Related location for where a key is defined, if known. */
export function keyRelated(home: KeyHome, fc: FileChange, what: string): { file: string; line: number; message: string }[] {
  if (home.kind === 'elsewhere') return [{ file: home.file, line: home.line, message: `${what} is defined here` }];
  if (home.kind === 'this-object') return [{ file: fc.path, line: home.line, message: `${what} is defined here` }];
  return [];
}

/** Where a key (static key or static call) is defined, as far as the patch and the tree tell. */
export function keyHome(ctx: RuleContext, q: KeyQuery, budget: { lookups: number }): KeyHome {
  const { fc, key } = q;
  if (fc.post && staticLocalNames(fc.post, q.newFn).has(key)) {
    const old = q.oldFn && fc.pre ? staticLocalNames(fc.pre, q.oldFn).get(key) : undefined;
    return old === undefined ? { kind: 'new' } : { kind: 'this-object', line: staticLocalNames(fc.post, q.newFn).get(key)! };
  }
  const postDef = fc.post ? fileData(fc.post).find((v) => v.name === key && v.storage !== 'extern' && q.isDef(v)) : undefined;
  if (postDef) {
    const preDef = fc.pre ? fileData(fc.pre).find((v) => v.name === key && v.storage !== 'extern' && q.isDef(v)) : undefined;
    return preDef ? { kind: 'this-object', line: postDef.span.start } : { kind: 'new' };
  }
  if (!ctx.tree || budget.lookups <= 0) return q.expandedKey ? expandedKeyHome(ctx, q) : { kind: 'unknown' };
  budget.lookups--;
  const def = findDefinition(ctx.tree, key, q.defRe, [fc.path]);
  if (!def) return q.expandedKey ? expandedKeyHome(ctx, q) : { kind: 'unknown' };
  return { kind: 'elsewhere', file: def.file, line: def.line, facts: buildOf(ctx, def.file) };
}

/**
 * A key the source never spells out (token pasting: KVM_X86_OP(x) defines kvm_x86_x): the
 * preprocessor's view of the patched file, then of the tree files whose defining macro
 * pastes a prefix of the key, says which object defines it. Unknown without a view.
 */
function expandedKeyHome(ctx: RuleContext, q: KeyQuery): KeyHome {
  if (!ctx.expandedView || !q.expandedKey) return { kind: 'unknown' };
  const { fc } = q;
  const post = fc.post ? ctx.expandedView(fc.path, 'post') : null;
  const mine = q.expandedKey(post)?.get(q.key);
  if (mine) {
    const pre = fc.pre ? ctx.expandedView(fc.path, 'pre') : null;
    if (pre && !q.expandedKey(pre)?.has(q.key)) return { kind: 'new' };
    return { kind: 'this-object', line: mine.file === fc.path ? mine.line : 0 };
  }
  if (!ctx.tree || !q.pastedDef) return { kind: 'unknown' };
  for (const f of ctx.tree.grepWords(q.pastedDef.words, { limit: 200, cOnly: true })) {
    if (f === fc.path) continue;
    const text = ctx.tree.readFile(f);
    if (!text) continue;
    const code = codeOnly(text);
    const m = [...code.matchAll(q.pastedDef.re)].find((x) => q.key.startsWith(x[1]) && q.key.length > x[1].length);
    if (!m) continue;
    const def = q.expandedKey(ctx.expandedView(f, 'post'))?.get(q.key);
    if (!def) continue;
    const line = def.file === f ? def.line : lineAt(lineStarts(code), m.index!);
    return { kind: 'elsewhere', file: f, line, facts: buildOf(ctx, f), expanded: true };
  }
  return { kind: 'unknown' };
}

/** Error, warning or nothing for a key used by patched code in `fc`, given where the key lives. */
export function judgeKey(
  ctx: RuleContext,
  fc: FileChange,
  facts: ObjectFacts | null,
  home: KeyHome,
  label: string,
  viaPointer: boolean,
): { severity: 'error' | 'warning'; where: string } | null {
  if (home.kind === 'new') return null;
  if (facts?.build === 'builtin') return null;
  if (home.kind === 'elsewhere' && home.facts?.build === 'builtin') return null;
  const patchedIsModule = isModuleBuild(facts?.build);
  const noTree = ctx.tree ? 'the Makefile does not say' : 'no kernel tree given';
  if (home.kind === 'elsewhere') {
    if (isModuleBuild(home.facts?.build)) {
      const how = home.expanded ? ' (through a macro that pastes its name, as the preprocessor shows)' : '';
      return {
        severity: 'error',
        where: `${label} is defined in ${home.file}${how}, which is built as ${describeModule(home.facts!, home.file)}`,
      };
    }
    return {
      severity: 'warning',
      where: `${label} is defined in ${home.file}, and the checker cannot tell whether that object is built into vmlinux (fine) or as a module (refused)`,
    };
  }
  if (home.kind === 'this-object') {
    if (patchedIsModule)
      return { severity: 'error', where: `${label} is defined in this file, which is built as ${describeModule(facts!, fc.path)}` };
    return {
      severity: 'warning',
      where: `${label} is defined in this file; this is refused if the object is built as a module, fine if it is built in (${noTree})`,
    };
  }
  if (patchedIsModule) {
    return {
      severity: 'warning',
      where: `this file is built as ${describeModule(facts!, fc.path)} and the checker could not find where ${label} is defined${viaPointer ? ' (it is reached through a pointer)' : ''}; unless it is in vmlinux, this is refused`,
    };
  }
  return { severity: 'warning', where: `whether this is refused depends on whether the object, or ${label}, is in a module (${noTree})` };
}

// What the target's symbol list says about one function of a patched file: whether the
// running kernel has an out-of-line copy of it, whether it has compiler clones, or whether
// it was inlined away. Each answer is only given when the list can speak for this file.

import type { FileIndex, FunctionDef } from '../../model';
import type { FileChange, RuleContext } from '../rule';
import { functionEntries, type TargetFacts } from '../../target/facts';
import { escapeRegExp } from '../../util/text';
import { callCount } from './callers';
import { buildOf } from './moduleBuild';

/**
 * The objects a file's code ends up in: vmlinux, its module, or either; null when
 * unknown (a header, no tree), and then any object may hold its copies.
 */
export function targetObjects(ctx: RuleContext, file: string): string[] | null {
  if (!file.endsWith('.c')) return null;
  const b = buildOf(ctx, file);
  if (!b) return null;
  const mod = (b.moduleName ?? b.object.replace(/\.o$/, '')).replace(/-/g, '_');
  if (b.build === 'builtin') return ['vmlinux'];
  if (b.build === 'module') return [mod];
  if (b.build === 'maybe-module') return ['vmlinux', mod];
  return null;
}

/**
 * Other .c files of the tree that define a function called `name`: a static function of the
 * same name elsewhere makes a listing ambiguous. Empty without a tree (nothing to say).
 */
export function otherDefiners(ctx: RuleContext, name: string, file: string): string[] {
  if (!ctx.tree) return [];
  const head = new RegExp(`(?:^|\\n)[^\\n#;=(){}]*(?<![\\w$])${escapeRegExp(name)}\\s*\\([^;{}]*\\)[^;{}]*\\{`);
  const out: string[] = [];
  for (const f of ctx.tree.grepWord(name, 200)) {
    if (f === file || !f.endsWith('.c')) continue;
    let text: string | null = null;
    try {
      text = ctx.tree.readFile(f);
    } catch {
      text = null;
    }
    if (text && head.test(text)) out.push(f);
  }
  return out;
}

/** Depth of #if/#ifdef/#ifndef nesting at `line` of a .c file: code under a condition may not be built. */
export function conditionalDepth(index: FileIndex, line: number): number {
  let depth = 0;
  for (let l = 0; l < line && l < index.lines.length; l++) {
    const m = /^\s*#\s*(if|ifdef|ifndef|endif)\b/.exec(index.lines[l]);
    if (!m) continue;
    depth += m[1] === 'endif' ? -1 : 1;
  }
  return Math.max(0, depth);
}

export interface OutOfLine {
  /** The listing of `name` in the file's objects (text symbols). */
  entries: { type: string; object: string }[];
  /** Other files that define a function of the same name: the listing may be theirs. */
  ambiguousWith: string[];
}

/** The out-of-line copies the target lists for `fn` of `fc`; null without a symbol list or when none is listed. */
export function outOfLineCopies(ctx: RuleContext, facts: TargetFacts, fc: FileChange, name: string): OutOfLine | null {
  if (!facts.symbols) return null;
  const entries = functionEntries(facts, name, targetObjects(ctx, fc.path));
  if (!entries.length) return null;
  return { entries, ambiguousWith: otherDefiners(ctx, name, fc.path) };
}

/**
 * True when the target certainly has no out-of-line copy of static `fn` of a .c file because
 * gcc inlined it into every caller: the file is built (another of its out-of-line functions is
 * listed in the same object), the function is not under a preprocessor condition, it has callers,
 * and neither it nor a clone of it is listed.
 */
export function fullyInlined(
  ctx: RuleContext,
  facts: TargetFacts,
  fc: FileChange,
  fn: FunctionDef,
): { object: string; witness: string } | null {
  const pre = fc.pre;
  if (!facts.symbols || !pre || !fc.path.endsWith('.c') || fn.storage !== 'static') return null;
  const before = pre.functions.find((f) => f.name === fn.name);
  if (!before || callCount(pre, fn.name) === 0 || conditionalDepth(pre, before.span.start) > 0) return null;
  const objects = targetObjects(ctx, fc.path);
  if (functionEntries(facts, fn.name, objects).length || facts.symbols.clonesOf(fn.name, objects ?? undefined).length) return null;
  // A sibling that is certainly out of line (not inline, not static-with-one-caller) shows the file is built.
  for (const sib of pre.functions) {
    if (sib.name === fn.name || sib.inline !== 'none' || sib.storage !== 'none' || sib.syscallMacro) continue;
    if (conditionalDepth(pre, sib.span.start) > 0) continue;
    const e = functionEntries(facts, sib.name, objects);
    // A global name is unique in its object; in any object it must at least be unique overall.
    if (e.length === 1 && (objects || facts.symbols.entries(sib.name).length === 1)) return { object: e[0].object, witness: sib.name };
  }
  return null;
}

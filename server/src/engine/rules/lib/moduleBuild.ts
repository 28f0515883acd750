// How a patched file's object is built (into vmlinux or as a module), for rules whose verdict depends on it.

import * as path from 'node:path';
import { objectFacts, type ObjectFacts } from '../../tree/kbuild';
import type { RuleContext } from '../rule';

export type BuildKind = ObjectFacts['build'];

/** How the object of a .c file is built; null without a tree, 'unknown' for headers. */
export function buildOf(ctx: RuleContext, file: string): ObjectFacts | null {
  if (!ctx.tree) return null;
  if (!file.endsWith('.c'))
    return { object: path.posix.basename(file), ftraceRemoved: null, build: 'unknown', symbol: null, moduleName: null };
  let facts: ObjectFacts;
  try {
    facts = objectFacts(ctx.tree, file);
  } catch {
    return null;
  }
  return facts;
}

export function isModuleBuild(b: BuildKind | undefined): boolean {
  return b === 'module' || b === 'maybe-module';
}

/** "module foo (CONFIG_FOO=m)" for messages. */
export function describeModule(facts: ObjectFacts, file: string): string {
  const mod = facts.moduleName ?? path.posix.basename(file).replace(/\.c$/, '');
  if (facts.build === 'maybe-module') return `module ${mod} when ${facts.symbol ?? 'its tristate option'}=m`;
  return `module ${mod}${facts.symbol ? ` (${facts.symbol}=m)` : ''}`;
}

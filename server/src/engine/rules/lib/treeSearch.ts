// Bounded, cached look-ups in the kernel tree: read a file, find where a word is defined.

import { lineAt, lineStarts } from '../../util/text';
import type { KernelTree } from '../../tree/kernelTree';
import { codeOnly } from './codeText';

/** How long a tree look-up stays valid in memory (the tree may change under a running server). */
export const TREE_CACHE_MS = 5 * 60 * 1000;

/** A tree file's text; null when it cannot be read. */
export function safeRead(tree: KernelTree, rel: string): string | null {
  try {
    return tree.readFile(rel);
  } catch {
    return null;
  }
}

const defCache = new Map<string, { at: number; hit: { file: string; line: number } | null }>();

/** Where a tree file defines something matching `defRe` (needs group-free regex); .c files first. */
export function findDefinition(tree: KernelTree, word: string, defRe: RegExp, skip: string[] = []): { file: string; line: number } | null {
  const k = `${tree.root}\0${word}\0${defRe.source}\0${skip.join(',')}`;
  const hit = defCache.get(k);
  if (hit && Date.now() - hit.at < TREE_CACHE_MS) return hit.hit;
  const found = findDefinitionUncached(tree, word, defRe, skip);
  defCache.set(k, { at: Date.now(), hit: found });
  return found;
}

function findDefinitionUncached(tree: KernelTree, word: string, defRe: RegExp, skip: string[]): { file: string; line: number } | null {
  const files = tree.grepWord(word, 200).filter((f) => !skip.includes(f));
  files.sort((a, b) => Number(b.endsWith('.c')) - Number(a.endsWith('.c')));
  for (const f of files.slice(0, 60)) {
    const t = safeRead(tree, f);
    if (!t) continue;
    const code = codeOnly(t);
    const m = defRe.exec(code);
    defRe.lastIndex = 0;
    if (m) return { file: f, line: lineAt(lineStarts(code), m.index) };
  }
  return null;
}

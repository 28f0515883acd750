// The tree's state as the on-disk caches key it (HEAD, plus the tracked files whose stat
// differs from the index, in the part of the tree an answer reads), worked out without
// waiting where possible: HEAD from .git's own files, and `git diff-files` started in
// the background as soon as the tree is known (KernelTree.startCacheKey).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { adoptOverrides, gitAllowed, gitInBackground, knownOverrides, type BackgroundGit, type KnownOverrides } from './git';

// git's parallel stat (the default, forced here against a config that turns it off): it runs at
// nice 19 (gitInBackground), so it takes the cores the CLI leaves idle. One thread made a typical
// run wait 50-60 ms for it on a 2-core machine; two, 5-8 ms (A/B on rhel-9.1/new-globals.patch,
// 8 runs each, at nice 10).
const DIFF_FILES = [
  '-c',
  'core.preloadIndex=true',
  'diff-files',
  '--name-only',
  '-z',
  '--no-ext-diff',
  '--no-textconv',
  '--ignore-submodules=all',
];

/**
 * What `git rev-parse --show-toplevel HEAD` prints for `root`, read from its .git folder
 * for the plain layout: a .git directory of this user (git's own ownership rule), no
 * includes, extensions, bare or worktree settings in its config, HEAD a branch whose
 * ref is a loose file or in packed-refs, or a detached commit. Null for anything
 * else, and then git is asked. Saves starting a process on every CLI run.
 */
export function headFromFiles(root: string): string | null {
  try {
    const gitDir = path.join(root, '.git');
    const uid = process.getuid?.();
    const st = fs.lstatSync(gitDir);
    if (uid === undefined || !st.isDirectory() || st.uid !== uid || fs.statSync(root).uid !== uid) return null;
    const config = fs.readFileSync(path.join(gitDir, 'config'), 'utf8');
    if (
      /^\s*\[\s*(?:include|extensions)/im.test(config) ||
      /^\s*worktree\s*=/im.test(config) ||
      /^\s*bare\s*=\s*(?:true|yes|on|1)\s*$/im.test(config)
    )
      return null;
    const head = fs.readFileSync(path.join(gitDir, 'HEAD'), 'utf8');
    let hash: string | undefined;
    const ref = /^ref: (refs\/heads\/[^\s]+)\n?$/.exec(head)?.[1];
    if (ref) {
      if (ref.split('/').includes('..')) return null;
      try {
        hash = fs.readFileSync(path.join(gitDir, ref), 'utf8');
      } catch {
        const packed = fs.readFileSync(path.join(gitDir, 'packed-refs'), 'utf8');
        hash = packed
          .split('\n')
          .find((l) => l.endsWith(` ${ref}`))
          ?.split(' ')[0];
      }
    } else hash = head;
    hash = hash?.trim();
    if (!hash || !/^[0-9a-f]{40}$/.test(hash)) return null;
    return `${root}\n${hash}\n`;
  } catch {
    return null;
  }
}

/**
 * The parts of the tree a cached answer can depend on, each checked by its own
 * `git diff-files -- PATHSPEC`: git matches the pathspec before it stats, so an answer
 * that reads only .c files (symbol-namespace's table of namespaced exports) waits for
 * 32k stats, not 79k, and a Kconfig lookup for 1.7k. c, h and other cover every
 * tracked file once; kconfig is its own, for the Kconfig greps.
 */
export type TreeScope = 'c' | 'h' | 'other' | 'kconfig';
/**
 * Each scope's pathspec, and which of one `git diff-files`'s names belong to it: what the
 * pathspec matches (a pathspec `*` matches `/` too), or more (case aside), never less: a
 * name too many only changes a key more often. `other` is never run together with another scope.
 */
const SCOPES: Record<TreeScope, { specs: string[]; has: (name: string) => boolean }> = {
  c: { specs: ['*.c'], has: (f) => /\.c$/i.test(f) },
  h: { specs: ['*.h'], has: (f) => /\.h$/i.test(f) },
  other: { specs: [':(exclude)*.c', ':(exclude)*.h'], has: () => true },
  kconfig: { specs: ['*Kconfig*'], has: (f) => /kconfig/i.test(f) },
};
/** Every tracked file. */
export const WHOLE_TREE: readonly TreeScope[] = ['c', 'h', 'other'];
/**
 * What the launcher starts: most runs first ask about the .c files (symbol-namespace).
 * Adding Kconfig to the same git (which 16% of corpus runs ask about) cost the median
 * 3% and gave the p90 3% back (A/B over the 240 corpus patches): left out.
 */
export const EARLY_SCOPES: readonly TreeScope[] = ['c'];

export function inScope(scope: TreeScope, name: string): boolean {
  return SCOPES[scope].has(name);
}

/** One `git diff-files` for `scopes` together (`other`, whose pathspec excludes, only alone). */
export function diffFilesArgs(scopes: readonly TreeScope[]): string[] {
  if (scopes.length > 1 && scopes.includes('other')) throw new Error('diffFilesArgs: "other" runs alone');
  return [...DIFF_FILES, '--', ...scopes.flatMap((s) => SCOPES[s].specs)];
}

/**
 * The scopes the files a `git grep -- SPECS` reads fall in: a glob ending in `.c` or `.h`
 * matches only such files; anything else may read any file.
 */
export function scopesOfSpecs(specs: readonly string[]): readonly TreeScope[] {
  if (specs.length === 1 && specs[0] === SCOPES.kconfig.specs[0]) return ['kconfig'];
  const out = new Set<TreeScope>();
  for (const s of specs) {
    const glob = !s.startsWith(':') && s.includes('*');
    if (glob && s.endsWith('.c')) out.add('c');
    else if (glob && s.endsWith('.h')) out.add('h');
    else return WHOLE_TREE;
  }
  return WHOLE_TREE.filter((s) => out.has(s));
}

let handedOver: StartedTreeState | null = null;

/**
 * Hands over a `git diff-files` started before this code was loaded (the CLI's launcher
 * starts it before the bundle, which takes 15-20 ms): the next startTreeState() takes it
 * if it is for the same tree, and stops it otherwise.
 */
export function adoptTreeState(s: StartedTreeState | null): void {
  handedOver?.diffFiles.dispose();
  handedOver = s;
  if (s?.overrides) adoptOverrides(s.root, s.overrides);
}

/** A `git diff-files` already running for a tree, with the HEAD it was started against. */
export interface StartedTreeState {
  /** The tree's real path. */
  root: string;
  /** What `git rev-parse --show-toplevel HEAD` would print. */
  head: string;
  /** The parts of the tree it checks. */
  scopes: readonly TreeScope[];
  diffFiles: BackgroundGit;
  /** The overrides git ran with (see git.ts): the command's bundle need not list the config again. */
  overrides: KnownOverrides | null;
}

/**
 * Starts `git diff-files` on EARLY_SCOPES of the tree at `dir` (a stat of 32k files on a
 * kernel tree, 50-90 ms, in another process). Null where HEAD cannot be read from .git's files
 * (then git is asked when a key is needed), git may not run here, or the caches are off.
 */
export function startTreeState(dir: string): StartedTreeState | null {
  const early = handedOver;
  handedOver = null;
  let root: string | null = null;
  if (!process.env.KLP_NO_GREP_CACHE && gitAllowed()) {
    try {
      root = fs.realpathSync.native(dir);
    } catch {
      root = null;
    }
  }
  if (early && early.root === root) return early;
  early?.diffFiles.dispose();
  if (root === null) return null;
  if (!fs.existsSync(path.join(root, '.git'))) return null;
  const head = headFromFiles(root);
  if (head === null) return null;
  const diffFiles = gitInBackground(root, diffFilesArgs(EARLY_SCOPES), 10000);
  return diffFiles ? { root, head, scopes: EARLY_SCOPES, diffFiles, overrides: knownOverrides(root) } : null;
}

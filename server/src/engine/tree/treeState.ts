// The tree's state as the on-disk caches key it (HEAD, plus the tracked files whose stat
// differs from the index), worked out without waiting where possible: HEAD from .git's
// own files, and `git diff-files` started in the background as soon as the tree is
// known (KernelTree.startCacheKey).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { gitAllowed, gitInBackground, type BackgroundGit } from './git';

// git's parallel stat (the default, forced here against a config that turns it off): it runs at
// nice 19 (gitInBackground), so it takes the cores the CLI leaves idle. One thread made a typical
// run wait 50-60 ms for it on a 2-core machine; two, 5-8 ms (A/B on rhel-9.1/new-globals.patch,
// 8 runs each, at nice 10).
export const DIFF_FILES = [
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

let handedOver: StartedTreeState | null = null;

/**
 * Hands over a `git diff-files` started before this code was loaded (the CLI's launcher
 * starts it before the bundle, which takes 15-20 ms): the next startTreeState() takes it
 * if it is for the same tree, and stops it otherwise.
 */
export function adoptTreeState(s: StartedTreeState | null): void {
  handedOver?.diffFiles.dispose();
  handedOver = s;
}

/** A `git diff-files` already running for a tree, with the HEAD it was started against. */
export interface StartedTreeState {
  /** The tree's real path. */
  root: string;
  /** What `git rev-parse --show-toplevel HEAD` would print. */
  head: string;
  diffFiles: BackgroundGit;
}

/**
 * Starts `git diff-files` for the tree at `dir` (stat of every tracked file: 100-200 ms on
 * a kernel tree, in another process). Null where HEAD cannot be read from .git's files
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
  const diffFiles = gitInBackground(root, DIFF_FILES, 10000);
  return diffFiles ? { root, head, diffFiles } : null;
}

// Finding the kernel tree a file belongs to, and reading base-ref blobs with
// git (through engine/tree/git.ts, the one place that runs it).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { git, gitAllowed, resolveCommit } from '../engine/tree/git';
import { headFromFiles } from '../engine/tree/treeState';

/** A kernel tree root: Kbuild + a Makefile that sets VERSION. */
export function isKernelTree(dir: string): boolean {
  try {
    if (!fs.existsSync(path.join(dir, 'Kbuild'))) return false;
    const mk = fs.readFileSync(path.join(dir, 'Makefile'), 'utf8').slice(0, 4096);
    return /^VERSION\s*=/m.test(mk);
  } catch {
    return false;
  }
}

const rootCache = new Map<string, string | null>();

/** The nearest ancestor directory of `file` that is a kernel tree, or null. */
export function findKernelTree(file: string): string | null {
  let dir = path.dirname(path.resolve(file));
  const seen: string[] = [];
  for (;;) {
    if (rootCache.has(dir)) {
      const r = rootCache.get(dir)!;
      for (const s of seen) rootCache.set(s, r);
      return r;
    }
    seen.push(dir);
    if (isKernelTree(dir)) {
      for (const s of seen) rootCache.set(s, dir);
      return dir;
    }
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  for (const s of seen) rootCache.set(s, null);
  return null;
}

/**
 * The saved copy of a file the editor has open, for an untrusted workspace
 * (no git): a regular file of at most `maxBytes`, else null.
 */
export function readSavedFile(file: string, maxBytes: number): string | null {
  try {
    const st = fs.statSync(file);
    if (!st.isFile() || st.size > maxBytes) return null;
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/**
 * Content of `rel` at `ref`, or null when the file does not exist there (a new
 * file). Cached by resolved commit, so a moving HEAD is noticed.
 */
export class BaseReader {
  private blobs = new Map<string, string | null>();
  private commits = new Map<string, { commit: string; at: number }>();

  async commitOf(root: string, ref: string): Promise<string> {
    const key = `${root}\0${ref}`;
    const hit = this.commits.get(key);
    // HEAD moves with commits and checkouts; re-resolve at most once a second.
    if (hit && Date.now() - hit.at < 1000) return hit.commit;
    // HEAD from .git's own files where the layout is plain: no git process on an editor's keystroke.
    const own = ref === 'HEAD' && gitAllowed() ? headFromFiles(root) : null;
    const commit = own?.split('\n')[1] ?? (await resolveCommit(root, ref));
    this.commits.set(key, { commit, at: Date.now() });
    return commit;
  }

  async read(root: string, ref: string, rel: string): Promise<string | null> {
    const commit = await this.commitOf(root, ref);
    const key = `${commit}:${rel}`;
    if (!this.blobs.has(key)) {
      let text: string | null;
      try {
        // cat-file runs no textconv and no filter; only the hash comes from the ref.
        text = await git(root, ['cat-file', 'blob', '--end-of-options', `${commit}:${rel}`]);
      } catch {
        text = null;
      }
      if (this.blobs.size > 256) this.blobs.delete(this.blobs.keys().next().value!);
      this.blobs.set(key, text);
    }
    return this.blobs.get(key)!;
  }
}

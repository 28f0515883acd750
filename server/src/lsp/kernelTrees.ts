// Finding the kernel tree a file belongs to, and reading base-ref blobs with
// git (argv arrays only, never a shell).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFile } from 'node:child_process';

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

export function git(root: string, args: string[], maxBuffer = 64 * 1024 * 1024): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('git', ['-C', root, ...args], { encoding: 'utf8', maxBuffer }, (err, stdout, stderr) => {
      if (err) reject(new Error(stderr.trim() || err.message));
      else resolve(stdout);
    });
  });
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
    if (!/^[\w./@{}^~-]+$/.test(ref) || ref.startsWith('-')) throw new Error(`invalid base ref '${ref}'`);
    const commit = (await git(root, ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`])).trim();
    this.commits.set(key, { commit, at: Date.now() });
    return commit;
  }

  async read(root: string, ref: string, rel: string): Promise<string | null> {
    const commit = await this.commitOf(root, ref);
    const key = `${commit}:${rel}`;
    if (!this.blobs.has(key)) {
      let text: string | null;
      try {
        text = await git(root, ['show', `${commit}:${rel}`]);
      } catch {
        text = null;
      }
      if (this.blobs.size > 256) this.blobs.delete(this.blobs.keys().next().value!);
      this.blobs.set(key, text);
    }
    return this.blobs.get(key)!;
  }
}

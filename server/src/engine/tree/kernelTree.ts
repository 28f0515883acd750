// Read-only access to a kernel source tree, confined to it. Every path from a
// patch goes through resolve(), which refuses `..`, absolute paths and symlinks
// that lead outside the tree before anything is opened.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { PatchError } from '../diff/readPatch';

export class KernelTree {
  readonly root: string;
  private makefiles = new Map<string, string | null>();
  private config: Map<string, string> | null | undefined;

  private constructor(root: string, private readonly configPath: string | null) {
    this.root = root;
  }

  /** Opens a tree; throws PatchError when it is not a directory. */
  static open(dir: string, configPath: string | null = null): KernelTree {
    let root: string;
    try {
      root = fs.realpathSync(dir);
    } catch {
      throw new PatchError(`kernel tree '${dir}' does not exist`);
    }
    if (!fs.statSync(root).isDirectory()) throw new PatchError(`kernel tree '${dir}' is not a directory`);
    return new KernelTree(root, configPath);
  }

  /** Absolute path of a tree-relative path, proven to stay inside the tree. */
  resolve(rel: string): string {
    if (path.isAbsolute(rel) || rel.split(/[\\/]/).includes('..') || rel.includes('\0')) {
      throw new PatchError(`path '${rel}' escapes the kernel tree`);
    }
    const abs = path.join(this.root, rel);
    // Follow symlinks of the deepest existing ancestor: a link may point outside.
    let probe = abs;
    while (!fs.existsSync(probe) && probe !== this.root) probe = path.dirname(probe);
    let real: string;
    try {
      real = fs.realpathSync(probe);
    } catch {
      // A dangling symlink: refuse rather than guess where it points.
      throw new PatchError(`path '${rel}' cannot be resolved inside the kernel tree`);
    }
    if (real !== this.root && !real.startsWith(this.root + path.sep)) {
      throw new PatchError(`path '${rel}' escapes the kernel tree through a symlink`);
    }
    return abs;
  }

  /** Throws PatchError if `rel` would leave the tree; reads nothing. */
  check(rel: string): void {
    this.resolve(rel);
  }

  readFile(rel: string): string | null {
    const abs = this.resolve(rel);
    try {
      return fs.readFileSync(abs, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  exists(rel: string): boolean {
    try {
      return fs.existsSync(this.resolve(rel));
    } catch {
      return false;
    }
  }

  /** The Makefile (or Kbuild) text of a directory, cached. */
  makefile(dir: string): string | null {
    if (!this.makefiles.has(dir)) {
      const text = this.readFile(path.posix.join(dir, 'Kbuild')) ?? this.readFile(path.posix.join(dir, 'Makefile'));
      // Join continuation lines so `obj-y += a.o \` lists read as one line.
      this.makefiles.set(dir, text === null ? null : text.replace(/\\\n/g, ' '));
    }
    return this.makefiles.get(dir)!;
  }

  /** Kernel .config as a map (CONFIG_FOO -> y|m|value); null when none is known. */
  kernelConfig(): Map<string, string> | null {
    if (this.config === undefined) {
      const file = this.configPath ?? path.join(this.root, '.config');
      let text: string | null = null;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch {
        text = null;
      }
      this.config = text === null ? null : parseKernelConfig(text);
    }
    return this.config;
  }

  /**
   * Files that mention `name` as a word, via `git grep` (fast on a git tree),
   * falling back to nothing when the tree is not a git repository.
   */
  grepWord(name: string, limit = 200): string[] {
    if (!/^\w+$/.test(name)) return [];
    try {
      const out = execFileSync('git', ['-C', this.root, 'grep', '-l', '-w', '-I', '--no-color', '-e', name, '--', '*.c', '*.h'], {
        encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'ignore'], timeout: 20000,
      });
      return out.split('\n').filter(Boolean).slice(0, limit);
    } catch (err) {
      // git grep exits 1 when nothing matches.
      return [];
    }
  }
}

export function parseKernelConfig(text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^(CONFIG_\w+)=(.*)$/.exec(line);
    if (m) map.set(m[1], m[2].replace(/^"(.*)"$/, '$1'));
  }
  return map;
}

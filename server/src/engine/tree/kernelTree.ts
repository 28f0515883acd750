// Read-only access to a kernel source tree, confined to it. Every path from a
// patch goes through resolve(), which refuses `..`, absolute paths and symlinks
// that lead outside the tree before anything is opened.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as os from 'node:os';
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
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return null;
      if (code === 'EISDIR' || code === 'ENOTDIR') throw new PatchError(`'${rel}' is not a file in the kernel tree`);
      if (code === 'EACCES') throw new PatchError(`'${rel}' cannot be read (permission denied)`);
      // A name from the patch the file system cannot take (too long, a symlink loop).
      if (code === 'ENAMETOOLONG' || code === 'ELOOP' || code === 'EINVAL') throw new PatchError(`'${rel.slice(0, 300)}' cannot be read from the kernel tree (${code})`);
      throw err;
    }
  }

  /**
   * Existence check without symlink resolution, for paths the tree itself names
   * (include lookups run thousands of times). Reading still goes through resolve().
   */
  existsInTree(rel: string): boolean {
    if (path.isAbsolute(rel) || rel.split('/').includes('..')) return false;
    return fs.existsSync(path.join(this.root, rel));
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
   * else by reading the tree's sources, bounded.
   */
  grepWord(name: string, limit = 200): string[] {
    return this.grepWords([name], { limit });
  }

  /** Files containing any of `words` (one `git grep`; a bounded walk outside git checkouts). */
  grepWords(words: string[], opts: { limit?: number; cOnly?: boolean } = {}): string[] {
    const limit = opts.limit ?? 200;
    words = words.filter((w) => /^\w+$/.test(w));
    if (!words.length) return [];
    const args = ['-l', '-w', '-I', '--no-color'];
    for (const w of words) args.push('-e', w);
    args.push('--', ...(opts.cOnly ? ['*.c'] : ['*.c', '*.h']));
    const r = this.gitGrep(args);
    if (r) return r.out.split('\n').filter(Boolean).slice(0, limit);
    const re = new RegExp(`\\b(?:${words.join('|')})\\b`);
    const out: string[] = [];
    for (const f of this.sourceFiles()) {
      if (opts.cOnly && !f.endsWith('.c')) continue;
      if (re.test(this.readFile(f) ?? '')) out.push(f);
      if (out.length >= limit) break;
    }
    return out;
  }

  /**
   * Regular files below `dir` whose names match `name`, never following links (so
   * nothing outside the tree is listed). Stops after `maxFiles` or at `deadline`
   * (Date.now() ms); `complete` says whether the whole folder was seen.
   */
  walkFiles(opts: { dir?: string; name: RegExp; skipDir?: (name: string) => boolean; maxFiles?: number; deadline?: number }): { files: string[]; complete: boolean } {
    const skip = opts.skipDir ?? ((n: string) => n.startsWith('.'));
    const max = opts.maxFiles ?? 20000;
    const files: string[] = [];
    const stack = [opts.dir ?? ''];
    if (opts.dir) this.check(opts.dir);
    while (stack.length) {
      if (files.length >= max || (opts.deadline !== undefined && Date.now() > opts.deadline)) return { files: files.sort(), complete: false };
      const rel = stack.pop()!;
      let entries: fs.Dirent[];
      try {
        entries = fs.readdirSync(path.join(this.root, rel), { withFileTypes: true });
      } catch {
        continue;
      }
      for (const e of entries) {
        const r = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) {
          if (!skip(e.name)) stack.push(r);
        } else if (e.isFile() && opts.name.test(e.name)) files.push(r);
      }
    }
    return { files: files.sort(), complete: true };
  }

  private sources: string[] | undefined;

  /** .c/.h files of a tree that is not a git checkout (at most 20,000). */
  private sourceFiles(): string[] {
    this.sources ??= this.walkFiles({ name: /\.[ch]$/ }).files;
    return this.sources;
  }

  /** True when the tree is the top of its own git work tree, so `git grep` searches exactly the tree. */
  isGitCheckout(): boolean {
    return this.git().top;
  }

  private gitState: { top: boolean; key: string | null } | undefined;

  /** Whether the tree is the top of its own git work tree, and a key for its committed state. */
  private git(): { top: boolean; key: string | null } {
    // The tree must be the top of its work tree: without .git here (a tarball tree) git has nothing to say.
    if (!this.gitState && !fs.existsSync(path.join(this.root, '.git'))) this.gitState = { top: false, key: null };
    if (!this.gitState) {
      const r = spawnSync('git', ['-C', this.root, 'rev-parse', '--show-toplevel', 'HEAD'], { encoding: 'utf8', timeout: 5000 });
      const [top, head] = r.status === 0 ? r.stdout.trim().split('\n') : [];
      const isTop = !!top && path.resolve(top) === this.root;
      let key: string | null = null;
      if (isTop && head) {
        // HEAD plus the index's mtime: a commit, checkout or `git add` gives a new key.
        let mtime = 0;
        try {
          mtime = fs.statSync(path.join(this.root, '.git', 'index')).mtimeMs;
        } catch {
          mtime = 0;
        }
        key = createHash('sha1').update(`${this.root}\0${head}\0${mtime}`).digest('hex').slice(0, 20);
      }
      this.gitState = { top: isTop, key };
    }
    return this.gitState;
  }

  /** A file in the on-disk cache for this tree's committed state; null when the tree is not a git checkout. */
  cacheFile(name: string): string | null {
    const { key } = this.git();
    if (!key || process.env.KLP_NO_GREP_CACHE) return null;
    return path.join(process.env.KLP_CACHE ?? path.join(os.homedir(), '.cache', 'kernel-livepatch'), 'grep', key, name);
  }

  private grepMemo = new Map<string, { out: string; complete: boolean }>();

  /**
   * `git grep ARGS` in the tree. Whole-tree searches cost seconds on a kernel,
   * so complete results are cached in memory and on disk, keyed by the tree's
   * commit: the next run (and the next process) answers at once. Null when the
   * tree is not a git checkout. On timeout, the lines printed so far come back
   * with complete = false.
   */
  gitGrep(args: string[], timeoutMs = 20000): { out: string; complete: boolean } | null {
    const memoKey = args.join('\0');
    const memo = this.grepMemo.get(memoKey);
    if (memo) return memo;
    const { key, top } = this.git();
    // Inside another repository git would search that repository's files, not the tree's.
    if (!top) return null;
    const cacheFile = key && !process.env.KLP_NO_GREP_CACHE
      ? path.join(process.env.KLP_CACHE ?? path.join(os.homedir(), '.cache', 'kernel-livepatch'), 'grep', key, createHash('sha1').update(memoKey).digest('hex') + '.txt')
      : null;
    if (cacheFile) {
      try {
        const out = fs.readFileSync(cacheFile, 'utf8');
        const hit = { out, complete: true };
        this.grepMemo.set(memoKey, hit);
        return hit;
      } catch {
        // not cached yet
      }
    }
    const r = spawnSync('git', ['-C', this.root, 'grep', ...args], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, timeout: Math.max(50, timeoutMs) });
    let res: { out: string; complete: boolean };
    if (r.signal || (r.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT') {
      const out = r.stdout ?? '';
      res = { out: out.slice(0, out.lastIndexOf('\n') + 1), complete: false };
    } else if (r.status === 0) res = { out: r.stdout, complete: true };
    else if (r.status === 1) res = { out: '', complete: true }; // no match
    else return null; // not a git checkout, or git failed
    this.grepMemo.set(memoKey, res);
    if (cacheFile && res.complete) {
      try {
        fs.mkdirSync(path.dirname(cacheFile), { recursive: true });
        fs.writeFileSync(cacheFile + '.tmp', res.out);
        fs.renameSync(cacheFile + '.tmp', cacheFile);
      } catch {
        // A read-only cache only costs speed.
      }
    }
    return res;
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

// Read-only access to a kernel source tree, confined to it. Every path from a
// patch goes through resolve(), which refuses `..`, absolute paths and symlinks
// that lead outside the tree before anything is opened.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { gitAllowed, gitInBackground, gitSync, type BackgroundGit } from './git';
import { diffFilesArgs, EARLY_SCOPES, headFromFiles, inScope, scopesOfSpecs, startTreeState, type TreeScope } from './treeState';
import { createHash } from 'node:crypto';
import { PatchError } from '../diff/readPatch';
import * as timings from '../util/timings';
import { cacheDir } from '../util/cacheDir';

export class KernelTree {
  readonly root: string;
  private makefiles = new Map<string, string | null>();
  private config: Map<string, string> | null | undefined;

  private constructor(
    root: string,
    private readonly configPath: string | null,
  ) {
    this.root = root;
  }

  /** Opens a tree; throws PatchError when it is not a directory. */
  static open(dir: string, configPath: string | null = null): KernelTree {
    let root: string;
    try {
      root = fs.realpathSync.native(dir);
    } catch {
      throw new PatchError(`kernel tree '${dir}' does not exist`);
    }
    if (!fs.statSync(root).isDirectory()) throw new PatchError(`kernel tree '${dir}' is not a directory`);
    return new KernelTree(root, configPath);
  }

  // Paths proven to stay inside the tree: a patch's paths are checked, then read, then
  // asked about by several rules, and each proof costs a realpath(3).
  private resolved = new Map<string, string>();

  /** Absolute path of a tree-relative path, proven to stay inside the tree. */
  resolve(rel: string): string {
    const known = this.resolved.get(rel);
    if (known !== undefined) return known;
    if (path.isAbsolute(rel) || rel.split(/[\\/]/).includes('..') || rel.includes('\0')) {
      throw new PatchError(`path '${rel}' escapes the kernel tree`);
    }
    const abs = path.join(this.root, rel);
    // Follow symlinks of the deepest existing ancestor: a link may point outside.
    let probe = abs;
    while (!fs.existsSync(probe) && probe !== this.root) probe = path.dirname(probe);
    let real: string;
    try {
      // The C realpath(3): the JavaScript one lstats each component anew, 0.15 ms a path in a cold run.
      real = fs.realpathSync.native(probe);
    } catch {
      // A dangling symlink: refuse rather than guess where it points.
      throw new PatchError(`path '${rel}' cannot be resolved inside the kernel tree`);
    }
    if (real !== this.root && !real.startsWith(this.root + path.sep)) {
      throw new PatchError(`path '${rel}' escapes the kernel tree through a symlink`);
    }
    // Only a path that exists: one that does not yet may be created as a link later.
    if (probe === abs) this.resolved.set(rel, abs);
    return abs;
  }

  /** Throws PatchError if `rel` would leave the tree; reads nothing. */
  check(rel: string): void {
    this.resolve(rel);
  }

  readFile(rel: string): string | null {
    const abs = this.resolve(rel);
    timings.start('tree reads');
    try {
      return fs.readFileSync(abs, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return null;
      if (code === 'EISDIR' || code === 'ENOTDIR') throw new PatchError(`'${rel}' is not a file in the kernel tree`);
      if (code === 'EACCES') throw new PatchError(`'${rel}' cannot be read (permission denied)`);
      // A name from the patch the file system cannot take (too long, a symlink loop).
      if (code === 'ENAMETOOLONG' || code === 'ELOOP' || code === 'EINVAL')
        throw new PatchError(`'${rel.slice(0, 300)}' cannot be read from the kernel tree (${code})`);
      throw err;
    } finally {
      timings.end('tree reads');
    }
  }

  /**
   * Existence check without symlink resolution, for paths the tree itself names
   * (include lookups run thousands of times). Reading still goes through resolve().
   */
  existsInTree(rel: string): boolean {
    return this.fileStamp(rel) !== null;
  }

  private stampsOf = new Map<string, string | null>();

  /**
   * The size, modification time and inode of a tree file (once per KernelTree), or null when
   * it does not exist: what a cache of facts read from the file compares to know them current.
   */
  fileStamp(rel: string): string | null {
    if (path.isAbsolute(rel) || rel.split('/').includes('..')) return null;
    let stamp = this.stampsOf.get(rel);
    if (stamp === undefined) this.stampsOf.set(rel, (stamp = statStamp(path.join(this.root, rel))));
    return stamp;
  }

  exists(rel: string): boolean {
    try {
      return fs.existsSync(this.resolve(rel));
    } catch {
      return false;
    }
  }

  /**
   * What changes when any of these tree files (or the kernel config) changes: their
   * modification times and sizes, for caches that outlive one KernelTree.
   */
  stamp(rels: string[]): string {
    return [...rels.map((r) => this.fileStamp(r)), statStamp(this.configPath ?? path.join(this.root, '.config'))]
      .map((s) => s ?? '-')
      .join(' ');
  }

  /** The Makefile (or Kbuild) text of a directory, cached. */
  makefile(dir: string): string | null {
    if (!this.makefiles.has(dir)) {
      const text = this.readFile(path.posix.join(dir, 'Kbuild')) ?? this.readFile(path.posix.join(dir, 'Makefile'));
      // Join continuation lines so `obj-y += a.o ` lists read as one line.
      this.makefiles.set(dir, text === null ? null : text.replace(/\\\n/g, ' '));
    }
    return this.makefiles.get(dir)!;
  }

  /** Why the configured .config was not used (not a regular file, too big, unreadable); null when it was, or none is set. */
  configProblem: string | null = null;

  /** Kernel .config as a map (CONFIG_FOO -> y|m|value); null when none is known. */
  kernelConfig(): Map<string, string> | null {
    if (this.config === undefined) {
      const file = this.configPath ?? path.join(this.root, '.config');
      let text: string | null = null;
      try {
        text = readConfigFile(file);
      } catch (err) {
        // The tree's own .config is optional; a configured one that cannot be used is worth saying.
        if (this.configPath !== null || !(err instanceof PatchError && /does not exist/.test(err.message)))
          this.configProblem = (err as Error).message;
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
  walkFiles(opts: { dir?: string; name: RegExp; skipDir?: (name: string) => boolean; maxFiles?: number; deadline?: number }): {
    files: string[];
    complete: boolean;
  } {
    const skip = opts.skipDir ?? ((n: string) => n.startsWith('.'));
    const max = opts.maxFiles ?? 20000;
    const files: string[] = [];
    const stack = [opts.dir ?? ''];
    if (opts.dir) this.check(opts.dir);
    while (stack.length) {
      if (files.length >= max || (opts.deadline !== undefined && Date.now() > opts.deadline))
        return { files: files.sort(), complete: false };
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

  /** Whether the tree is the top of its own git work tree, and a key for its committed state (commit and index). */
  private git(): { top: boolean; key: string | null } {
    // The tree must be the top of its work tree: without .git here (a tarball tree) git has nothing to say.
    if (!this.gitState && !fs.existsSync(path.join(this.root, '.git'))) this.gitState = { top: false, key: null };
    if (!this.gitState) {
      const own = gitAllowed() ? headFromFiles(this.root) : null;
      // Null when git may not run here (an untrusted workspace): the tree walker serves.
      const r = own === null ? gitSync(this.root, REV_PARSE, { timeoutMs: 5000 }) : null;
      this.gitState = this.gitStateOf(own ?? (r?.status === 0 ? r.stdout : null));
    }
    return this.gitState;
  }

  /** The git state from `git rev-parse --show-toplevel HEAD`'s output (null: it failed). */
  private gitStateOf(revParse: string | null): { top: boolean; key: string | null } {
    const [top, head] = revParse !== null ? revParse.trim().split('\n') : [];
    const isTop = !!top && path.resolve(top) === this.root;
    let key: string | null = null;
    if (isTop && head) {
      let mtime = 0;
      try {
        mtime = fs.statSync(path.join(this.root, '.git', 'index')).mtimeMs;
      } catch {
        mtime = 0;
      }
      key = createHash('sha1').update(`${this.root}\0${head}\0${mtime}`).digest('hex').slice(0, 20);
    }
    return { top: isTop, key };
  }

  /** Each scope's dirty stamp once known (null: git could not say). */
  private stamps = new Map<TreeScope, string | null>();
  /** Each scope's `git diff-files` while it runs (one git may check several scopes). */
  private running = new Map<TreeScope, { git: BackgroundGit; scopes: readonly TreeScope[] }>();

  /**
   * Key of the on-disk cache for an answer that reads `scopes` of the tree: the committed
   * state plus the tracked files there that differ from the index. git grep reads the
   * working tree, so an unstaged edit (a new caller of an inline function) must not be
   * answered from the cache. A clean tree has the committed state's key whatever the scope.
   */
  private treeKey(scopes: readonly TreeScope[]): string | null {
    const { key } = this.git();
    if (!key) return null;
    this.startScopes(scopes);
    const dirty: string[] = [];
    for (const s of scopes) {
      const stamp = this.dirtyStamp(s);
      if (stamp === null) return null;
      if (stamp) dirty.push(`${s}:${stamp}`);
    }
    return dirty.length
      ? createHash('sha1')
          .update(`${key}\0${dirty.join('\0')}`)
          .digest('hex')
          .slice(0, 20)
      : key;
  }

  /**
   * Starts working out the on-disk cache's key: `git diff-files` on the part of the tree
   * most runs ask about first (EARLY_SCOPES) runs in its own process while the caller reads
   * and parses the patch. The first rule that needs the key takes its answer, waiting only
   * for what is left of it; a run whose rules never ask does not wait at all. Does nothing
   * where HEAD cannot be read from .git itself: then treeKey() asks git when needed.
   */
  startCacheKey(): void {
    if (EARLY_SCOPES.some((s) => this.stamps.has(s) || this.running.has(s))) return;
    const s = startTreeState(this.root);
    if (!s) return;
    this.gitState ??= this.gitStateOf(s.head);
    for (const scope of s.scopes) this.running.set(scope, { git: s.diffFiles, scopes: s.scopes });
  }

  /** Starts the `git diff-files` of the scopes not asked about yet; they run side by side. */
  private startScopes(scopes: readonly TreeScope[]): void {
    const todo = scopes.filter((s) => !this.stamps.has(s) && !this.running.has(s));
    // One git for all but `other` (its pathspec excludes), which runs beside it.
    for (const group of [todo.filter((s) => s !== 'other'), todo.filter((s) => s === 'other')]) {
      if (!group.length) continue;
      const git = gitInBackground(this.root, diffFilesArgs(group), 10000);
      if (git) for (const s of group) this.running.set(s, { git, scopes: group });
    }
  }

  /**
   * Starts working out the key of `scopes` ahead of the rules that will ask for it. Only
   * once startCacheKey() has read HEAD from .git's files: nothing here runs git synchronously.
   */
  prefetchCacheKey(scopes: readonly TreeScope[]): void {
    if (scopes.length && this.gitState?.key) this.startScopes(scopes);
  }

  /** The files of `scope` whose stat differs from the index (a stat compare, no content read), with their size and mtime; null when git cannot say. */
  private dirtyStamp(scope: TreeScope): string | null {
    if (this.stamps.has(scope)) return this.stamps.get(scope)!;
    const started = this.running.get(scope);
    if (started) {
      for (const s of started.scopes) this.running.delete(s);
      const done = timings.timed('git (waiting for diff-files)', () => started.git.result());
      started.git.dispose();
      if (done) {
        // Every scope that git checked is known now.
        for (const s of started.scopes) this.stamps.set(s, done.status === 0 ? this.stampOf(done.stdout, s) : null);
        return this.stamps.get(scope)!;
      }
    }
    const r = gitSync(this.root, diffFilesArgs([scope]), { timeoutMs: 10000 });
    const stamp = r && r.status === 0 ? this.stampOf(r.stdout, scope) : null;
    this.stamps.set(scope, stamp);
    return stamp;
  }

  /** The dirty stamp from `git diff-files --name-only -z`'s output. */
  private stampOf(diffFiles: string, scope: TreeScope): string {
    const files = diffFiles
      .split('\0')
      .filter((f) => f && inScope(scope, f))
      .sort();
    if (!files.length) return '';
    const h = createHash('sha1');
    for (const f of files) {
      let st = 'gone';
      try {
        const s = fs.lstatSync(path.join(this.root, f));
        st = `${s.size}:${s.mtimeMs}:${s.ino}`;
      } catch {
        // deleted from the working tree
      }
      h.update(`${f}\0${st}\0`);
    }
    return h.digest('hex');
  }

  /**
   * A file in the on-disk cache for the state of the parts of the tree (`scopes`) its
   * content was read from; null when the tree is not a git checkout.
   */
  cacheFile(name: string, scopes: readonly TreeScope[]): string | null {
    if (process.env.KLP_NO_GREP_CACHE) return null;
    const key = this.treeKey(scopes);
    if (!key) return null;
    return cacheDir('grep', key, name);
  }

  private grepMemo = new Map<string, { out: string; complete: boolean }>();

  /**
   * `git grep ARGS` in the tree. Whole-tree searches cost seconds on a kernel,
   * so complete results are cached in memory and on disk, keyed by the tree's
   * commit, index and unstaged changes: the next run (and the next process)
   * answers at once. Null when the tree is not a git checkout, or git may not
   * run on it (an untrusted workspace). On timeout, the lines printed so far come back
   * with complete = false.
   */
  gitGrep(args: string[], timeoutMs = 20000): { out: string; complete: boolean } | null {
    const memoKey = args.join('\0');
    const memo = this.grepMemo.get(memoKey);
    if (memo) return memo;
    // Inside another repository git would search that repository's files, not the tree's.
    if (!this.git().top) return null;
    const specs = args.indexOf('--') >= 0 ? args.slice(args.indexOf('--') + 1) : [];
    const cacheFile = this.cacheFile(createHash('sha1').update(memoKey).digest('hex') + '.txt', scopesOfSpecs(specs));
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
    const r = gitSync(this.root, ['grep', '--no-textconv', ...args], { maxBuffer: 256 * 1024 * 1024, timeoutMs });
    if (!r) return null;
    let res: { out: string; complete: boolean };
    if (r.signal || (r.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT') {
      const out = r.stdout ?? '';
      res = { out: out.slice(0, out.lastIndexOf('\n') + 1), complete: false };
    } else if (r.status === 0) res = { out: r.stdout, complete: true };
    else if (r.status === 1)
      res = { out: '', complete: true }; // no match
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

const REV_PARSE = ['rev-parse', '--show-toplevel', 'HEAD'];

/** A kernel .config is a few hundred KB; anything past this is not one. */
export const MAX_CONFIG_BYTES = 8 * 1024 * 1024;

/**
 * The text of a kernel .config, which must be a regular file of at most
 * MAX_CONFIG_BYTES: a FIFO would block the reader and /dev/zero never ends.
 * Throws PatchError saying what is wrong.
 */
export function readConfigFile(file: string): string {
  const fail = (why: string) => new PatchError(`config '${file}' ${why}`);
  const check = (st: fs.Stats) => {
    if (!st.isFile()) throw fail('is not a regular file');
    if (st.size > MAX_CONFIG_BYTES) throw fail(`is larger than ${MAX_CONFIG_BYTES / 1048576} MB: not a kernel .config`);
  };
  let fd: number;
  try {
    // Look before opening: opening some devices has effects of its own.
    check(fs.statSync(file));
    // Non-blocking, then check what was opened: the file may have been swapped since.
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (err) {
    if (err instanceof PatchError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw fail(code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? (err as Error).message})`);
  }
  try {
    const st = fs.fstatSync(fd);
    check(st);
    const buf = Buffer.alloc(st.size);
    let n = 0;
    while (n < buf.length) {
      const got = fs.readSync(fd, buf, n, buf.length - n, n);
      if (!got) break;
      n += got;
    }
    return buf.subarray(0, n).toString('utf8');
  } finally {
    fs.closeSync(fd);
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

/** A file's size, modification time and inode, or null when it does not exist. */
function statStamp(file: string): string | null {
  const st = fs.statSync(file, { throwIfNoEntry: false });
  return st ? `${st.size}:${st.mtimeMs}:${st.ino}` : null;
}

// The preprocessor's view of a kernel file (issue 13 §2): `gcc -E` with the kbuild flags of a
// configured build directory (the target's headers package, /usr/src/linux-headers-<release>,
// which has include/generated/autoconf.h). The flags are make's own: one `make V=1 x.i` on a
// throwaway module (~2.5 s, kept on disk per headers directory) prints the command, and each
// file then costs one gcc run, its text on standard input (an unsaved buffer needs no file).
// The tree's own headers come before the package's, so a patched header is what gets expanded.
// Outside the engine because it runs programs; the engine reads the text (engine/expand).

import { execFile, execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readExpanded, type ExpandedView } from '../engine/expand/expanded';
import { cacheDir } from '../engine/util/cacheDir';

export interface KbuildCompiler {
  headersDir: string;
  compiler: string;
  /** Flags common to every object: no dependency file, output, input or per-object names. */
  args: string[];
  /** The source tree the package's headers come from (`-fmacro-prefix-map=<dir>/=`). */
  sourceDir: string | null;
}

export class PreprocessError extends Error {}

/** Splits a command line as the shell would (quotes and backslashes; no expansions). */
export function shellWords(line: string): string[] {
  const out: string[] = [];
  let cur: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === "'") {
      const e = line.indexOf("'", i + 1);
      cur = (cur ?? '') + line.slice(i + 1, e < 0 ? line.length : e);
      i = e < 0 ? line.length : e;
    } else if (c === '"') {
      cur ??= '';
      for (i++; i < line.length && line[i] !== '"'; i++) cur += line[i] === '\\' && /["\\$`]/.test(line[i + 1] ?? '') ? line[++i] : line[i];
    } else if (c === '\\') {
      cur = (cur ?? '') + (line[++i] ?? '');
    } else if (/\s/.test(c)) {
      if (cur !== null) out.push(cur);
      cur = null;
    } else cur = (cur ?? '') + c;
  }
  if (cur !== null) out.push(cur);
  return out;
}

/** The common flags from make's `gcc -E` command for a throwaway object named `probe`. */
export function compilerFromCommand(line: string, headersDir: string): KbuildCompiler {
  const words = shellWords(line.trim());
  const ccAt = words.findIndex((w) => /(?:^|\/)(?:[\w.-]*-)?(?:gcc|cc|clang)(?:-\d+)?$/.test(w));
  if (ccAt < 0 || !words.includes('-E')) throw new PreprocessError(`not a preprocessor command: ${line.slice(0, 120)}`);
  const args: string[] = [];
  let sourceDir: string | null = null;
  const abs = (p: string) => (path.isAbsolute(p) ? p : path.join(headersDir, p));
  for (let i = ccAt + 1; i < words.length; i++) {
    const w = words[i];
    if (w === '-o') {
      i++;
      continue;
    }
    if (/^-Wp,-M/.test(w) || /^-DKBUILD_(?:BASENAME|MODNAME)=/.test(w) || /^-D__KBUILD_MODNAME=/.test(w) || w === '-DMODULE' || w === '-E')
      continue;
    if (!w.startsWith('-') && /\.c$/.test(w)) continue; // the input
    const m = /^-fmacro-prefix-map=(.*)\/=$/.exec(w);
    if (m) sourceDir = m[1];
    if (w === '-include' || w === '-I' || w === '-isystem') {
      args.push(w, abs(words[++i]));
      continue;
    }
    if (/^-I./.test(w)) {
      args.push(`-I${abs(w.slice(2))}`);
      continue;
    }
    args.push(w);
  }
  return { headersDir, compiler: words[ccAt], args, sourceDir };
}

function cacheRoot(): string {
  return cacheDir('preprocess');
}

const compilers = new Map<string, KbuildCompiler>();

/** Where a build directory's compiler is cached: memory key and disk file; `hit` when already known. */
function compilerCache(headersDir: string): { dir: string; key: string; file: string; hit: KbuildCompiler | null } {
  const dir = path.resolve(headersDir);
  const autoconf = path.join(dir, 'include', 'generated', 'autoconf.h');
  let stamp: string;
  try {
    stamp = `${fs.statSync(autoconf).mtimeMs}`;
  } catch {
    throw new PreprocessError(`${dir} is not a configured build directory (no include/generated/autoconf.h)`);
  }
  const key = crypto.createHash('sha256').update(`${dir}\0${stamp}`).digest('hex').slice(0, 24);
  const file = path.join(cacheRoot(), `kbuild-${key}.json`);
  const hit = compilers.get(key);
  if (hit) return { dir, key, file, hit };
  try {
    const c = JSON.parse(fs.readFileSync(file, 'utf8')) as KbuildCompiler;
    if (c.headersDir === dir && Array.isArray(c.args)) {
      compilers.set(key, c);
      return { dir, key, file, hit: c };
    }
  } catch {
    // not cached yet
  }
  return { dir, key, file, hit: null };
}

/** A directory with a probe module for `make V=1 probe.i`. */
function probeDir(): string {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'klp-kbuild-flags-'));
  fs.writeFileSync(path.join(tmp, 'Kbuild'), 'obj-m := probe.o\n');
  fs.writeFileSync(path.join(tmp, 'probe.c'), '\n');
  return tmp;
}

const probeArgv = (dir: string, tmp: string): string[] => ['-C', dir, `M=${tmp}`, 'V=1', 'probe.i'];

function probeFailed(dir: string, err: unknown): PreprocessError {
  const e = err as { stderr?: string; message: string };
  return new PreprocessError(
    `make in ${dir} could not preprocess a probe file: ${(e.stderr ?? e.message).trim().split('\n').slice(-2).join(' ')}`,
  );
}

/** The compiler from make's own `gcc -E` line, remembered in memory and on disk. */
function rememberCompiler(out: string, where: { dir: string; key: string; file: string }): KbuildCompiler {
  const line = out.split('\n').find((l) => /\s-E\s/.test(l) && l.includes('probe.c'));
  if (!line) throw new PreprocessError(`make in ${where.dir} printed no preprocessor command`);
  const c = compilerFromCommand(line, where.dir);
  compilers.set(where.key, c);
  try {
    fs.mkdirSync(path.dirname(where.file), { recursive: true });
    fs.writeFileSync(where.file, JSON.stringify(c));
  } catch {
    // a read-only cache only costs the next run 2.5 s
  }
  return c;
}

/**
 * The kbuild compiler of a configured build directory: from memory, from the disk cache (keyed
 * on the directory and its autoconf.h), or from one `make V=1 probe.i` run.
 */
export function kbuildCompiler(headersDir: string): KbuildCompiler {
  const where = compilerCache(headersDir);
  if (where.hit) return where.hit;
  const tmp = probeDir();
  try {
    let out: string;
    try {
      out = execFileSync('make', probeArgv(where.dir, tmp), {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: 120_000,
        maxBuffer: 16 << 20,
      });
    } catch (err) {
      throw probeFailed(where.dir, err);
    }
    return rememberCompiler(out, where);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** kbuildCompiler without blocking: the language server runs the probe make in the background. */
export async function kbuildCompilerAsync(headersDir: string): Promise<KbuildCompiler> {
  const where = compilerCache(headersDir);
  if (where.hit) return where.hit;
  const tmp = probeDir();
  try {
    const out = await new Promise<string>((resolve, reject) => {
      execFile('make', probeArgv(where.dir, tmp), { encoding: 'utf8', timeout: 120_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
        err ? reject(probeFailed(where.dir, Object.assign(err, { stderr }))) : resolve(stdout),
      );
    });
    return rememberCompiler(out, where);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** `-D` and `-I` flags an object's directory Makefile adds (ccflags-y, CFLAGS_<obj>.o), with $(srctree)/$(src) resolved. */
export function directoryFlags(tree: string, rel: string): string[] {
  const dir = path.posix.dirname(rel);
  const obj = path.posix.basename(rel).replace(/\.c$/, '.o');
  const out: string[] = [];
  for (const name of ['Makefile', 'Kbuild']) {
    let text: string;
    try {
      text = fs.readFileSync(path.join(tree, dir, name), 'utf8');
    } catch {
      continue;
    }
    const joined = text.replace(/\\\n/g, ' ');
    const re = new RegExp(`^\\s*(?:(?:subdir-)?ccflags-y|EXTRA_CFLAGS|CFLAGS_${obj.replace(/[.]/g, '\\.')})\\s*[:+]?=\\s*(.*)$`, 'gm');
    for (const m of joined.matchAll(re)) {
      const words = m[1].replace(/#.*$/, '').split(/\s+/).filter(Boolean);
      for (let i = 0; i < words.length; i++) {
        let w = words[i].replace(/\$\(srctree\)/g, tree).replace(/\$\(src\)/g, path.join(tree, dir));
        if ((w === '-I' || w === '-D') && words[i + 1])
          w += words[++i].replace(/\$\(srctree\)/g, tree).replace(/\$\(src\)/g, path.join(tree, dir));
        if (/\$\(/.test(w) || !/^-[DI]/.test(w)) continue;
        if (w.startsWith('-I') && !path.isAbsolute(w.slice(2))) w = `-I${path.join(tree, dir, w.slice(2))}`;
        out.push(w);
      }
    }
  }
  return out;
}

/** The gcc arguments for `rel` of `tree`, its text on standard input. */
export function preprocessArgv(c: KbuildCompiler, tree: string, rel: string, opts: { module?: boolean } = {}): string[] {
  const args: string[] = [];
  for (let i = 0; i < c.args.length; i++) {
    const w = c.args[i];
    // The tree's headers first: a header the patch (or the user) changed is what gets expanded.
    if (c.sourceDir && w.startsWith(`-I${c.sourceDir}/`)) {
      const sub = w.slice(c.sourceDir.length + 3);
      if (fs.existsSync(path.join(tree, sub))) args.push(`-I${path.join(tree, sub)}`);
    }
    args.push(w);
  }
  const base = path.posix.basename(rel).replace(/\.c$/, '').replace(/-/g, '_');
  args.push(...directoryFlags(tree, rel));
  // "..." includes of a file read from standard input: its own directory.
  args.push('-iquote', path.join(tree, path.posix.dirname(rel)));
  if (opts.module) args.push('-DMODULE');
  args.push(`-DKBUILD_BASENAME="${base}"`, `-DKBUILD_MODNAME="${base}"`, `-D__KBUILD_MODNAME=kmod_${base}`, '-E', '-x', 'c', '-');
  return args;
}

/** The text gcc reads: a line marker first, so the output names `rel` and its lines. */
function input(rel: string, text: string): string {
  return `# 1 "${rel.replace(/["\\]/g, '\\$&')}"\n${text}`;
}

function failure(rel: string, stderr: string, code: unknown): PreprocessError {
  const first = stderr.split('\n').find((l) => /error/.test(l)) ?? stderr.split('\n')[0] ?? '';
  return new PreprocessError(`gcc -E ${rel} failed (${code}): ${first.trim().slice(0, 300)}`);
}

export function preprocessSync(c: KbuildCompiler, tree: string, rel: string, text: string, opts: { module?: boolean } = {}): string {
  try {
    return execFileSync(c.compiler, preprocessArgv(c, tree, rel, opts), {
      cwd: c.headersDir,
      input: input(rel, text),
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'pipe'],
      maxBuffer: 256 << 20,
      timeout: 60_000,
    });
  } catch (err) {
    const e = err as { stderr?: string; status?: number; message: string };
    throw failure(rel, e.stderr ?? e.message, e.status ?? 'killed');
  }
}

export function preprocess(
  c: KbuildCompiler,
  tree: string,
  rel: string,
  text: string,
  opts: { module?: boolean; signal?: AbortSignal } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      c.compiler,
      preprocessArgv(c, tree, rel, opts),
      {
        cwd: c.headersDir,
        encoding: 'utf8',
        maxBuffer: 256 << 20,
        timeout: 60_000,
        signal: opts.signal,
      },
      (err, stdout, stderr) => (err ? reject(failure(rel, stderr, (err as { code?: unknown }).code ?? 'killed')) : resolve(stdout)),
    );
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input(rel, text));
  });
}

/**
 * Expanded views by content: the same text of the same file under the same compiler is
 * preprocessed once. Failures are kept too (a file gcc cannot preprocess is not retried per
 * analysis), with their reason.
 */
export class ExpandedViews {
  private readonly views = new Map<string, ExpandedView | PreprocessError>();
  /** Milliseconds each gcc run took (for the notes and the benchmark). */
  readonly costs: number[] = [];

  constructor(
    readonly compiler: KbuildCompiler,
    readonly tree: string,
    private readonly max = 64,
  ) {}

  key(rel: string, text: string): string {
    return crypto.createHash('sha256').update(`${this.compiler.headersDir}\0${rel}\0`).update(text).digest('hex');
  }

  /** The cached view; undefined when this text was never preprocessed; null when it failed. */
  cached(rel: string, text: string): ExpandedView | null | undefined {
    return this.lookup(this.key(rel, text));
  }

  private lookup(key: string): ExpandedView | null | undefined {
    const v = this.views.get(key);
    return v === undefined ? undefined : v instanceof PreprocessError ? null : v;
  }

  failure(rel: string, text: string): string | null {
    const v = this.views.get(this.key(rel, text));
    return v instanceof PreprocessError ? v.message : null;
  }

  private put(key: string, v: ExpandedView | PreprocessError): void {
    this.views.delete(key);
    this.views.set(key, v);
    while (this.views.size > this.max) this.views.delete(this.views.keys().next().value!);
  }

  /** Preprocesses now (the CLI): the view, or null when gcc failed. */
  getSync(rel: string, text: string): ExpandedView | null {
    const key = this.key(rel, text);
    // One hash of the text per call: the key serves the lookup and the store.
    const hit = this.lookup(key);
    if (hit !== undefined) return hit;
    const t0 = performance.now();
    let v: ExpandedView | PreprocessError;
    try {
      v = readExpanded(preprocessSync(this.compiler, this.tree, rel, text), rel, path.resolve(this.tree));
    } catch (err) {
      if (!(err instanceof PreprocessError)) throw err;
      v = err;
    }
    return this.keep(key, v, t0);
  }

  /** Caches a result and its cost; the view, or null for a failure. */
  private keep(key: string, v: ExpandedView | PreprocessError, t0: number): ExpandedView | null {
    this.costs.push(performance.now() - t0);
    this.put(key, v);
    return v instanceof PreprocessError ? null : v;
  }

  /** Preprocesses in the background (the server, on open and save); resolves when cached. */
  async fill(rel: string, text: string, signal?: AbortSignal): Promise<ExpandedView | null> {
    const key = this.key(rel, text);
    // One hash of the text per call: the key serves the lookup and the store.
    const hit = this.lookup(key);
    if (hit !== undefined) return hit;
    const t0 = performance.now();
    let v: ExpandedView | PreprocessError;
    try {
      v = readExpanded(await preprocess(this.compiler, this.tree, rel, text, { signal }), rel, path.resolve(this.tree));
    } catch (err) {
      if (signal?.aborted) return null;
      v = err instanceof PreprocessError ? err : new PreprocessError((err as Error).message);
    }
    return this.keep(key, v, t0);
  }
}

// The only place that runs git. A repository can arrive with its own .git
// (a tarball, a shared disk), and its config can name programs git runs on its
// own: an fsmonitor hook, clean/smudge/process filters, textconv and external
// diff drivers, a pager, hooks, transports for a lazy fetch. So:
//  - in an untrusted workspace git is not run at all (callers fall back to
//    reading the tree themselves);
//  - otherwise (a trusted workspace, the CLIs) every call carries overrides that
//    switch each of those off, user values come after `--end-of-options` or
//    `--`, and a timeout bounds it (an include.path naming a FIFO would hang).

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as os from 'node:os';
import { execFile, spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import * as timings from '../util/timings';

let allowed = true;

/** Whether git may run on workspace trees. The CLIs keep the default; the language server follows workspace trust. */
export function setGitAllowed(v: boolean): void {
  allowed = v;
}

export function gitAllowed(): boolean {
  return allowed;
}

export class GitRefused extends Error {
  constructor() {
    super('git is not run in an untrusted workspace');
  }
}

// Config keys that run a program during the read-only commands used here
// (rev-parse, grep, diff, diff-files, cat-file, config), or that would make
// them reach out. Per-name ones (filter.<driver>.clean/smudge/process,
// protocol.<name>.allow) are read from the repository's config, includes too,
// and reset one by one (namedOverrides). diff.external and
// diff.<driver>.command/textconv are not reset (an empty value makes git fail):
// every diff passes --no-ext-diff and --no-textconv, and blobs are read with
// cat-file, which uses neither. The rest never run from these commands:
// core.editor, sequence.editor, merge.<driver>.driver, gpg.*.program (only with
// log.showSignature, reset), and core.sshCommand, core.gitProxy, core.askPass,
// credential helpers and remote.<name>.uploadpack only on a transport, which
// the protocol.* overrides below refuse (uploadpack.packObjectsHook is honoured
// from user and system config only).
const FIXED_OVERRIDES: [string, string][] = [
  ['core.fsmonitor', 'false'], // read on every index load
  ['core.hooksPath', '/dev/null'], // post-index-change, reference-transaction
  ['core.pager', 'cat'],
  ['core.attributesFile', '/dev/null'],
  ['diff.ignoreSubmodules', 'all'], // else diff runs `git status` inside submodules
  ['submodule.recurse', 'false'], // else grep recurses into submodules with their own config
  ['log.showSignature', 'false'], // would run gpg.program
  ['protocol.allow', 'never'], // a lazy fetch in a partial clone runs ssh, upload-pack, remote helpers
  ['protocol.file.allow', 'never'],
  ['protocol.ssh.allow', 'never'],
  ['protocol.ext.allow', 'never'],
  ['protocol.git.allow', 'never'],
  ['protocol.http.allow', 'never'],
  ['protocol.https.allow', 'never'],
  ['credential.helper', ''],
];

// Keys whose subsection is a name the repository picks: each configured one is reset.
const PER_NAME = /^(filter\.(.+)\.(clean|smudge|process)|protocol\.(.+)\.allow)$/i;

/** Environment for git: no optional index writes, no prompts, no pager, no lazy fetch. */
export function gitEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // Ours, not the caller's: a server started from a git hook must not act on that repository.
  for (const k of Object.keys(env)) if (/^GIT_/.test(k)) delete env[k];
  // System config stays: the administrator's, not the workspace's (safe.directory for shared
  // trees lives there), and the -c overrides above win over every file scope anyway.
  return {
    ...env,
    GIT_OPTIONAL_LOCKS: '0',
    GIT_TERMINAL_PROMPT: '0',
    GIT_PAGER: 'cat',
    GIT_NO_LAZY_FETCH: '1',
    GIT_PROTOCOL_FROM_USER: '0',
    LC_ALL: 'C',
  };
}

function prefix(overrides: [string, string][]): string[] {
  const out = ['--no-pager'];
  for (const [k, v] of overrides) out.push('-c', `${k}=${v}`);
  return out;
}

/** The overrides for a repository's named drivers, when they were listed, and its config's stamp then. */
export interface KnownOverrides {
  at: number;
  stamp: string;
  overrides: [string, string][] | null;
}

const namedCache = new Map<string, KnownOverrides>();

/** What namedOverrides() last listed for `root` (the CLI's launcher hands it to the command's bundle). */
export function knownOverrides(root: string): KnownOverrides | null {
  return namedCache.get(root) ?? null;
}

/** Takes overrides another bundle of this process listed; they are used under the same rules as our own. */
export function adoptOverrides(root: string, known: KnownOverrides): void {
  if (!namedCache.has(root)) namedCache.set(root, known);
}

function configStamp(root: string): string {
  try {
    const s = fs.statSync(path.join(root, '.git', 'config'));
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch {
    return '';
  }
}

/**
 * Overrides for the drivers and protocols the repository's config names, or null
 * when they cannot be expressed (a name `-c` cannot carry): then git is not run.
 */
function namedOverrides(root: string): [string, string][] | null {
  const stamp = configStamp(root);
  const hit = namedCache.get(root);
  // Includes can change without .git/config changing: look again after a second.
  if (hit && hit.stamp === stamp && Date.now() - hit.at < 1000) return hit.overrides;
  // Listing config runs nothing: it only reads files (includes too).
  const r = timings.timed('git config', () =>
    spawnSync('git', ['-C', root, ...prefix(FIXED_OVERRIDES), 'config', '--list', '--name-only', '-z'], {
      encoding: 'utf8',
      env: gitEnv(),
      timeout: 5000,
      maxBuffer: 16 * 1024 * 1024,
    }),
  );
  let overrides: [string, string][] | null = [];
  if (r.error || r.signal) overrides = null;
  else {
    const names = new Set((r.stdout ?? '').split('\0').filter((n) => PER_NAME.test(n)));
    if (names.size > 256) overrides = null;
    for (const n of names) {
      if (!overrides) break;
      if (/[=\n]/.test(n)) overrides = null;
      else overrides.push([n, /\.allow$/i.test(n) ? 'never' : '']);
    }
  }
  namedCache.set(root, { at: Date.now(), stamp, overrides });
  return overrides;
}

/** The full argv for `git ARGS` in `root`; null when git must not run there. */
export function gitArgv(root: string, args: string[]): string[] | null {
  if (!allowed) return null;
  const named = namedOverrides(root);
  if (!named) return null;
  return ['-C', root, ...prefix([...FIXED_OVERRIDES, ...named]), ...args];
}

/** `git ARGS` in `root`, synchronously; null when git may not run (untrusted, or a config it cannot neutralise). */
export function gitSync(
  root: string,
  args: string[],
  opts: { timeoutMs?: number; maxBuffer?: number } = {},
): SpawnSyncReturns<string> | null {
  const argv = gitArgv(root, args);
  if (!argv) return null;
  // Named by the subcommand, past the -c overrides.
  const sub = args.find((a, i) => !a.startsWith('-') && args[i - 1] !== '-c') ?? args[0];
  return timings.timed(`git ${sub}`, () =>
    spawnSync('git', argv, {
      encoding: 'utf8',
      env: gitEnv(),
      timeout: Math.max(50, opts.timeoutMs ?? 20000),
      maxBuffer: opts.maxBuffer ?? 64 * 1024 * 1024,
    }),
  );
}

/** `git ARGS` in `root`: its stdout, or a rejection with git's message (GitRefused when git may not run). */
export function git(root: string, args: string[], opts: { timeoutMs?: number; maxBuffer?: number } = {}): Promise<string> {
  const argv = gitArgv(root, args);
  if (!argv) return Promise.reject(new GitRefused());
  return new Promise((resolve, reject) => {
    const child = execFile(
      'git',
      argv,
      { encoding: 'utf8', env: gitEnv(), timeout: opts.timeoutMs ?? 20000, maxBuffer: opts.maxBuffer ?? 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(stderr.trim() || err.message));
        else resolve(stdout);
      },
    );
    // Nothing to say on stdin: a program that reads it must see EOF, not wait.
    child.stdin?.end();
  });
}

/** A git command started in the background, whose result synchronous code can take later. */
export interface BackgroundGit {
  /** Exit status and output, waiting for the command if it still runs; null when that cannot be known (run it again then). */
  result(): { status: number; stdout: string } | null;
  /** Stops the command if it still runs and removes its output. */
  dispose(): void;
}

/**
 * `git ARGS` started now with its output in a private temporary file, for a caller
 * that needs the answer later from synchronous code (the rules) and often not at
 * all. result() takes the status the exit event recorded, or waits for the process:
 * an exited child stays a zombie until the event loop reaps it, and /proc shows its
 * state and exit status. Null where git may not run, or without /proc (not Linux):
 * the caller runs git synchronously then, as it would have anyway. A command still
 * running when this process exits is stopped. It runs at the lowest priority
 * (nice 19).
 */
export function gitInBackground(root: string, args: string[], timeoutMs = 20000): BackgroundGit | null {
  if (process.platform !== 'linux') return null;
  const argv = gitArgv(root, args);
  if (!argv) return null;
  let dir: string;
  let child: ChildProcess;
  try {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'klp-git-'));
  } catch {
    return null;
  }
  const out = path.join(dir, 'stdout');
  try {
    const fd = fs.openSync(out, 'wx', 0o600);
    try {
      child = spawn('git', argv, { stdio: ['ignore', fd, 'ignore'], env: gitEnv() });
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    fs.rmSync(dir, { recursive: true, force: true });
    return null;
  }
  // undefined: running; null: failed to start or killed by a signal.
  let status: number | null | undefined;
  child.on('exit', (code) => {
    status = code;
  });
  child.on('error', () => {
    status ??= null;
  });
  // Nobody waits for it to finish: a run whose rules never ask for it exits at once.
  child.unref();
  // Work beside the caller's own: on a small machine the caller's thread comes first.
  // Nice 19, not 10: `diff-files` preloads the index with up to 20 threads, and twenty
  // threads at nice 10 still outweigh one at 0 (measured: a 86 KB parse beside it took
  // 67 ms at nice 10, 47 ms at 19, 29 ms with no git running). Set before git has read
  // its index, so the threads it starts inherit it.
  try {
    if (child.pid !== undefined) os.setPriority(child.pid, 19);
  } catch {
    // it may have ended already
  }
  const deadline = Date.now() + timeoutMs;
  const cleanup = () => {
    if (status === undefined) child.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', cleanup);
  return {
    result() {
      if (status === undefined && child.pid !== undefined) status = waitForZombie(child.pid, deadline);
      if (status === undefined || status === null) return null;
      try {
        return { status, stdout: fs.readFileSync(out, 'utf8') };
      } catch {
        return null;
      }
    },
    dispose() {
      process.removeListener('exit', cleanup);
      cleanup();
    },
  };
}

/**
 * Waits until child `pid` has exited (and, not yet reaped, is a zombie); its exit
 * status, null when a signal ended it, undefined at the deadline or when /proc cannot say.
 */
function waitForZombie(pid: number, deadline: number): number | null | undefined {
  const nap = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return undefined;
    }
    // After "pid (comm) ": field 3 (state) first, field 52 (exit_code, as waitpid reports it) 50th.
    const fields = stat
      .slice(stat.lastIndexOf(')') + 2)
      .trim()
      .split(' ');
    if (fields[0] === 'Z') {
      const raw = Number(fields[49]);
      if (!Number.isInteger(raw)) return undefined;
      return (raw & 0x7f) === 0 ? (raw >> 8) & 0xff : null;
    }
    if (Date.now() > deadline) return undefined;
    Atomics.wait(nap, 0, 0, 2);
  }
}

/**
 * The commit a user-given ref names, as a full hash: only the hash is passed on
 * to other git commands, so a ref can never be read as an option.
 */
export async function resolveCommit(root: string, ref: string): Promise<string> {
  if (!ref || ref.includes('\0')) throw new Error(`invalid base ref '${ref}'`);
  let out: string;
  try {
    out = await git(root, ['rev-parse', '--verify', '--quiet', '--end-of-options', `${ref}^{commit}`]);
  } catch (err) {
    if (err instanceof GitRefused) throw err;
    throw new Error(`'${ref}' does not name a commit`);
  }
  const hash = out.trim();
  if (!/^[0-9a-f]{40}(?:[0-9a-f]{24})?$/.test(hash)) throw new Error(`'${ref}' does not name a commit`);
  return hash;
}

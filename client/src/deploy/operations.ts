// What the client does on a test VM, as plain functions over an SshTarget:
// upload, build (kbuild module, kpatch-build, klp-build), load, disable,
// unload, force, kernel log. No vscode import: the commands call these, and
// the tests run them against a real sshd (and, in the VM test, a real kernel).

import * as path from 'node:path';
import { assertModuleName, assertRemotePath, SshError, type SshTarget, type TargetBackend } from '../remote/ssh';
import { readLivepatchState, type LivepatchState } from '../remote/state';
import { BuildOutputParser, type BuildEvent } from '../remote/buildMessages';

/** A `livepatch.targets` entry (TargetEntry) with its defaults filled in: what every operation reads. */
export interface TargetSettings {
  name: string;
  destination: string;
  workDir: string;
  backend: TargetBackend;
  kernelSource?: string;
  kernelConfig?: string;
  vmlinux?: string;
  kpatchBuildArgs?: string[];
  /** Where sysfs is mounted (tests point it at a fixture). */
  sysfsRoot: string;
  procRoot: string;
}

export interface Progress {
  signal?: AbortSignal;
  /** Streamed remote output. */
  onOutput?: (text: string) => void;
  /** A step started ("Uploading", "Building"...). */
  onStep?: (step: string) => void;
}

export interface BuiltModule {
  name: string;
  /** Remote path of the .ko. */
  path: string;
  backend: TargetSettings['backend'];
  builtAt: string;
  /** sha256 (hex) of the .ko, computed on the target right after the build; loadModule checks it before insmod. */
  sha256: string;
  /** Build output events (changed functions, errors mapped to rules). */
  events: BuildEvent[];
  /** Where it was built: on the target (default), or here and uploaded (patched-unit kbuild modules). */
  builtOn?: 'host' | 'target';
}

export class BuildFailed extends Error {
  constructor(
    message: string,
    readonly events: BuildEvent[],
    readonly output: string,
  ) {
    super(message);
  }
}

/** The .ko on the target is not the one that was built: loadModule refused to insmod it. */
export class IntegrityError extends Error {
  override readonly name = 'IntegrityError';
  constructor(
    readonly koPath: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(
      `Refusing to load ${koPath}: its sha256 is ${actual || '(unreadable)'}, but the module built for this patch had ${expected}. ` +
        'The file changed on the target after the build (rebuilt by someone else, edited or tampered with). Nothing was loaded; build the module again.',
    );
  }
}

const livepatchDir = (t: TargetSettings, name: string) => `${t.sysfsRoot.replace(/\/$/, '')}/kernel/livepatch/${assertModuleName(name)}`;

/** Writes `value` to a sysfs attribute (via tee: no remote shell redirection). */
async function writeAttr(ssh: SshTarget, file: string, value: string, p: Progress = {}): Promise<void> {
  await ssh.runChecked(['tee', assertRemotePath(file)], { input: `${value}\n`, signal: p.signal, timeoutMs: 15000 });
}

export async function readState(ssh: SshTarget, t: TargetSettings, p: Progress = {}): Promise<LivepatchState> {
  return readLivepatchState(ssh, { sysfsRoot: t.sysfsRoot, procRoot: t.procRoot }, { signal: p.signal, timeoutMs: 20000 });
}

const SHA256 = /^[0-9a-f]{64}$/;

/** sha256 (hex) of a file on the target. */
export async function remoteSha256(ssh: SshTarget, file: string, p: Progress = {}): Promise<string> {
  const r = await ssh.runChecked(['sha256sum', '--', assertRemotePath(file)], { signal: p.signal, timeoutMs: 60000 });
  const h = r.stdout.trim().split(/\s+/)[0] ?? '';
  if (!SHA256.test(h)) throw new Error(`sha256sum ${file} on ${ssh.destination} printed no hash: ${r.stdout.trim().slice(0, 200)}`);
  return h;
}

/*
 * $1 the work directory. Creates it (0700) when missing, then prints its owner and mode
 * and the uid this runs as. stat without -L: a symlink shows mode 777 and is refused.
 */
const WORKDIR_STAT = [
  'd=$1',
  '[ -e "$d" ] || [ -L "$d" ] || (umask 077 && mkdir -p -- "$d") || exit 1',
  `printf '%s %s\\n' "$(stat -c '%u %a' -- "$d")" "$(id -u)"`,
].join('\n');

/**
 * Builds run in the work directory as root (or the login user): refuse one that another
 * user owns or that its group or others can write, since they could swap the sources, the
 * Makefile or the .ko between our steps.
 */
export async function checkWorkDir(ssh: SshTarget, t: TargetSettings, p: Progress = {}): Promise<void> {
  const dir = assertRemotePath(t.workDir);
  const r = await ssh.run(['sh', '-c', WORKDIR_STAT, 'klp-workdir', dir], { signal: p.signal, timeoutMs: 15000 });
  const m = /^(\d+) ([0-7]+) (\d+)$/.exec(r.stdout.trim());
  if (r.code !== 0 || !m) {
    throw new Error(`Cannot create or inspect the work directory ${dir} on ${t.name}: ${r.stderr.trim() || `exit ${r.code}`}`);
  }
  const [owner, mode, me] = [Number(m[1]), parseInt(m[2], 8), Number(m[3])];
  const fix = `Use a directory only uid ${me} can write (chown ${me} and chmod go-w it), or set another workDir for this target.`;
  if (owner !== me) {
    throw new Error(`Refusing to build in ${dir} on ${t.name}: it belongs to uid ${owner}, and the build runs as uid ${me}. ${fix}`);
  }
  if (mode & 0o022) {
    const who = mode & 0o002 ? 'anyone' : 'its group';
    throw new Error(`Refusing to build in ${dir} on ${t.name}: ${who} can write it (mode ${mode.toString(8).padStart(4, '0')}). ${fix}`);
  }
}

/** Uploads files into `${workDir}/${dir}` (created), returns the remote directory. */
export async function uploadFiles(
  ssh: SshTarget,
  t: TargetSettings,
  dir: string,
  files: Record<string, string>,
  p: Progress = {},
): Promise<string> {
  const remoteDir = assertRemotePath(path.posix.join(t.workDir, dir));
  p.onStep?.(`Uploading ${Object.keys(files).length} file(s) to ${remoteDir}`);
  for (const [name, text] of Object.entries(files)) {
    await ssh.upload(Buffer.from(text, 'utf8'), path.posix.join(remoteDir, name), { mkdirs: true, mode: 0o644, signal: p.signal });
  }
  return remoteDir;
}

/** Builds a generated kbuild livepatch module against the running kernel's headers. */
export async function buildKbuildModule(
  ssh: SshTarget,
  t: TargetSettings,
  name: string,
  files: Record<string, string>,
  p: Progress = {},
  /** The target's `uname -r`, when the caller already read it. */
  knownRelease?: string,
): Promise<BuiltModule> {
  assertModuleName(name);
  await checkWorkDir(ssh, t, p);
  const dir = await uploadFiles(ssh, t, name, files, p);
  const release = knownRelease ?? (await ssh.runChecked(['uname', '-r'], { signal: p.signal, timeoutMs: 15000 })).stdout.trim();
  p.onStep?.(`Building ${name}.ko against ${release}`);
  const { events } = await runBuild(
    ssh,
    ['make', '-C', `/lib/modules/${release}/build`, `M=${dir}`, 'modules'],
    30 * 60 * 1000,
    (code) => `building ${name}.ko failed (make exit ${code})`,
    p,
  );
  return built(ssh, name, `${dir}/${name}.ko`, 'kbuild', events, p);
}

/**
 * Runs a build on the target with its output streamed and parsed into events;
 * a non-zero exit is a BuildFailed carrying those events and the whole output.
 */
export async function runBuild(
  ssh: SshTarget,
  argv: string[],
  timeoutMs: number,
  failure: (code: number | null) => string,
  p: Progress,
): Promise<{ events: BuildEvent[]; output: string }> {
  const parser = new BuildOutputParser();
  let output = '';
  // stdout and stderr arrive in chunks that may end inside a line: the parser gets whole lines
  // only, so a line of one stream is never glued to a piece of the other.
  const partial = { out: '', err: '' };
  const onOutput =
    (stream: 'out' | 'err') =>
    (s: string): void => {
      output += s;
      const text = partial[stream] + s;
      const cut = text.lastIndexOf('\n') + 1;
      partial[stream] = text.slice(cut);
      if (cut) parser.push(text.slice(0, cut));
      p.onOutput?.(s);
    };
  const r = await ssh.run(argv, { signal: p.signal, timeoutMs, onStdout: onOutput('out'), onStderr: onOutput('err') });
  for (const rest of [partial.out, partial.err]) if (rest) parser.push(`${rest}\n`);
  parser.end();
  if (r.code !== 0) throw new BuildFailed(failure(r.code), parser.events, output);
  return { events: parser.events, output };
}

/** The built module, with the sha256 the load step checks it against. */
async function built(
  ssh: SshTarget,
  name: string,
  ko: string,
  backend: BuiltModule['backend'],
  events: BuildEvent[],
  p: Progress,
): Promise<BuiltModule> {
  const sha256 = await remoteSha256(ssh, ko, p);
  return { name, path: ko, backend, builtAt: new Date().toISOString(), sha256, events };
}

/**
 * Runs kpatch-build (or klp-build) on an uploaded patch. Both build atomic-replace modules
 * unless told not to; replace is the user's choice (opts.replace), off by default.
 */
export async function buildWithTool(
  ssh: SshTarget,
  t: TargetSettings,
  name: string,
  patchText: string,
  p: Progress = {},
  opts: { replace?: boolean } = {},
): Promise<BuiltModule> {
  assertModuleName(name);
  await checkWorkDir(ssh, t, p);
  const dir = await uploadFiles(ssh, t, name, { [`${name}.patch`]: patchText }, p);
  const patchPath = `${dir}/${name}.patch`;
  let argv: string[];
  let cwd: string | undefined;
  if (t.backend === 'kpatch-build') {
    argv = ['kpatch-build', '-n', name, '-o', dir];
    if (t.kernelSource) argv.push('-s', assertRemotePath(t.kernelSource));
    if (t.kernelConfig) argv.push('-c', assertRemotePath(t.kernelConfig));
    if (t.vmlinux) argv.push('-v', assertRemotePath(t.vmlinux));
    if (!opts.replace) argv.push('--non-replace');
    argv.push(...(t.kpatchBuildArgs ?? []), patchPath);
  } else {
    if (!t.kernelSource) throw new Error('klp-build runs in the kernel source tree: set kernelSource for this target');
    cwd = assertRemotePath(t.kernelSource);
    argv = [
      'env',
      '-C',
      cwd,
      './scripts/livepatch/klp-build',
      '-o',
      `${dir}/${name}.ko`,
      ...(opts.replace ? [] : ['--no-replace']),
      patchPath,
    ];
  }
  p.onStep?.(`Running ${t.backend}`);
  const { events } = await runBuild(ssh, argv, 2 * 60 * 60 * 1000, (code) => `${t.backend} failed (exit ${code})`, p);
  const ko = `${dir}/${t.backend === 'kpatch-build' ? kpatchModuleFile(name) : name}.ko`;
  // The kernel names the module (and its /sys/kernel/livepatch directory) after the file, '-' as '_'.
  return built(ssh, path.posix.basename(ko, '.ko').replace(/-/g, '_'), ko, t.backend, events, p);
}

/**
 * The file kpatch-build writes for `-n name`: `<-o dir>/<name>.ko`, with no prefix added (only a
 * name it makes up itself starts with "livepatch-"), characters outside [A-Za-z0-9_-] turned
 * into '-' and cut to 48 characters.
 */
export function kpatchModuleFile(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 48);
}

/** Polls `check` until it is true. `what` names the wait in errors (a function: read when they happen). */
async function waitFor(
  check: () => Promise<boolean>,
  timeoutMs: number,
  what: string | (() => string),
  p: Progress,
  intervalMs = 500,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  const name = (): string => (typeof what === 'string' ? what : what());
  for (;;) {
    if (p.signal?.aborted) throw new SshError('cancelled', `cancelled while waiting for ${name()}`);
    if (await check()) return;
    if (Date.now() > until) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${name()}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/*
 * Verified insmod, in one remote command: copy the .ko into a fresh private (0700) temp
 * directory, hash the copy, and insmod that very copy only if the hash is the one
 * recorded at build time. Whoever can write the work directory cannot swap the file
 * between the check and the load. Exit 86: hash mismatch (the hash is on stderr).
 */
const VERIFIED_INSMOD = [
  'ko=$1; want=$2',
  'd=$(mktemp -d) || exit 125',
  `trap 'rm -rf "$d"' EXIT`,
  `trap 'exit 143' TERM INT HUP`,
  'c="$d/${ko##*/}"',
  'cp -- "$ko" "$c" || exit 125',
  'got=$(sha256sum <"$c") || exit 125',
  'got=${got%% *}',
  'if [ "$got" != "$want" ]; then echo "klp-integrity: $got" >&2; exit 86; fi',
  'insmod "$c"',
].join('\n');

/**
 * A load that was cancelled or failed part way. insmod's finit_module cannot be interrupted,
 * so the module may be loaded anyway: `state` is what the target reported afterwards
 * (undefined when it could not be read), and the message says what is loaded.
 */
export class LoadInterrupted extends Error {
  override readonly name = 'LoadInterrupted';
  constructor(
    override readonly cause: Error,
    readonly module: string,
    readonly state: LivepatchState | undefined,
    /** One sentence: what is loaded now. */
    readonly loadedNote: string,
  ) {
    super(`${cause.message} ${loadedNote}`);
  }

  get cancelled(): boolean {
    return this.cause instanceof SshError && this.cause.kind === 'cancelled';
  }
}

// Waits (at most 6 s: the run wrapper kills what is left after 5) for an insmod that is
// still running on the target after we gave up on it.
const WAIT_INSMOD = [
  'command -v pgrep >/dev/null 2>&1 || exit 0',
  'i=0',
  'while pgrep -x insmod >/dev/null && [ $i -lt 60 ]; do sleep 0.1 2>/dev/null || sleep 1; i=$((i+1)); done',
].join('\n');

/** What is loaded now, after `err` interrupted loading `name`. */
export async function afterInterruptedLoad(ssh: SshTarget, t: TargetSettings, name: string, err: Error): Promise<LoadInterrupted> {
  let state: LivepatchState | undefined;
  let why = '';
  try {
    // Not under the caller's signal: it is the one that was just aborted.
    await ssh.run(['sh', '-c', WAIT_INSMOD, 'klp-wait-insmod'], { timeoutMs: 15000 });
    state = await readState(ssh, t);
  } catch (e) {
    why = (e as Error).message;
  }
  let note: string;
  const patch = state?.patches.find((x) => x.name === name);
  if (!state) {
    note = `Whether ${name} got loaded on ${t.name} is unknown: the state could not be read (${why}). Check the Patch State view once the target answers.`;
  } else if (patch) {
    note = `${name} IS loaded on ${t.name} (${patch.enabled ? 'enabled' : 'disabled'}${patch.transition ? ', transition still running' : ''}): unload it if it should not stay.`;
  } else if (state.livepatchModules.some((m) => m.name === name)) {
    note = `The module ${name} is loaded on ${t.name}, without a patch in /sys/kernel/livepatch: unload it.`;
  } else {
    note = `${name} is not loaded on ${t.name}.`;
  }
  return new LoadInterrupted(err, name, state, note);
}

export interface LoadOptions {
  /** How long to wait for the patching transition (default 60 s). */
  transitionTimeoutMs?: number;
  /** sha256 recorded at build time (BuiltModule.sha256): the .ko is loaded only if it still matches. */
  sha256?: string;
}

/** insmod (verified against the build-time sha256 when given), then wait for the patching transition to finish. */
export async function loadModule(
  ssh: SshTarget,
  t: TargetSettings,
  koPath: string,
  name: string,
  p: Progress = {},
  opts: LoadOptions = {},
): Promise<LivepatchState> {
  // The name picks the sysfs directory to wait on: validate it before insmod runs.
  assertModuleName(name);
  assertRemotePath(koPath);
  try {
    return await insmodAndWait(ssh, t, koPath, name, p, opts);
  } catch (err) {
    // Refused before insmod ran: nothing can have been loaded.
    if (err instanceof IntegrityError || err instanceof NotInserted) throw err;
    throw await afterInterruptedLoad(ssh, t, name, err as Error);
  }
}

/** insmod refused the module, or it could not be checked: it is not loaded. */
class NotInserted extends Error {}

async function insmodAndWait(
  ssh: SshTarget,
  t: TargetSettings,
  koPath: string,
  name: string,
  p: Progress,
  opts: LoadOptions,
): Promise<LivepatchState> {
  const transitionTimeoutMs = opts.transitionTimeoutMs ?? 60000;
  p.onStep?.(`Loading ${path.posix.basename(koPath)}`);
  let r;
  if (opts.sha256 !== undefined) {
    const want = opts.sha256.toLowerCase();
    if (!SHA256.test(want)) throw new Error(`Not a sha256: ${JSON.stringify(opts.sha256)}`);
    r = await ssh.run(['sh', '-c', VERIFIED_INSMOD, 'klp-insmod', koPath, want], { signal: p.signal, timeoutMs: 60000 });
    if (r.code === 86) throw new IntegrityError(koPath, want, /klp-integrity: (\S*)/.exec(r.stderr)?.[1] ?? '');
    if (r.code === 125) throw new NotInserted(`Could not verify ${koPath} before loading it: ${r.stderr.trim() || 'no such file?'}`);
  } else {
    r = await ssh.run(['insmod', koPath], { signal: p.signal, timeoutMs: 60000 });
  }
  if (r.code !== 0) throw new NotInserted(`insmod ${path.posix.basename(koPath)} failed: ${r.stderr.trim() || `exit ${r.code}`}`);
  p.onStep?.('Waiting for the patching transition');
  let last: LivepatchState | null = null;
  await waitFor(
    async () => {
      last = await readState(ssh, t, p);
      const patch = last.patches.find((x) => x.name === name);
      return !!patch && !patch.transition;
    },
    transitionTimeoutMs,
    `the transition of ${name}`,
    p,
  );
  return last!;
}

/** Writes 0 to enabled and waits until the unpatching transition is over (the sysfs directory goes away). */
export async function disablePatch(
  ssh: SshTarget,
  t: TargetSettings,
  name: string,
  p: Progress = {},
  timeoutMs = 60000,
): Promise<LivepatchState> {
  p.onStep?.(`Disabling ${name}`);
  await writeAttr(ssh, `${livepatchDir(t, name)}/enabled`, '0', p);
  let last: LivepatchState | null = null;
  await waitFor(
    async () => {
      last = await readState(ssh, t, p);
      const patch = last.patches.find((x) => x.name === name);
      return !patch || (!patch.enabled && !patch.transition);
    },
    timeoutMs,
    `the unpatching transition of ${name}`,
    p,
  );
  return last!;
}

/** Disable (if needed) and rmmod. A module the kernel keeps after a forced transition (see keptByForce) cannot be removed until reboot: that is a clear error. */
export async function unloadModule(ssh: SshTarget, t: TargetSettings, name: string, p: Progress = {}): Promise<LivepatchState> {
  let state = await readState(ssh, t, p);
  const patch = state.patches.find((x) => x.name === name);
  if (patch?.enabled || patch?.transition) state = await disablePatch(ssh, t, name, p);
  p.onStep?.(`Removing module ${name}`);
  // The module refcount drops once the patch is freed; rmmod may need a moment.
  let lastErr = '';
  // The kernel drops a patch module's reference when it frees the patch (its sysfs directory
  // goes), except when its removal was forced: then rmmod says "in use" for ever.
  let inUseWithoutPatch = 0;
  const forcedError = () =>
    new Error(
      `${name} is disabled, but its module stays in use (${lastErr}). The kernel never releases the module of a patch whose removal was forced ` +
        '(Force Transition while it was being disabled, or while a replace patch took its place): it stays loaded, harmlessly disabled, until the target reboots.',
    );
  await waitFor(
    async () => {
      const r = await ssh.run(['rmmod', assertModuleName(name)], { signal: p.signal, timeoutMs: 30000 });
      lastErr = r.stderr.trim();
      if (r.code === 0 || /not currently loaded|is not loaded/.test(lastErr)) return true;
      if (/in use/i.test(lastErr)) {
        const now = await readState(ssh, t, p);
        inUseWithoutPatch = now.patches.some((x) => x.name === name) ? 0 : inUseWithoutPatch + 1;
        if (inUseWithoutPatch >= 5) throw forcedError();
      }
      return false;
    },
    30000,
    () => `rmmod ${name}${lastErr ? ` (${lastErr})` : ''}`,
    p,
    1000,
  );
  return readState(ssh, t, p);
}

export interface ForceResult {
  /** The patches whose modules the kernel now keeps until reboot (keptByForce of the state just before forcing). */
  forced: string[];
  /** /proc/sys/kernel/random/boot_id at that time ('' when unreadable): the marks last until the next boot. */
  bootId: string;
}

/**
 * The patches whose modules the kernel keeps for ever if the transition of `name` is forced now.
 * klp_force_transition() marks as forced only the patches being removed: the patch itself when
 * its disable (unpatching) is forced, or every other patch when a replace patch's patching
 * transition is forced. A forced patching transition of a patch that replaces nothing keeps
 * nothing: its module can be disabled and removed as usual. Kernels before 6.11 do not show
 * `replace`: a patch is then taken for a replace patch, the cautious answer (generated modules
 * replace only when the user chose it, but other tools' modules may).
 */
export function keptByForce(s: LivepatchState, name: string): string[] {
  const patch = s.patches.find((x) => x.name === name);
  const unpatching = s.transition?.patch === name ? s.transition.target === 0 : patch ? !patch.enabled : false;
  if (unpatching) return [name];
  if (patch?.replace === false) return [];
  return s.patches.filter((x) => x.name !== name).map((x) => x.name);
}

/** Writes 1 to force: completes a stuck transition at once, without the consistency check. */
export async function forceTransition(ssh: SshTarget, t: TargetSettings, name: string, p: Progress = {}): Promise<ForceResult> {
  // The snapshot before forcing tells the direction, the patches the force removes, and the boot it happens in.
  const before = await readState(ssh, t, p);
  await writeAttr(ssh, `${livepatchDir(t, name)}/force`, '1', p);
  return { forced: keptByForce(before, name), bootId: before.bootId };
}

/**
 * Enable Patch: the kernel never re-enables a disabled patch (writing 1 to `enabled` is
 * refused), so enabling means removing the module if it is still loaded and loading it again.
 */
export async function enablePatch(
  ssh: SshTarget,
  t: TargetSettings,
  koPath: string,
  name: string,
  p: Progress = {},
  opts: LoadOptions = {},
): Promise<LivepatchState> {
  const s = await readState(ssh, t, p);
  if (s.livepatchModules.some((x) => x.name === name) || s.patches.some((x) => x.name === name)) await unloadModule(ssh, t, name, p);
  return loadModule(ssh, t, koPath, name, p, opts);
}

/** Livepatch-related kernel log lines. */
export async function kernelLog(ssh: SshTarget, p: Progress = {}, lines = 400): Promise<string> {
  const r = await ssh.runChecked(['dmesg', '--color=never'], { signal: p.signal, timeoutMs: 20000 });
  const wanted = /livepatch|klp|patching|transition|TAINT_LIVEPATCH|taint/i;
  return r.stdout
    .split('\n')
    .filter((l) => wanted.test(l))
    .slice(-lines)
    .join('\n');
}

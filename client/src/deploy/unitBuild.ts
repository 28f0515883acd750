// The kbuild backend's patched-unit path, shared by livepatch-deploy and Build Patch Module:
// what the generator needs from the target (its release, Module.symvers and kallsyms, the
// kallsyms cached on disk per release), where the module can be built (here, when this
// machine has the target's exact headers: same release, byte-identical Module.symvers; on
// the target otherwise), and the two builds: make + ELF pass here, then upload and
// sha256-check the .ko; or make on the target, the .ko fetched, the ELF pass here, and the
// result uploaded and checked the same way. The ELF pass is TypeScript and runs here either way.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildOnHost, finishModule, HostBuildError } from '../../../server/src/build/hostBuild';
import { Kallsyms, KlpElfError, parseSymversObjects, type PatchedUnitModule } from '../../../server/src/engine';
import { parseBuildOutput } from '../remote/buildMessages';
import { assertModuleName, assertRemotePath, SshError, type SshTarget } from '../remote/ssh';
import {
  BuildFailed,
  checkWorkDir,
  remoteSha256,
  runBuild,
  uploadFiles,
  type BuiltModule,
  type Progress,
  type TargetSettings,
} from './operations';

/** What the patched-unit generator and the host build need from the target. */
export interface UnitInputs {
  release: string;
  /** The target's Module.symvers (text; '' when it has none). */
  symvers: string;
  /** sha256 of the target's Module.symvers ('' when it has none). */
  symversSha256: string;
  /** The target's /proc/kallsyms (from the cache when it was read before for this release and Module.symvers). */
  kallsyms: string;
  kallsymsFromCache: boolean;
  /** This machine's headers for the target's kernel, with the identical Module.symvers: build here. */
  hostHeaders: string | null;
  /** Where the module will be built, and why (one sentence for the log). */
  where: string;
}

export interface UnitInputOptions {
  /** Where kallsyms is cached: <cacheDir>/<release>/kallsyms. */
  cacheDir: string;
  /** Where this machine's headers packages are (default /usr/src: linux-headers-<release>). */
  headersRoot?: string;
}

/** A release string goes into local and remote paths: only what `uname -r` really prints. */
export const RELEASE = /^[A-Za-z0-9][A-Za-z0-9._+~-]{0,127}$/;

function sha256(data: string | Uint8Array): string {
  return crypto.createHash('sha256').update(data).digest('hex');
}

/** The default kallsyms cache of the CLI and tests: ~/.cache/kernel-livepatch/targets. */
export function defaultTargetCache(): string {
  return path.join(process.env.KLP_CACHE ?? path.join(os.homedir(), '.cache', 'kernel-livepatch'), 'targets');
}

/** Where the target keeps Module.symvers for `release`: the build directory first (what a module build there uses), then the headers package. */
export function remoteSymversPaths(release: string): string[] {
  return [`/lib/modules/${release}/build/Module.symvers`, `/usr/src/linux-headers-${release}/Module.symvers`];
}

/** The first of `candidates` the target has, with its sha256; null when it has none. */
export async function findRemoteSymvers(
  ssh: SshTarget,
  release: string,
  p: Progress = {},
  candidates = remoteSymversPaths(release),
): Promise<{ path: string; sha256: string } | null> {
  if (!candidates.length) return null;
  // One round trip for all of them: sha256sum prints `HASH  PATH` for each file it could read
  // (and exits 1 when one is missing).
  const r = await ssh.run(['sha256sum', '--', ...candidates.map(assertRemotePath)], { signal: p.signal, timeoutMs: 60000 });
  const sums = new Map<string, string>();
  for (const line of r.stdout.split('\n')) {
    const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (m) sums.set(m[2], m[1]);
  }
  for (const f of candidates) {
    const h = sums.get(f);
    if (h) return { path: f, sha256: h };
  }
  return null;
}

/**
 * Reads the target's release and the sha256 of its Module.symvers, takes kallsyms from the
 * cache (or reads and caches it), and decides where to build.
 */
export async function readUnitInputs(ssh: SshTarget, t: TargetSettings, opts: UnitInputOptions, p: Progress = {}): Promise<UnitInputs> {
  p.onStep?.('Reading the target kernel symbols');
  const release = (await ssh.runChecked(['uname', '-r'], { signal: p.signal, timeoutMs: 15000 })).stdout.trim();
  if (!RELEASE.test(release))
    throw new Error(`${t.name} reports a kernel release that is not one: ${JSON.stringify(release.slice(0, 80))}`);
  const found = await findRemoteSymvers(ssh, release, p);
  const remoteSymvers = found?.path ?? '';
  const symversSha256 = found?.sha256 ?? '';
  const headers = path.join(opts.headersRoot ?? '/usr/src', `linux-headers-${release}`);
  const localSymvers = path.join(headers, 'Module.symvers');
  let hostHeaders: string | null = null;
  let where: string;
  let symvers = '';
  if (!remoteSymvers) {
    where = `building on ${t.name}: it has no Module.symvers for ${release}, so this machine's headers cannot be compared with it`;
  } else if (!fs.existsSync(localSymvers)) {
    where = `building on ${t.name}: this machine has no ${localSymvers} (install the headers of ${release} to build here in seconds)`;
  } else {
    const local = fs.readFileSync(localSymvers);
    if (sha256(local) === symversSha256) {
      hostHeaders = headers;
      symvers = local.toString('utf8');
      where = `building on this machine against ${headers} (its Module.symvers is identical to ${t.name}'s)`;
    } else {
      where = `building on ${t.name}: ${localSymvers} differs from ${t.name}'s ${remoteSymvers} (another build of ${release})`;
    }
  }
  if (remoteSymvers && !symvers) {
    symvers = (await ssh.run(['cat', '--', remoteSymvers], { signal: p.signal, maxBuffer: 64 << 20, timeoutMs: 60000 })).stdout;
  }
  const { text: kallsyms, cached } = await cachedKallsyms(ssh, t, opts.cacheDir, release, symversSha256, p);
  return { release, symvers, symversSha256, kallsyms, kallsymsFromCache: cached, hostHeaders, where };
}

/**
 * kallsyms, read once per kernel release and kept in <cacheDir>/<release>/. The cache is
 * keyed on the Module.symvers hash too: two builds that share a release do not share it.
 * `refresh` reads it again (a module that was not loaded when it was cached).
 */
export async function cachedKallsyms(
  ssh: SshTarget,
  t: TargetSettings,
  cacheDir: string,
  release: string,
  symversSha256: string,
  p: Progress = {},
  refresh = false,
): Promise<{ text: string; cached: boolean }> {
  const dir = path.join(cacheDir, release);
  const file = path.join(dir, 'kallsyms');
  const keyFile = path.join(dir, 'symvers.sha256');
  if (!refresh) {
    try {
      if (fs.readFileSync(keyFile, 'utf8').trim() === symversSha256) {
        const text = fs.readFileSync(file, 'utf8');
        if (text.length) return { text, cached: true };
      }
    } catch {
      // not cached yet
    }
  }
  p.onStep?.(`Reading ${t.name}'s kallsyms`);
  const r = await ssh.run(['cat', assertRemotePath(`${t.procRoot.replace(/\/+$/, '')}/kallsyms`)], {
    signal: p.signal,
    maxBuffer: 64 << 20,
    timeoutMs: 120000,
  });
  const text = r.code === 0 ? r.stdout : '';
  // Addresses all zero: kptr_restrict hid them from this user, and names alone still bind; but
  // an empty read is not worth caching.
  if (text.length) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, text, { mode: 0o600 });
    fs.renameSync(tmp, file);
    fs.writeFileSync(keyFile, `${symversSha256}\n`, { mode: 0o600 });
  }
  return { text, cached: false };
}

/**
 * Generates from the target's kallsyms; when the copy came from the cache and lists no symbol
 * of a module the patch changes (it was not loaded when cached), reads kallsyms again and
 * generates once more. `inputs.kallsyms` is updated.
 */
export async function generateWithCurrentKallsyms<M>(
  ssh: SshTarget,
  t: TargetSettings,
  cacheDir: string,
  inputs: UnitInputs,
  p: Progress,
  generate: (kallsyms: string) => M | Promise<M>,
  objectsOf: (m: M) => string[],
): Promise<M> {
  const m = await generate(inputs.kallsyms);
  if (!inputs.kallsymsFromCache || !kallsymsMissesObjects(inputs.kallsyms, objectsOf(m))) return m;
  inputs.kallsyms = (await cachedKallsyms(ssh, t, cacheDir, inputs.release, inputs.symversSha256, p, true)).text;
  return generate(inputs.kallsyms);
}

/** True when the cached kallsyms lists no symbol of a module the patch changes (it was not loaded then). */
export function kallsymsMissesObjects(kallsyms: string, objects: string[]): boolean {
  // A module's symbols end their lines with `[name]`: a text search, not a second parse of
  // several MB that the generator parses anyway.
  const listed = (o: string): boolean => kallsyms.includes(`\t[${o}]`) || kallsyms.includes(` [${o}]`);
  return objects.some((o) => o !== 'vmlinux' && !listed(o));
}

/**
 * Builds a patched-unit module here against `inputs.hostHeaders`, makes it a livepatch .ko,
 * uploads it to <workDir>/<name>/<name>.ko and checks the uploaded copy's sha256. Compiler
 * errors are build events on the patched file's lines (the unit keeps #line markers).
 */
export async function buildUnitOnHost(
  ssh: SshTarget,
  t: TargetSettings,
  mod: PatchedUnitModule,
  inputs: UnitInputs,
  p: Progress = {},
): Promise<BuiltModule & { seconds: number }> {
  assertModuleName(mod.name);
  if (!inputs.hostHeaders) throw new Error(`no local headers for ${inputs.release}`);
  const local = fs.mkdtempSync(path.join(os.tmpdir(), `klp-build-${mod.name}-`));
  try {
    p.onStep?.(`Building ${mod.name}.ko here against ${inputs.hostHeaders}`);
    let ko: string;
    let seconds: number;
    let log: string;
    try {
      const b = await buildOnHost({
        headersDir: inputs.hostHeaders,
        dir: path.join(local, mod.name),
        module: mod,
        exported: parseSymversObjects(inputs.symvers),
        kallsyms: inputs.kallsyms ? new Kallsyms(inputs.kallsyms) : null,
        signal: p.signal,
      });
      p.onOutput?.(b.log);
      ko = b.ko;
      seconds = b.seconds;
      log = b.log;
    } catch (err) {
      if (p.signal?.aborted) throw new SshError('cancelled', `cancelled while building ${mod.name}.ko`);
      if (err instanceof HostBuildError) {
        p.onOutput?.(err.log);
        const output = `${err.log}${err.log.endsWith('\n') || !err.log ? '' : '\n'}${err.message}\n`;
        throw new BuildFailed(`building ${mod.name}.ko failed: ${err.message}`, parseBuildOutput(err.log), output);
      }
      if (err instanceof KlpElfError)
        throw new BuildFailed(`${mod.name}.ko cannot become a livepatch module: ${err.message}`, [], err.message);
      throw err;
    }
    await checkWorkDir(ssh, t, p);
    const remote = assertRemotePath(path.posix.join(t.workDir, mod.name, `${mod.name}.ko`));
    const sha = await uploadChecked(ssh, t, mod.name, fs.readFileSync(ko), remote, p);
    return builtModule(mod.name, remote, sha, parseBuildOutput(log), 'host', seconds);
  } finally {
    fs.rmSync(local, { recursive: true, force: true });
  }
}

/** A .ko built on the target, fetched whole: base64 keeps the bytes intact through the text channel. */
async function fetchFile(ssh: SshTarget, remote: string, p: Progress): Promise<Buffer> {
  const r = await ssh.runChecked(['base64', '-w0', '--', assertRemotePath(remote)], {
    signal: p.signal,
    maxBuffer: 128 << 20,
    timeoutMs: 120000,
  });
  const bytes = Buffer.from(r.stdout.trim(), 'base64');
  const want = await remoteSha256(ssh, remote, p);
  if (sha256(bytes) !== want) throw new Error(`${remote} arrived changed from the target (sha256 ${sha256(bytes)}, there ${want})`);
  return bytes;
}

/**
 * Builds a patched-unit module on the target, against its own kbuild directory
 * (/lib/modules/<release>/build), for a target whose headers this machine does not have.
 * make runs there with KBUILD_MODPOST_WARN=1 (the klp placeholders are undefined until the
 * ELF pass); the .ko comes back here for the ELF pass and the result replaces it there.
 */
export async function buildUnitOnTarget(
  ssh: SshTarget,
  t: TargetSettings,
  mod: PatchedUnitModule,
  inputs: UnitInputs,
  p: Progress = {},
): Promise<BuiltModule & { seconds: number }> {
  assertModuleName(mod.name);
  const started = Date.now();
  await checkWorkDir(ssh, t, p);
  const dir = await uploadFiles(ssh, t, mod.name, mod.files, p);
  p.onStep?.(`Building ${mod.name}.ko on ${t.name} against ${inputs.release}`);
  const argv = ['make', '-C', assertRemotePath(`/lib/modules/${inputs.release}/build`), `M=${dir}`, 'KBUILD_MODPOST_WARN=1', 'modules'];
  const { events, output } = await runBuild(
    ssh,
    argv,
    30 * 60 * 1000,
    (code) => `building ${mod.name}.ko on ${t.name} failed (make exit ${code})`,
    p,
  );
  const remote = assertRemotePath(path.posix.join(dir, `${mod.name}.ko`));
  p.onStep?.(`Fetching ${mod.name}.ko for the ELF pass`);
  const raw = await fetchFile(ssh, remote, p);
  let bytes: Uint8Array;
  try {
    bytes = finishModule(raw, output, {
      module: mod,
      exported: parseSymversObjects(inputs.symvers),
      kallsyms: inputs.kallsyms ? new Kallsyms(inputs.kallsyms) : null,
    }).elf.elf;
  } catch (err) {
    if (err instanceof HostBuildError)
      throw new BuildFailed(`building ${mod.name}.ko failed: ${err.message}`, parseBuildOutput(err.log), `${err.log}\n${err.message}\n`);
    if (err instanceof KlpElfError)
      throw new BuildFailed(`${mod.name}.ko cannot become a livepatch module: ${err.message}`, [], err.message);
    throw err;
  }
  const sha = await uploadChecked(ssh, t, mod.name, bytes, remote, p);
  return builtModule(mod.name, remote, sha, events, 'target', (Date.now() - started) / 1000);
}

/** Uploads the livepatch .ko to `remote` and checks that what arrived is what was built; returns its sha256. */
async function uploadChecked(
  ssh: SshTarget,
  t: TargetSettings,
  name: string,
  bytes: Uint8Array,
  remote: string,
  p: Progress,
): Promise<string> {
  const want = sha256(bytes);
  p.onStep?.(`Uploading ${name}.ko to ${remote}`);
  await ssh.upload(Buffer.from(bytes), remote, { mkdirs: true, mode: 0o644, signal: p.signal });
  const got = await remoteSha256(ssh, remote, p);
  if (got !== want)
    throw new Error(`the upload of ${name}.ko to ${t.name} arrived changed (sha256 ${got}, built ${want}): nothing was loaded`);
  return want;
}

function builtModule(
  name: string,
  remote: string,
  sha: string,
  events: BuiltModule['events'],
  builtOn: 'host' | 'target',
  seconds: number,
): BuiltModule & { seconds: number } {
  return { name, path: remote, backend: 'kbuild', builtAt: new Date().toISOString(), sha256: sha, events, builtOn, seconds };
}

/** Builds where `inputs` says: here with the target's exact headers, on the target otherwise (or when `where` forces it). */
export function buildUnit(
  ssh: SshTarget,
  t: TargetSettings,
  mod: PatchedUnitModule,
  inputs: UnitInputs,
  p: Progress = {},
  where: 'auto' | 'host' | 'target' = 'auto',
): Promise<BuiltModule & { seconds: number }> {
  if (where === 'host' && !inputs.hostHeaders) throw new Error(`cannot build on this machine: ${inputs.where}`);
  return inputs.hostHeaders && where !== 'target' ? buildUnitOnHost(ssh, t, mod, inputs, p) : buildUnitOnTarget(ssh, t, mod, inputs, p);
}

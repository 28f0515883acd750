// The target facts the language server uses while the user types (issue 13): the active
// target's kallsyms, Module.symvers and .config, read over SSH once per kernel release and
// kept in <cacheDir>/<release>/ (the layout of the deploy path's kallsyms cache and of
// scripts/fetch-target-facts.sh). The server gets the paths, once per target and release.
// No VS Code import: the extension feeds TargetFactsSync with the state view's reads.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DidChangeTargetFactsParams } from '../../../server/src/protocol';
import { assertRemotePath, type SshTarget } from '../remote/ssh';
import type { Progress, TargetSettings } from './operations';
import { cachedKallsyms, findRemoteSymvers, RELEASE, remoteSymversPaths } from './unitBuild';

export type TargetFactPaths = NonNullable<DidChangeTargetFactsParams['facts']>;

/** Written last: the cache of a release is complete for the Module.symvers it names. */
const MANIFEST = 'facts.json';

interface Manifest {
  symversSha256: string;
  kallsyms: boolean;
  symvers: boolean;
  config: boolean;
}

export interface TargetFactOptions {
  /** Where the target keeps Module.symvers (default: its build directory, then its headers package). */
  symversPaths?: (release: string) => string[];
  /** Where the target keeps its .config (default: /boot/config-<release>, then the build directory's). */
  configPaths?: (release: string) => string[];
}

function remoteConfigPaths(release: string): string[] {
  return [`/boot/config-${release}`, `/lib/modules/${release}/build/.config`];
}

function writePrivate(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text, { mode: 0o600 });
  fs.renameSync(tmp, file);
}

function readManifest(dir: string): Manifest | null {
  try {
    const m = JSON.parse(fs.readFileSync(path.join(dir, MANIFEST), 'utf8')) as Manifest;
    return typeof m.symversSha256 === 'string' ? m : null;
  } catch {
    return null;
  }
}

/**
 * The facts of `t` for `release` (read with `uname -r` when not given), from the cache when it
 * holds them for the target's current Module.symvers (one sha256sum on the target), read over
 * SSH and cached otherwise. `fromCache` says which.
 */
export async function readTargetFacts(
  ssh: SshTarget,
  t: TargetSettings,
  cacheDir: string,
  p: Progress = {},
  release?: string,
  opts: TargetFactOptions = {},
): Promise<TargetFactPaths & { fromCache: boolean }> {
  release ??= (await ssh.runChecked(['uname', '-r'], { signal: p.signal, timeoutMs: 15000 })).stdout.trim();
  if (!RELEASE.test(release))
    throw new Error(`${t.name} reports a kernel release that is not one: ${JSON.stringify(release.slice(0, 80))}`);
  const dir = path.join(cacheDir, release);
  const files = { kallsyms: path.join(dir, 'kallsyms'), symvers: path.join(dir, 'Module.symvers'), config: path.join(dir, 'config') };
  // Two builds of one release (a rebuilt test kernel) differ in Module.symvers: the key.
  const found = await findRemoteSymvers(ssh, release, p, (opts.symversPaths ?? remoteSymversPaths)(release));
  const key = found?.sha256 ?? '';
  const m = readManifest(dir);
  const present = (k: keyof typeof files, want: boolean) => (want && fs.existsSync(files[k]) ? files[k] : null);
  if (m && m.symversSha256 === key) {
    return {
      target: t.name,
      release,
      kallsyms: present('kallsyms', m.kallsyms),
      symvers: present('symvers', m.symvers),
      config: present('config', m.config),
      fromCache: true,
    };
  }
  p.onStep?.(`Reading ${t.name}'s kernel facts for ${release}`);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  let symvers = false;
  if (found) {
    const r = await ssh.run(['cat', '--', assertRemotePath(found.path)], { signal: p.signal, maxBuffer: 64 << 20, timeoutMs: 60000 });
    if (r.code === 0 && r.stdout) {
      writePrivate(files.symvers, r.stdout);
      symvers = true;
    }
  }
  let config = false;
  for (const f of (opts.configPaths ?? remoteConfigPaths)(release)) {
    const r = await ssh.run(['cat', '--', assertRemotePath(f)], { signal: p.signal, maxBuffer: 16 << 20, timeoutMs: 60000 });
    if (r.code === 0 && /^CONFIG_\w+=/m.test(r.stdout)) {
      writePrivate(files.config, r.stdout);
      config = true;
      break;
    }
  }
  // Shared with the deploy path: a kallsyms it cached for this Module.symvers is reused.
  const ks = await cachedKallsyms(ssh, t, cacheDir, release, key, p);
  const kallsyms = ks.text.length > 0;
  writePrivate(path.join(dir, MANIFEST), `${JSON.stringify({ symversSha256: key, kallsyms, symvers, config } satisfies Manifest)}\n`);
  return {
    target: t.name,
    release,
    kallsyms: kallsyms ? files.kallsyms : null,
    symvers: symvers ? files.symvers : null,
    config: config ? files.config : null,
    fromCache: false,
  };
}

export interface FactsSyncDeps {
  cacheDir: string;
  /** Sends the facts (or their absence) to the language server. */
  send: (p: DidChangeTargetFactsParams) => void | Promise<void>;
  log: (message: string) => void;
  options?: TargetFactOptions;
}

/**
 * Keeps the server's facts on the active target's release. `update` is called whenever the
 * state view has read the target (it reads the release anyway): nothing happens until the
 * target or its release changes. Nothing is read in an untrusted workspace.
 */
export class TargetFactsSync {
  private key = '';
  private sent = false;
  private running: Promise<void> = Promise.resolve();

  constructor(private readonly deps: FactsSyncDeps) {}

  update(target: { settings: TargetSettings; ssh: SshTarget } | undefined, release: string | null, trusted: boolean): Promise<void> {
    // Chained: a release that changes while the last one is being read is handled after it.
    this.running = this.running.then(() => this.apply(target, release, trusted));
    return this.running;
  }

  private async apply(
    target: { settings: TargetSettings; ssh: SshTarget } | undefined,
    release: string | null,
    trusted: boolean,
  ): Promise<void> {
    if (!trusted) return;
    const who = target ? JSON.stringify([target.settings.name, target.settings.destination, target.settings.procRoot]) : '';
    // The same target, unreachable for now: its facts stay what they were.
    if (target && !release && this.key.startsWith(`${who}\0`)) return;
    const key = target && release ? `${who}\0${release}` : '';
    if (key === this.key) return;
    this.key = key;
    if (!target || !release) {
      // No target, or another one whose release is not known yet: the old facts are wrong for it.
      if (this.sent) await this.deps.send({ facts: null });
      this.sent = false;
      return;
    }
    const t0 = Date.now();
    try {
      const f = await readTargetFacts(target.ssh, target.settings, this.deps.cacheDir, {}, release, this.deps.options);
      const { fromCache, ...facts } = f;
      const have = (['kallsyms', 'symvers', 'config'] as const).filter((k) => facts[k]);
      this.deps.log(
        `${facts.target}: target facts of ${release} ${fromCache ? 'from the cache' : 'read'} in ${Date.now() - t0} ms (${have.join(', ') || 'none'})`,
      );
      await this.deps.send({ facts });
      this.sent = true;
    } catch (err) {
      // Read again on the next state read rather than never.
      this.key = '';
      this.deps.log(`${target.settings.name}: cannot read the target facts of ${release}: ${(err as Error).message}`);
    }
  }
}

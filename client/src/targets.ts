// Test-VM targets from the `livepatch.targets` settings (machine scope,
// restricted in untrusted workspaces), and the SshTarget for the active one.

import * as fs from 'node:fs';
import * as vscode from 'vscode';
import { SshTarget, configFromSetting, prepareControlDir, type TargetEntry } from './remote/ssh';
import type { TargetSettings } from './deploy/operations';

/** The active target: its entry with the defaults filled in, and its connection (names: remote/ssh/index.ts). */
export interface Target {
  settings: TargetSettings;
  ssh: SshTarget;
}

export class Targets implements vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<void>();
  readonly onDidChange = this.emitter.event;
  private readonly sub: vscode.Disposable;
  private cache = new Map<string, SshTarget>();
  /** Private base directory for ControlPath sockets; each target gets its own subdirectory (targetControlDir). */
  private readonly controlDir: string | undefined;
  private readonly ownsControlDir: boolean;

  constructor(storageDir: string) {
    fs.mkdirSync(storageDir, { recursive: true });
    this.controlDir = prepareControlDir(storageDir);
    // A fallback under the temp dir (the storage path was too long for a socket) is ours to remove.
    this.ownsControlDir = !!this.controlDir && this.controlDir !== storageDir;
    this.sub = vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('livepatch')) {
        void this.closeAll();
        this.emitter.fire();
      }
    });
  }

  list(): TargetEntry[] {
    const raw = vscode.workspace.getConfiguration('livepatch').get<TargetEntry[]>('targets') ?? [];
    return raw.filter((t) => t && typeof t.destination === 'string' && t.destination.trim());
  }

  /** The active target, or undefined when none is configured. Throws on an invalid configuration. */
  active(): Target | undefined {
    const cfg = vscode.workspace.getConfiguration('livepatch');
    const list = this.list();
    if (!list.length) return undefined;
    const wanted = cfg.get<string>('activeTarget') ?? '';
    const raw = list.find((t) => (t.name ?? t.destination) === wanted) ?? list[0];
    const name = raw.name ?? raw.destination!;
    const settings: TargetSettings = {
      name,
      destination: raw.destination!,
      workDir: raw.workDir ?? '/root/livepatch',
      backend: raw.backend ?? 'kpatch-build',
      kernelSource: raw.kernelSource,
      kernelConfig: raw.kernelConfig,
      vmlinux: raw.vmlinux,
      kpatchBuildArgs: raw.kpatchBuildArgs,
      sysfsRoot: raw.sysfsRoot ?? '/sys',
      procRoot: raw.procRoot ?? '/proc',
    };
    const key = JSON.stringify(raw);
    let ssh = this.cache.get(key);
    if (!ssh) {
      ssh = new SshTarget(
        configFromSetting({ ...raw, destination: raw.destination! }, { sshPath: cfg.get<string>('ssh.path'), controlDir: this.controlDir }),
      );
      this.cache.set(key, ssh);
    }
    return { settings, ssh };
  }

  private closeAll(): Promise<unknown> {
    const closing = Promise.all([...this.cache.values()].map((ssh) => ssh.closeMaster().catch(() => undefined)));
    this.cache.clear();
    return closing;
  }

  dispose(): void {
    // The masters exit through their sockets: remove the directory only after them.
    const closing = this.closeAll();
    if (this.ownsControlDir) void closing.then(() => fs.rmSync(this.controlDir!, { recursive: true, force: true }));
    this.sub.dispose();
    this.emitter.dispose();
  }
}

// code-server for the end-to-end test: installed by scripts/e2e/install-code-server.sh into a
// cache directory outside the repository, run on 127.0.0.1 with its own user-data, extensions,
// XDG config and no extension gallery, and stopped with its whole process group.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort } from '../../testing/sshd';

export const ROOT = path.join(__dirname, '..', '..');

/** Runs the idempotent installer; returns the code-server executable. */
export function installCodeServer(): string {
  if (process.env.CODE_SERVER) return process.env.CODE_SERVER;
  const out = execFileSync(path.join(ROOT, 'scripts/e2e/install-code-server.sh'), {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return out.trim().split('\n').pop()!;
}

export interface Dirs {
  /** Shared by every session: the installed VSIX. */
  extensions: string;
  /** Per session: settings, global state, logs. */
  userData: string;
  xdg: string;
}

function env(d: Dirs): NodeJS.ProcessEnv {
  return {
    ...process.env,
    XDG_CONFIG_HOME: d.xdg,
    XDG_DATA_HOME: path.join(d.xdg, 'data'),
    // A closed loopback port: nothing ever reaches a real gallery (open-vsx.org by default).
    EXTENSIONS_GALLERY: JSON.stringify({
      serviceUrl: 'http://127.0.0.1:9/gallery',
      itemUrl: 'http://127.0.0.1:9/item',
      resourceUrlTemplate: 'http://127.0.0.1:9/resource/{publisher}/{name}/{version}/{path}',
      controlUrl: '',
      nlsBaseUrl: '',
    }),
  };
}

function baseArgs(d: Dirs): string[] {
  return ['--config', '/dev/null', '--user-data-dir', d.userData, '--extensions-dir', d.extensions];
}

export function installExtension(bin: string, d: Dirs, vsix: string): void {
  execFileSync(bin, [...baseArgs(d), '--install-extension', vsix, '--force'], {
    env: env(d),
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 180_000,
  });
}

export interface CodeServer {
  url: string;
  port: number;
  output(): string;
  stop(): Promise<void>;
}

/** Starts code-server for `folder` and waits until /healthz answers. */
export async function startCodeServer(bin: string, d: Dirs, folder: string, opts: { trust: boolean }): Promise<CodeServer> {
  const port = await freePort();
  const args = [
    ...baseArgs(d),
    '--bind-addr',
    `127.0.0.1:${port}`,
    '--auth',
    'none',
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-getting-started-override',
    '--ignore-last-opened',
    ...(opts.trust ? ['--disable-workspace-trust'] : []),
    folder,
  ];
  let out = '';
  // Own process group: code-server forks file watchers and extension hosts that outlive a plain kill.
  const child: ChildProcess = spawn(bin, args, { env: env(d), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const stop = async (): Promise<void> => {
    const pgid = child.pid!;
    const alive = (): boolean => {
      try {
        process.kill(-pgid, 0);
        return true;
      } catch {
        return false;
      }
    };
    if (!alive()) return;
    try {
      process.kill(-pgid, 'SIGTERM');
    } catch {
      return;
    }
    const until = Date.now() + 8000;
    while (alive() && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    if (alive()) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  };
  const url = `http://127.0.0.1:${port}`;
  const until = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`code-server exited with ${child.exitCode}:\n${out}`);
    try {
      const r = await fetch(`${url}/healthz`);
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > until) {
      await stop();
      throw new Error(`code-server did not answer /healthz within 90 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { url, port, output: () => out, stop };
}

/** Our settings whose scope is machine or machine-overridable (package.json). */
function machineScoped(): Set<string> {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const props: Record<string, { scope?: string }> = pkg.contributes.configuration.properties;
  return new Set(
    Object.entries(props)
      .filter(([, v]) => v.scope === 'machine' || v.scope === 'machine-overridable')
      .map(([k]) => k),
  );
}

/** Settings that keep a test's code-server quiet: nothing may reach a gallery, a telemetry endpoint or an update server. */
export const QUIET_SETTINGS: Readonly<Record<string, unknown>> = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'git.autofetch': false,
  'remote.autoForwardPorts': false,
};

/**
 * Settings as a user of a VS Code server sets them (code-server keeps both files server-side,
 * in the user-data dir): machine-scoped ones in the remote machine's settings
 * (Machine/settings.json), the rest in User/settings.json. A code-server window is a remote
 * window, and VS Code drops machine-scoped settings from User/settings.json there once it
 * knows their scope.
 */
export function writeUserSettings(d: Dirs, settings: Record<string, unknown>, keybindings: unknown[] = []): void {
  const machine = machineScoped();
  const pick = (want: boolean) => Object.fromEntries(Object.entries(settings).filter(([k]) => machine.has(k) === want));
  for (const [dir, values] of [
    ['User', pick(false)],
    ['Machine', pick(true)],
  ] as const) {
    fs.mkdirSync(path.join(d.userData, dir), { recursive: true });
    fs.writeFileSync(path.join(d.userData, dir, 'settings.json'), JSON.stringify(values, null, 2));
  }
  fs.writeFileSync(path.join(d.userData, 'User', 'keybindings.json'), JSON.stringify(keybindings, null, 2));
}

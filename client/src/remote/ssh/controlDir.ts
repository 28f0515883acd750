// The control-socket directory: where ssh's multiplexing masters keep their sockets, private
// (0700, ours) and short enough for a Unix socket path; one subdirectory per target.

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { SshTargetConfig } from './argv';

// sun_path is 108 bytes on Linux, 104 on macOS; we add "/<12 hex>" per target, ssh adds
// "/<40 hex>" and, while creating the socket, a ".<16 random>" suffix.
const CONTROL_SUBDIR_CHARS = 12;
const SOCKET_PATH_BUDGET = 100 - 1 - CONTROL_SUBDIR_CHARS - 1 - 40 - 17;

/** Create dir (0700) or accept it if it is already a directory of ours; tighten its mode. */
export function ensurePrivateDir(dir: string): boolean {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = fs.lstatSync(dir);
    const uid = process.getuid?.();
    if (!st.isDirectory() || (uid !== undefined && st.uid !== uid)) return false;
    if ((st.mode & 0o077) !== 0) fs.chmodSync(dir, 0o700);
    return true;
  } catch {
    return false;
  }
}

/**
 * The socket directory of one target: `%C` hashes only host, port and user, so targets
 * that differ in config file, keys, known_hosts or host-key policy would otherwise share
 * a master, and the one with the weaker settings would ride on the other's connection.
 */
export function targetControlDir(cfg: SshTargetConfig): string {
  const identity = JSON.stringify([
    cfg.destination,
    cfg.sshPath ?? null,
    cfg.configFile ?? null,
    cfg.port ?? null,
    cfg.identityFile ?? null,
    cfg.knownHostsFile ?? null,
    cfg.strictHostKeyChecking ?? 'yes',
    cfg.extraOptions ?? [],
  ]);
  const base = (cfg.controlDir ?? '').replace(/\/+$/, '');
  return `${base}/${createHash('sha256').update(identity).digest('hex').slice(0, CONTROL_SUBDIR_CHARS)}`;
}

/**
 * A private (0700, ours) directory for ControlPath sockets, or undefined on Windows.
 * `preferred` (e.g. the extension's global storage) is used when its path is short
 * enough for a Unix socket; otherwise a fresh private directory under the temp dir.
 */
export function prepareControlDir(preferred?: string, platform: NodeJS.Platform = process.platform): string | undefined {
  if (platform === 'win32') return undefined;
  if (preferred && Buffer.byteLength(preferred) <= SOCKET_PATH_BUDGET && ensurePrivateDir(preferred)) return preferred;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'klp-ssh-'));
  fs.chmodSync(dir, 0o700);
  return dir;
}

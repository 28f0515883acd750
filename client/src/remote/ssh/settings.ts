// Settings mapping: a `livepatch.targets` entry (and the machine-wide ssh settings) to the
// options of one ssh connection.

import * as os from 'node:os';
import type { SshTargetConfig } from './argv';

/** How a target builds patch modules. */
export type TargetBackend = 'kpatch-build' | 'klp-build' | 'kbuild';

/** A `livepatch.targets` entry as the user wrote it (the schema in package.json): nothing is filled in yet. */
export interface TargetEntry {
  name?: string;
  destination?: string;
  sshConfigFile?: string;
  workDir?: string;
  backend?: TargetBackend;
  privilege?: 'root' | 'sudo';
  kernelSource?: string;
  kernelConfig?: string;
  vmlinux?: string;
  kpatchBuildArgs?: string[];
  acceptNewHostKey?: boolean;
  sysfsRoot?: string;
  procRoot?: string;
}

/** The part of an entry the transport reads. */
export type TargetEntryTransport = Pick<TargetEntry, 'sshConfigFile' | 'privilege' | 'acceptNewHostKey'> & { destination: string };

/** Map a `livepatch.targets` entry plus machine-level settings to a transport config. */
export function configFromSetting(
  t: TargetEntryTransport,
  machine: { sshPath?: string; controlDir?: string; platform?: NodeJS.Platform } = {},
): SshTargetConfig {
  return {
    destination: t.destination,
    sshPath: machine.sshPath || undefined,
    // `~/` as in ssh_config itself: settings are JSON, no shell expands it.
    configFile: t.sshConfigFile ? t.sshConfigFile.replace(/^~(?=\/)/, os.homedir()) : undefined,
    sudo: t.privilege === 'sudo' ? 'sudo' : 'root',
    strictHostKeyChecking: t.acceptNewHostKey ? 'accept-new' : 'yes',
    controlDir: machine.controlDir,
    platform: machine.platform,
  };
}

// The test VM of the end-to-end test: the real loopback sshd of the client tests with the
// stand-in kernel of the fault suite (testing/fakeKernel.ts): a
// sysfs/procfs-shaped fixture whose `insmod`/`rmmod`, first on the session's PATH, create and
// remove a patch's /sys/kernel/livepatch directory the way the kernel would. Nothing here
// touches the real kernel: the commands the extension runs (the state script,
// `tee .../enabled`, insmod, rmmod) all act on the fixture.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { chmodTree, fakeKo, installFakeKernelTools } from '../../testing/fakeKernel';
import { startSshd, type TestSshd } from '../../testing/sshd';

export const PATCH_NAME = 'livepatch_ring_drops';
export const PATCHED_FUNCTION = 'klpdemo_ring_push';
export const KERNEL_RELEASE = '6.1.0-e2e-amd64';

export interface FixtureTarget {
  sshd: TestSshd;
  /** ssh alias defined in `sshConfig`. */
  alias: string;
  sshConfig: string;
  sysfsRoot: string;
  procRoot: string;
  workDir: string;
  /** Remote path of the stand-in module that insmod "loads". */
  koPath: string;
  /** Setting value for livepatch.targets. */
  setting(name: string): Record<string, unknown>;
  patchDir(): string;
  stop(): Promise<void>;
}

function writeTree(root: string, tree: Record<string, unknown>): void {
  fs.mkdirSync(root, { recursive: true });
  for (const [name, v] of Object.entries(tree)) {
    const p = path.join(root, name);
    if (typeof v === 'string') fs.writeFileSync(p, v);
    else writeTree(p, v as Record<string, unknown>);
  }
}

/** Starts the sshd and lays out the fixture with one loaded patch, under `dir`. */
export async function startFixtureTarget(dir: string): Promise<FixtureTarget> {
  fs.mkdirSync(dir, { recursive: true });
  const sys = path.join(dir, 'sys');
  const proc = path.join(dir, 'proc');
  const bin = path.join(dir, 'bin');
  const workDir = path.join(dir, 'work');
  writeTree(sys, { kernel: { livepatch: {} }, module: { ext4: { parameters: {} } } });
  writeTree(proc, { sys: { kernel: { osrelease: `${KERNEL_RELEASE}\n`, tainted: '0\n' } } });
  fs.mkdirSync(workDir, { recursive: true });
  installFakeKernelTools(bin, sys, proc);
  const koPath = path.join(workDir, `${PATCH_NAME}.ko`);
  fs.writeFileSync(koPath, fakeKo(PATCH_NAME, { functions: [`vmlinux:${PATCHED_FUNCTION},1`] }));
  // The login is the unprivileged test user: let it write the fixture.
  fs.chmodSync(dir, 0o755);
  for (const d of [sys, proc, workDir]) chmodTree(d);

  const sshd = await startSshd({ env: { PATH: `${bin}:/usr/local/bin:/usr/bin:/bin` } });
  // The patch starts out loaded: run the stand-in as the kernel would have at boot.
  const { execFileSync } = await import('node:child_process');
  execFileSync(path.join(bin, 'insmod'), [koPath]);
  chmodTree(sys);
  // Taint K, as after loading a livepatch (bit 15).
  fs.writeFileSync(path.join(proc, 'sys/kernel/tainted'), `${1 << 15}\n`);

  const alias = 'klp-e2e-target';
  const sshConfig = sshd.writeSshConfig(path.join(dir, 'ssh_config'), alias);

  return {
    sshd,
    alias,
    sshConfig,
    sysfsRoot: sys,
    procRoot: proc,
    workDir,
    koPath,
    setting: (name) => ({ name, destination: alias, sshConfigFile: sshConfig, backend: 'kbuild', workDir, sysfsRoot: sys, procRoot: proc }),
    patchDir: () => path.join(sys, 'kernel/livepatch', PATCH_NAME),
    stop: () => sshd.stop(),
  };
}

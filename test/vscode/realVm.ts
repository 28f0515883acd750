// The real test VM for the e2e's last phase: a Debian 6.1 kernel under QEMU (scripts/testvm),
// the one `npm run test:vm` leaves up with KLP_TESTVM_KEEP=1 (.ci/run), or one started by
// hand with `scripts/testvm/start.sh --name NAME --port auto`. KLP_TESTVM_NAME names it
// (default e2e, as in test:vm; unnamed, only a boot that test:vm left for it is used). The harness reaches it as the extension does: the ssh alias
// of the ssh_config that start.sh writes, host key pinned there.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { defaultKernelTree } from '../../tools/parse-accuracy/accuracy';
import { SshTarget } from '../../client/src/remote/ssh';
import { readState, unloadModule, type TargetSettings } from '../../client/src/deploy/operations';
import type { LivepatchState } from '../../client/src/remote/state';
import { ROOT } from './codeServer';

export interface RealVm {
  name: string;
  /** ssh alias in `sshConfig` (klp-testvm-NAME). */
  alias: string;
  sshConfig: string;
  /** `uname -r` of the VM. */
  release: string;
  /** The kernel tree the fixes are written against (the workspace). */
  tree: string;
  /** Setting value for livepatch.targets. */
  setting(name: string): Record<string, unknown>;
  /** Runs argv on the VM (as root), returns stdout; throws on a non-zero exit. */
  run(argv: string[]): Promise<string>;
  /** /sys/kernel/livepatch and friends, read by the client's own code. */
  state(): Promise<LivepatchState>;
  /** After a failed check: disables and removes `name` if it is still loaded, so the VM is left as found. */
  unloadIfLoaded(name: string): Promise<void>;
  close(): Promise<void>;
}

/** In CI a missing VM fails the phase; elsewhere it is skipped with its reason. */
export function realVmRequired(): boolean {
  return process.env.CI === 'true' || process.env.KLP_REQUIRE_TESTVM === '1';
}

const WORK_DIR = '/root/livepatch';

/** The running test VM and the kernel tree, or why the real-VM phase cannot run. */
export async function findRealVm(): Promise<RealVm | { missing: string }> {
  const name = process.env.KLP_TESTVM_NAME ?? 'e2e';
  const tree = defaultKernelTree();
  if (!fs.existsSync(path.join(tree, 'Kbuild')) || !fs.existsSync(path.join(tree, 'fs/filesystems.c'))) {
    return {
      missing: `no Debian 6.1 kernel tree at ${tree} (scripts/fetch-kernel-source.sh fetches it; KLP_KERNEL_TREE points elsewhere)`,
    };
  }
  const st = spawnSync(path.join(ROOT, 'scripts/testvm/status.sh'), ['--name', name], { encoding: 'utf8', timeout: 120_000 });
  if (st.status !== 0) {
    const why =
      st.status === 3
        ? 'is not running'
        : st.status === 1
          ? 'runs but its ssh does not answer'
          : `status.sh exited with ${st.status ?? st.signal}`;
    return {
      missing:
        `the test VM "${name}" ${why} (KLP_TESTVM_NAME picks another; start one with ` +
        `\`KLP_TESTVM_KEEP=1 npm run test:vm\` or \`scripts/testvm/start.sh --name ${name} --port auto\`)`,
    };
  }
  const cache = process.env.KLP_CACHE ?? path.join(os.homedir(), '.cache', 'kernel-livepatch');
  const runDir = path.join(cache, 'testvm', 'run', name);
  const sshConfig = path.join(runDir, 'ssh_config');
  if (!process.env.KLP_TESTVM_NAME) {
    // Unnamed, only a boot that test:vm left for us (KLP_TESTVM_KEEP=1 writes its QEMU pid there):
    // the default VM may be in the middle of a test:vm run, whose checks a load here would upset.
    const read = (f: string): string => {
      try {
        return fs.readFileSync(path.join(runDir, f), 'utf8').trim();
      } catch {
        return '';
      }
    };
    const kept = read('kept-for-e2e');
    if (!kept || kept !== read('qemu.pid')) {
      return {
        missing:
          `the test VM "${name}" runs, but test:vm did not leave this boot for test:e2e (it may be using it now): ` +
          `set KLP_TESTVM_NAME=${name} to use it anyway`,
      };
    }
  }
  const alias = `klp-testvm-${name}`;
  const ssh = new SshTarget({ destination: alias, configFile: sshConfig, connectTimeout: 30 });
  const run = async (argv: string[]): Promise<string> => (await ssh.runChecked(argv, { maxBuffer: 16 << 20 })).stdout;
  const release = (await run(['uname', '-r'])).trim();
  const settings: TargetSettings = {
    name: 'testvm',
    destination: alias,
    workDir: WORK_DIR,
    backend: 'kbuild',
    sysfsRoot: '/sys',
    procRoot: '/proc',
  };
  const state = (): Promise<LivepatchState> => readState(ssh, settings);
  return {
    name,
    alias,
    sshConfig,
    release,
    tree,
    setting: (target) => ({ name: target, destination: alias, sshConfigFile: sshConfig, backend: 'kbuild', workDir: WORK_DIR }),
    run,
    state,
    unloadIfLoaded: async (name) => {
      const s = await state();
      if (s.patches.some((p) => p.name === name) || s.livepatchModules.some((m) => m.name === name))
        await unloadModule(ssh, settings, name);
    },
    close: () => ssh.closeMaster().catch(() => undefined),
  };
}

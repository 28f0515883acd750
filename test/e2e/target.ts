// The test VM of the end-to-end test: the real loopback sshd of the client tests, a
// sysfs/procfs-shaped fixture tree, and stand-in `insmod`/`rmmod` first on the session's PATH
// that create and remove a patch's /sys/kernel/livepatch directory in that fixture the way the
// kernel would. Nothing here touches the real kernel: the commands the extension runs
// (the state script, `tee .../enabled`, insmod, rmmod) all act on the fixture.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { startSshd, TEST_USER, type TestSshd } from '../../client/src/remote/testing/sshd';

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

/** A stand-in .ko: the sysfs entries the kernel would create for it, one per line. */
function koText(name: string): string {
  return [`name ${name}`, 'object vmlinux', `func vmlinux ${PATCHED_FUNCTION},1`, ''].join('\n');
}

function insmodScript(sys: string): string {
  return `#!/bin/sh
# e2e stand-in for insmod: "loads" a text .ko into the sysfs fixture.
set -e
ko="$1"
[ -r "$ko" ] || { echo "insmod: ERROR: could not load module $ko: No such file or directory" >&2; exit 1; }
name=$(sed -n 's/^name //p' "$ko")
[ -n "$name" ] || { echo "insmod: ERROR: could not insert module $ko: Invalid module format" >&2; exit 1; }
if [ -d "${sys}/module/$name" ]; then echo "insmod: ERROR: could not insert module $ko: File exists" >&2; exit 1; fi
lp="${sys}/kernel/livepatch/$name"
mkdir -p "$lp" "${sys}/module/$name"
printf '0\\n' > "$lp/force"; chmod 200 "$lp/force"
printf '1\\n' > "$lp/transition"
sed -n 's/^object //p' "$ko" | while read -r o; do mkdir -p "$lp/$o"; printf '1\\n' > "$lp/$o/patched"; done
sed -n 's/^func //p' "$ko" | while read -r o f; do mkdir -p "$lp/$o/$f"; done
printf '1\\n' > "$lp/enabled"
printf 'OEK\\n' > "${sys}/module/$name/taint"
# The transition of a quiet system completes at once.
printf '0\\n' > "$lp/transition"
`;
}

function rmmodScript(sys: string): string {
  return `#!/bin/sh
# e2e stand-in for rmmod: refuses while the patch is enabled, like the kernel (module in use).
name="$1"
lp="${sys}/kernel/livepatch/$name"
if [ ! -d "${sys}/module/$name" ]; then echo "rmmod: ERROR: Module $name is not currently loaded" >&2; exit 1; fi
if [ -f "$lp/enabled" ] && [ "$(cat "$lp/enabled")" = 1 ]; then echo "rmmod: ERROR: Module $name is in use" >&2; exit 1; fi
rm -rf "$lp" "${sys}/module/$name"
`;
}

function writeTree(root: string, tree: Record<string, unknown>): void {
  fs.mkdirSync(root, { recursive: true });
  for (const [name, v] of Object.entries(tree)) {
    const p = path.join(root, name);
    if (typeof v === 'string') fs.writeFileSync(p, v);
    else writeTree(p, v as Record<string, unknown>);
  }
}

function chmodTree(p: string): void {
  const st = fs.statSync(p);
  if (st.isDirectory()) {
    fs.chmodSync(p, 0o777);
    for (const e of fs.readdirSync(p)) chmodTree(path.join(p, e));
  } else if (!(st.mode & 0o111)) fs.chmodSync(p, st.mode & 0o200 && !(st.mode & 0o044) ? 0o222 : 0o666);
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
  fs.mkdirSync(bin, { recursive: true });
  fs.mkdirSync(workDir, { recursive: true });
  fs.writeFileSync(path.join(bin, 'insmod'), insmodScript(sys), { mode: 0o755 });
  fs.writeFileSync(path.join(bin, 'rmmod'), rmmodScript(sys), { mode: 0o755 });
  const koPath = path.join(workDir, `${PATCH_NAME}.ko`);
  fs.writeFileSync(koPath, koText(PATCH_NAME));
  // The login is the unprivileged test user: let it write the fixture.
  fs.chmodSync(dir, 0o755);
  for (const d of [sys, proc, workDir]) chmodTree(d);
  fs.chmodSync(bin, 0o755);

  const sshd = await startSshd({ env: { PATH: `${bin}:/usr/local/bin:/usr/bin:/bin` } });
  // The patch starts out loaded: run the stand-in as the kernel would have at boot.
  const { execFileSync } = await import('node:child_process');
  execFileSync(path.join(bin, 'insmod'), [koPath]);
  chmodTree(sys);
  // Taint K, as after loading a livepatch (bit 15).
  fs.writeFileSync(path.join(proc, 'sys/kernel/tainted'), `${1 << 15}\n`);

  const alias = 'klp-e2e-target';
  const sshConfig = path.join(dir, 'ssh_config');
  fs.writeFileSync(sshConfig, [
    `Host ${alias}`,
    '  HostName 127.0.0.1',
    `  Port ${sshd.port}`,
    `  User ${TEST_USER}`,
    `  IdentityFile ${sshd.userKey.privateKey}`,
    '  IdentitiesOnly yes',
    `  UserKnownHostsFile ${sshd.knownHosts}`,
    '  StrictHostKeyChecking yes',
    '',
  ].join('\n'));

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

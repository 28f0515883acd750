// What .ci/run and the scripts it calls do on a machine that has none of the
// packages they install: every detection is pointed at an empty root
// (KLP_SYSROOT) and asked what it would install (KLP_INSTALL_DRY_RUN), so the
// install paths are proven without uninstalling anything. Before this, the
// headers probe died under `set -o pipefail` on such a machine, printing nothing.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { escapeRegExp } from '../server/src/engine/util/text';
import { shellcheck } from '../testing/requirements';
import { tempDir } from '../testing/tempDir';

const ROOT = path.join(__dirname, '..');

/** An empty machine: no /usr/src, and a dpkg database that records nothing installed. */
function emptyRoot(): string {
  const root = tempDir('klp-fresh-');
  fs.mkdirSync(path.join(root, 'var/lib/dpkg'), { recursive: true });
  fs.writeFileSync(path.join(root, 'var/lib/dpkg/status'), '');
  return root;
}

function dryRun(script: string, args: string[] = [], env: Record<string, string> = {}) {
  const r = spawnSync(path.join(ROOT, script), args, {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, KLP_SYSROOT: emptyRoot(), KLP_INSTALL_DRY_RUN: '1', ...env },
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

const wouldInstall = (out: string) =>
  out
    .split('\n')
    .filter((l) => /would install: /.test(l))
    .map((l) => l.replace(/^.*would install: /, ''))
    .join(' ')
    .split(/\s+/);

test('scripts/ci/install-test-deps.sh on an empty machine installs sshd, the headers and the build tools, and names the headers package', () => {
  const r = dryRun('scripts/ci/install-test-deps.sh');
  assert.equal(r.status, 0, r.out);
  const pkgs = wouldInstall(r.out);
  for (const p of ['openssh-server', 'openssh-client', 'sudo', 'procps', 'binutils', 'gcc', 'git', 'make', 'xz-utils', 'shellcheck']) {
    assert.ok(pkgs.includes(p), `${p} missing from: ${r.out}`);
  }
  // apt's lists name the newest 6.1 ABI once apt-get update has run (CI's has); before, it says so.
  assert.ok(pkgs.some((p) => /^linux-headers-6\.1\.0-\d+-amd64$/.test(p)) || /once apt-get update has run/.test(r.out), r.out);
});

test('the headers probe picks the newest Debian 6.1 ABI under /usr/src by number, not by string order', () => {
  const root = emptyRoot();
  for (const abi of [9, 57, 28]) fs.mkdirSync(path.join(root, `usr/src/linux-headers-6.1.0-${abi}-amd64`), { recursive: true });
  fs.mkdirSync(path.join(root, 'usr/src/linux-headers-6.1.0-99-common'), { recursive: true });
  const r = spawnSync(path.join(ROOT, 'scripts/ci/install-test-deps.sh'), {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, KLP_SYSROOT: root, KLP_INSTALL_DRY_RUN: '1' },
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^headers: linux-headers-6\.1\.0-57-amd64$/m);
  assert.ok(wouldInstall(r.stdout).includes('linux-headers-6.1.0-57-amd64'), 'the dpkg database of the root records no headers package');
});

test('scripts/testvm/build-image.sh --host-tools on an empty machine installs QEMU, debootstrap and the ssh client', () => {
  const r = dryRun('scripts/testvm/build-image.sh', ['--host-tools']);
  assert.equal(r.status, 0, r.out);
  assert.deepEqual(wouldInstall(r.out).filter(Boolean), ['qemu-system-x86', 'qemu-utils', 'debootstrap', 'e2fsprogs', 'openssh-client']);
});

test('scripts/e2e/install-code-server.sh on an empty machine installs Chromium, the addon build tools and code-server', () => {
  const r = dryRun('scripts/e2e/install-code-server.sh', [], { CS_DIR: path.join(tempDir('klp-cs-'), 'none') });
  assert.equal(r.status, 0, r.out);
  const pkgs = wouldInstall(r.out);
  for (const p of ['chromium', 'ripgrep', 'libkrb5-dev', 'python3', 'make', 'g++'])
    assert.ok(pkgs.includes(p), `${p} missing from: ${r.out}`);
  assert.match(r.out, /would install: code-server \d+\.\d+\.\d+ into /);
});

test('.ci/run installs through the tested script and runs the README test command', () => {
  const ci = fs.readFileSync(path.join(ROOT, '.ci/run'), 'utf8');
  assert.match(ci, /^scripts\/ci\/install-test-deps\.sh$/m);
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const testCommand = /^(npm ci && npm test)\b/m.exec(readme)?.[1];
  assert.ok(testCommand, 'README.md names no test command');
  assert.match(ci, new RegExp(`^${escapeRegExp(testCommand)}$`, 'm'));
});

test('every shell script of the project passes shellcheck', { skip: shellcheck() ?? false }, () => {
  const scripts = execFileSync('git', ['ls-files', '.ci/run', '*.sh'], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter(Boolean);
  assert.ok(scripts.length >= 10, scripts.join(' '));
  const r = spawnSync('shellcheck', ['-x', '-P', 'SCRIPTDIR', ...scripts], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

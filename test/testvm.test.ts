// The test-VM scripts' ssh setup, checked without building or booting a VM.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../testing/tempDir';

const SCRIPTS = path.join(__dirname, '..', 'scripts', 'testvm');

test("the image's sshd drops a client that stopped answering within two minutes (ClientAlive)", () => {
  const recipe = fs.readFileSync(path.join(SCRIPTS, 'build-image.sh'), 'utf8');
  const conf = /sshd_config\.d\/10-klp-testvm\.conf" <<'EOF'\n([\s\S]*?)\nEOF\n/.exec(recipe)?.[1];
  assert.ok(conf, 'build-image.sh writes 10-klp-testvm.conf');
  const value = (key: string): number => Number(new RegExp(`^${key}\\s+(\\d+)$`, 'm').exec(conf)?.[1] ?? NaN);
  const interval = value('ClientAliveInterval');
  const count = value('ClientAliveCountMax');
  assert.ok(interval > 0 && count > 0, `ClientAliveInterval ${interval}, ClientAliveCountMax ${count}`);
  assert.ok(interval * count <= 120, `a vanished client holds the lock for ${interval * count} s`);
});

/** TVM_MUX as lib.sh computes it for a cache dir too long for a socket path. */
function muxPath(env: Record<string, string>): { code: number; out: string; err: string } {
  const longCache = path.join(tempDir('klp-tvm-cache-'), 'c'.repeat(90));
  const r = spawnSync('bash', ['-c', 'source "$1"; printf "%s\\n" "$TVM_MUX"', 'lib', path.join(SCRIPTS, 'lib.sh')], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', KLP_CACHE: longCache, ...env },
    encoding: 'utf8',
  });
  return { code: r.status ?? -1, out: r.stdout.trim(), err: r.stderr };
}

test('a control socket that does not fit under the cache dir goes into a private directory, not a guessable name in /tmp', () => {
  const tmp = tempDir('klp-tvm-tmp-');
  fs.chmodSync(tmp, 0o1777); // like /tmp
  const r = muxPath({ TMPDIR: tmp });
  assert.equal(r.code, 0, r.err);
  const dir = path.dirname(r.out);
  assert.notEqual(dir, tmp, `the socket ${r.out} sits directly in the shared temp dir`);
  const st = fs.lstatSync(dir);
  assert.ok(st.isDirectory() && st.uid === process.getuid!(), `${dir} is a directory of ours`);
  assert.equal(st.mode & 0o777, 0o700);
  assert.ok(Buffer.byteLength(r.out) <= 100);
  // The same directory again next time (stop.sh must find start.sh's socket).
  assert.equal(muxPath({ TMPDIR: tmp }).out, r.out);
});

test(
  'a socket directory someone else created first, or a symlink in its place, is refused',
  { skip: process.getuid?.() !== 0 ? 'needs root to chown' : undefined },
  () => {
    // Only ever touch paths inside our own temp dir.
    const tmp = tempDir('klp-tvm-tmp-');
    fs.chmodSync(tmp, 0o1777);
    const dir = path.join(tmp, `klp-testvm-${process.getuid!()}`);
    fs.mkdirSync(dir, { mode: 0o777 });
    fs.chownSync(dir, 65534, 65534); // nobody got there first
    const taken = muxPath({ TMPDIR: tmp });
    assert.notEqual(taken.code, 0, taken.out);
    assert.match(taken.err, /not a directory of ours/);
    fs.rmdirSync(dir);
    fs.symlinkSync(tempDir('klp-tvm-elsewhere-'), dir);
    const linked = muxPath({ TMPDIR: tmp });
    assert.notEqual(linked.code, 0, linked.out);
    assert.match(linked.err, /not a directory of ours/);
  },
);

test('lib.sh passes shellcheck', { skip: spawnSync('shellcheck', ['--version']).status !== 0 ? 'no shellcheck' : undefined }, () => {
  execFileSync('shellcheck', [path.join(SCRIPTS, 'lib.sh')]);
});

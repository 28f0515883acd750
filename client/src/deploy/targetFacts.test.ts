// The target facts the client reads for the language server, through a real sshd on loopback
// against a target-shaped fixture: read once per release and Module.symvers, served from the
// cache after that, read again when the release or Module.symvers changes, and never read in
// an untrusted workspace.

import { after, before, describe, test } from '../../../testing/nodeTest';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SshTarget } from '../remote/ssh';
import { startSshd, sshdUnavailable, type TestSshd } from '../../../testing/sshd';
import { tempDir } from '../../../testing/tempDir';
import type { DidChangeTargetFactsParams } from '../../../server/src/protocol';
import type { TargetSettings } from './operations';
import { readTargetFacts, TargetFactsSync, type TargetFactOptions } from './targetFacts';
import { findRemoteSymvers } from './unitBuild';
import { createHash } from 'node:crypto';

const KALLSYMS = 'ffffffff81001000 T demo_append\nffffffff81001010 t demo_room\n';
const SYMVERS = '0x12345678\tdemo_append\tvmlinux\tEXPORT_SYMBOL_GPL\t\n';
const CONFIG = '# comment\nCONFIG_DEMO=y\n';

/** A target's files under one folder: proc/kallsyms, lib/<release>/Module.symvers, boot/config-<release>. */
function fixture(): { root: string; settings: TargetSettings; options: TargetFactOptions; cache: string } {
  const root = tempDir('klp-facts-');
  fs.mkdirSync(path.join(root, 'proc'));
  fs.mkdirSync(path.join(root, 'boot'));
  fs.writeFileSync(path.join(root, 'proc/kallsyms'), KALLSYMS);
  for (const r of ['6.1.0-a', '6.1.0-b']) {
    fs.mkdirSync(path.join(root, 'lib', r), { recursive: true });
    fs.writeFileSync(path.join(root, 'lib', r, 'Module.symvers'), SYMVERS);
    fs.writeFileSync(path.join(root, 'boot', `config-${r}`), CONFIG);
  }
  // The test login is not root: let it read the fixture.
  fs.chmodSync(root, 0o755);
  for (const d of ['proc', 'boot', 'lib', 'lib/6.1.0-a', 'lib/6.1.0-b']) fs.chmodSync(path.join(root, d), 0o755);
  return {
    root,
    settings: {
      name: 'vm',
      destination: '',
      workDir: path.join(root, 'work'),
      backend: 'kbuild',
      sysfsRoot: path.join(root, 'sys'),
      procRoot: path.join(root, 'proc'),
    },
    options: {
      symversPaths: (r) => [path.join(root, 'lib', r, 'Module.symvers')],
      configPaths: (r) => [path.join(root, 'boot', `config-${r}`)],
    },
    cache: path.join(tempDir('klp-facts-cache-'), 'targets'),
  };
}

describe('target facts read over SSH for the language server', { skip: sshdUnavailable(), timeout: 120_000 }, () => {
  let sshd: TestSshd;
  before(async () => {
    sshd = await startSshd();
  });
  after(async () => {
    await sshd?.stop();
  });

  test('read once per release, cached privately, served from the cache, read again for another Module.symvers', async () => {
    const { root, settings, options, cache } = fixture();
    const ssh = new SshTarget(sshd.target());
    const first = await readTargetFacts(ssh, settings, cache, {}, '6.1.0-a', options);
    assert.equal(first.fromCache, false);
    assert.equal(first.release, '6.1.0-a');
    assert.equal(fs.readFileSync(first.kallsyms!, 'utf8'), KALLSYMS);
    assert.equal(fs.readFileSync(first.symvers!, 'utf8'), SYMVERS);
    assert.equal(fs.readFileSync(first.config!, 'utf8'), CONFIG);
    assert.equal(path.dirname(first.kallsyms!), path.join(cache, '6.1.0-a'));
    for (const f of [first.kallsyms!, first.symvers!, first.config!]) assert.equal(fs.statSync(f).mode & 0o777, 0o600, f);

    // Served from the cache: the target's kallsyms is not read again (it is gone now).
    fs.renameSync(path.join(root, 'proc/kallsyms'), path.join(root, 'proc/kallsyms.away'));
    const second = await readTargetFacts(ssh, settings, cache, {}, '6.1.0-a', options);
    assert.equal(second.fromCache, true);
    assert.deepEqual({ ...second, fromCache: false }, first);

    // A rebuilt kernel of the same release: another Module.symvers, so everything is read again.
    fs.renameSync(path.join(root, 'proc/kallsyms.away'), path.join(root, 'proc/kallsyms'));
    fs.writeFileSync(path.join(root, 'proc/kallsyms'), `${KALLSYMS}ffffffff81001020 t demo_new\n`);
    fs.writeFileSync(path.join(root, 'lib/6.1.0-a/Module.symvers'), `${SYMVERS}0x9\tdemo_new\tvmlinux\tEXPORT_SYMBOL\t\n`);
    const third = await readTargetFacts(ssh, settings, cache, {}, '6.1.0-a', options);
    assert.equal(third.fromCache, false);
    assert.match(fs.readFileSync(third.kallsyms!, 'utf8'), /demo_new/);
    assert.match(fs.readFileSync(third.symvers!, 'utf8'), /demo_new/);
  });

  test('what the target lacks is null, and the release comes from uname -r when not given', async () => {
    const { root, settings, options, cache } = fixture();
    fs.rmSync(path.join(root, 'boot'), { recursive: true });
    const f = await readTargetFacts(new SshTarget(sshd.target()), settings, cache, {}, undefined, {
      ...options,
      symversPaths: () => [path.join(root, 'none')],
    });
    assert.equal(f.release, (await new SshTarget(sshd.target()).runChecked(['uname', '-r'])).stdout.trim());
    assert.equal(f.symvers, null);
    assert.equal(f.config, null);
    assert.equal(fs.readFileSync(f.kallsyms!, 'utf8'), KALLSYMS);
  });

  test('the sync sends facts once per target and release, keeps them while the target is unreachable, and reads nothing when untrusted', async () => {
    const { settings, options, cache } = fixture();
    const sent: DidChangeTargetFactsParams[] = [];
    const log: string[] = [];
    const sync = new TargetFactsSync({ cacheDir: cache, send: (p) => void sent.push(p), log: (m) => void log.push(m), options });
    const target = { settings, ssh: new SshTarget(sshd.target()) };

    await sync.update(target, '6.1.0-a', false);
    assert.equal(sent.length, 0);
    assert.ok(!fs.existsSync(cache), 'nothing read or cached in Restricted Mode');

    await sync.update(target, '6.1.0-a', true);
    await sync.update(target, '6.1.0-a', true);
    await sync.update(target, null, true); // unreachable for a moment
    assert.equal(sent.length, 1, JSON.stringify(sent));
    assert.deepEqual(sent[0].facts, {
      target: 'vm',
      release: '6.1.0-a',
      kallsyms: path.join(cache, '6.1.0-a', 'kallsyms'),
      symvers: path.join(cache, '6.1.0-a', 'Module.symvers'),
      config: path.join(cache, '6.1.0-a', 'config'),
    });
    assert.match(log[0], /^vm: target facts of 6\.1\.0-a read in \d+ ms \(kallsyms, symvers, config\)$/);

    // The target booted another kernel: its facts replace the old ones.
    await sync.update(target, '6.1.0-b', true);
    assert.equal(sent.length, 2);
    assert.equal(sent[1].facts?.release, '6.1.0-b');
    // Back to the first: from the cache, sent again.
    await sync.update(target, '6.1.0-a', true);
    assert.equal(sent.length, 3);
    assert.match(log[2], /6\.1\.0-a from the cache/);
    // No target any more: the server is told to drop them.
    await sync.update(undefined, null, true);
    assert.deepEqual(sent[3], { facts: null });
    await sync.update(undefined, null, true);
    assert.equal(sent.length, 4);
  });

  test('a target that cannot be read is logged and tried again on the next state read', async () => {
    const { settings, options, cache } = fixture();
    const sent: DidChangeTargetFactsParams[] = [];
    const log: string[] = [];
    const sync = new TargetFactsSync({ cacheDir: cache, send: (p) => void sent.push(p), log: (m) => void log.push(m), options });
    const bad = { settings, ssh: new SshTarget(sshd.target({ user: 'nobody-here' })) };
    await sync.update(bad, '6.1.0-a', true);
    assert.equal(sent.length, 0);
    assert.match(log[0], /^vm: cannot read the target facts of 6\.1\.0-a: /);
    await sync.update({ settings, ssh: new SshTarget(sshd.target()) }, '6.1.0-a', true);
    assert.equal(sent.length, 1);
  });
  test("Module.symvers: the first candidate the target has, in the candidates' order, with its sha256", async () => {
    const { root } = fixture();
    const ssh = new SshTarget(sshd.target());
    const b = path.join(root, 'lib', '6.1.0-b', 'Module.symvers');
    const expected = createHash('sha256').update(SYMVERS).digest('hex');
    // A missing first candidate is passed over; of two present ones the first wins.
    assert.deepEqual(
      await findRemoteSymvers(ssh, '6.1.0-b', {}, [path.join(root, 'none'), b, path.join(root, 'lib', '6.1.0-a', 'Module.symvers')]),
      {
        path: b,
        sha256: expected,
      },
    );
    assert.equal(await findRemoteSymvers(ssh, '6.1.0-b', {}, [path.join(root, 'none')]), null);
  });
});

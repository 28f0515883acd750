import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from '../../../../testing/nodeTest';
import { buildSshArgs, parseDestination } from './argv';
import { targetControlDir } from './controlDir';
import { SshError } from './errors';

test('destinations: aliases, user@host:port, IPv6, ssh:// and option injection', () => {
  assert.deepEqual(parseDestination('testvm'), { target: 'testvm', user: undefined, host: 'testvm', port: undefined });
  assert.deepEqual(parseDestination('root@10.0.2.15:2222'), { target: 'root@10.0.2.15', user: 'root', host: '10.0.2.15', port: 2222 });
  assert.deepEqual(parseDestination('ssh://me@vm:22'), { target: 'me@vm', user: 'me', host: 'vm', port: 22 });
  assert.deepEqual(parseDestination('root@[::1]:2200'), { target: 'root@::1', user: 'root', host: '::1', port: 2200 });
  assert.equal(parseDestination('fe80::1').port, undefined);
  for (const bad of ['-oProxyCommand=sh', 'a b', '', 'host:99999', '@host']) assert.throws(() => parseDestination(bad), SshError);
});

test('argv: safe defaults, host keys always verified, multiplexing only off Windows', () => {
  const a = buildSshArgs({ destination: 'root@vm:2222', controlDir: '/tmp/cm dir', identityFile: '/k/id' });
  const opts = a.filter((_, i) => a[i - 1] === '-o');
  const sub = path.basename(targetControlDir({ destination: 'root@vm:2222', controlDir: '/tmp/cm dir', identityFile: '/k/id' }));
  for (const o of [
    'BatchMode=yes',
    'ConnectTimeout=10',
    'ServerAliveInterval=15',
    'ServerAliveCountMax=3',
    'StrictHostKeyChecking=yes',
    'ControlMaster=auto',
    `ControlPath="/tmp/cm dir/${sub}/%C"`,
    'IdentitiesOnly=yes',
  ]) {
    assert.ok(opts.includes(o), `${o} in ${opts.join(' ')}`);
  }
  assert.deepEqual(a.slice(-2), ['--', 'root@vm']);
  assert.equal(a[a.indexOf('-p') + 1], '2222');
  const win = buildSshArgs({ destination: 'vm', controlDir: '/x', platform: 'win32' });
  assert.ok(win.includes('ControlMaster=no') && win.includes('ControlPath=none'));
  assert.ok(buildSshArgs({ destination: 'vm', strictHostKeyChecking: 'accept-new' }).includes('StrictHostKeyChecking=accept-new'));
  assert.throws(() => buildSshArgs({ destination: 'vm', extraOptions: ['StrictHostKeyChecking=no'] }), /host keys are always verified/);
  assert.throws(() => buildSshArgs({ destination: 'vm', extraOptions: ['UserKnownHostsFile /dev/null'] }), /host keys are always verified/);
  assert.throws(() => buildSshArgs({ destination: 'vm', strictHostKeyChecking: 'no' as 'yes' }), SshError);
  assert.ok(buildSshArgs({ destination: 'vm', knownHostsFile: '/a%b' }).includes('UserKnownHostsFile=/a%%b'));
});

test('targets that differ only in ssh config file, known_hosts or host-key policy get a socket directory each', () => {
  const base = { destination: 'root@vm:2222', controlDir: '/run/cm' };
  const dirs = [
    base,
    { ...base, configFile: '/home/u/.ssh/lab_config' },
    { ...base, strictHostKeyChecking: 'accept-new' as const },
    { ...base, knownHostsFile: '/tmp/kh' },
    { ...base, identityFile: '/k/other' },
  ].map((c) => targetControlDir(c));
  assert.equal(new Set(dirs).size, dirs.length, dirs.join(' '));
  for (const d of dirs) assert.match(d, /^\/run\/cm\/[0-9a-f]{12}$/);
  // The same target always finds its own master again.
  assert.equal(targetControlDir({ ...base }), dirs[0]);
  const args = buildSshArgs({ ...base, configFile: '/home/u/.ssh/lab_config' });
  assert.equal(args[args.indexOf('ControlPath=' + dirs[1] + '/%C')], `ControlPath=${dirs[1]}/%C`);
});

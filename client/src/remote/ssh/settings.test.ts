import assert from 'node:assert/strict';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from '../../../../testing/nodeTest';
import { buildSshArgs } from './argv';
import { configFromSetting } from './settings';

test('a livepatch.targets entry maps to a transport config; accept-new only when opted in', () => {
  assert.deepEqual(configFromSetting({ destination: 'testvm' }, { sshPath: '/usr/bin/ssh', controlDir: '/tmp/cm' }), {
    destination: 'testvm',
    sshPath: '/usr/bin/ssh',
    configFile: undefined,
    sudo: 'root',
    strictHostKeyChecking: 'yes',
    controlDir: '/tmp/cm',
    platform: undefined,
  });
  const c = configFromSetting({ destination: 'u@vm:2222', sshConfigFile: '/x/ssh_config', privilege: 'sudo', acceptNewHostKey: true });
  assert.deepEqual([c.configFile, c.sudo, c.strictHostKeyChecking], ['/x/ssh_config', 'sudo', 'accept-new']);
  assert.ok(buildSshArgs(c).includes('/x/ssh_config'));
  // JSON settings get no shell: `~/` is expanded here, a `~user` or a `~` elsewhere is left alone.
  assert.equal(
    configFromSetting({ destination: 'vm', sshConfigFile: '~/.ssh/lab_config' }).configFile,
    path.join(os.homedir(), '.ssh/lab_config'),
  );
  assert.equal(configFromSetting({ destination: 'vm', sshConfigFile: '~bob/cfg' }).configFile, '~bob/cfg');
});

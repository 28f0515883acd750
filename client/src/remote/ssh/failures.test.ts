import assert from 'node:assert/strict';
import { test } from '../../../../testing/nodeTest';
import { classifyFailure } from './failures';

test("exit 255 is judged on ssh's own messages (ssh -E), never on what the remote command printed", () => {
  const ctx = { destination: 'vm', sudo: false };
  // The remote command printed something that looks like an ssh failure and exited 255.
  assert.equal(classifyFailure('Permission denied (publickey).\n', 255, { ...ctx, sshLog: '' }), undefined);
  assert.equal(classifyFailure('ssh: connect to host x port 22: Connection refused\n', 255, { ...ctx, sshLog: '' }), undefined);
  // ssh's log says what happened, whatever the remote printed.
  const e = classifyFailure('make: *** Error 2\n', 255, { ...ctx, sshLog: 'Timeout, server vm not responding.\r\n' });
  assert.equal(e?.kind, 'connection-lost');
  assert.ok(!e!.message.includes('make:'), e!.message);
});

test("sudo failures are recognised from their messages; other exits stay the command's own", () => {
  const ctx = { destination: 'vm', sudo: true };
  assert.equal(classifyFailure('sudo: a password is required\n', 1, ctx)?.kind, 'sudo-password');
  assert.equal(classifyFailure("env: 'sudo': No such file or directory\n", 127, ctx)?.kind, 'sudo-missing');
  assert.equal(classifyFailure('sudo: a password is required\n', 1, { ...ctx, sudo: false }), undefined);
  assert.equal(classifyFailure('make: *** [all] Error 2\n', 2, ctx), undefined);
  assert.equal(classifyFailure('ssh: connect to host vm port 22: No route to host\r\n', 255, ctx)?.kind, 'unreachable');
  assert.equal(classifyFailure('Timeout, server vm not responding.\r\n', 255, ctx)?.kind, 'connection-lost');
});

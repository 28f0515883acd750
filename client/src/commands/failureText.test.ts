import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SshError } from '../remote/ssh';
import { failureText } from './failureText';

test("a failure's toast is one short line; the remote stderr and ssh's messages go to the log only", () => {
  const stderr = Array.from({ length: 8 }, (_, i) => `make[2]: *** line ${i} of a long build log`).join('\n');
  const err = new SshError('remote-failed', `\`make\` failed on vm with exit code 2:\n${stderr}`, {
    stderrTail: stderr,
    sshLog: 'debug1: client_input_channel_req: channel 0 rtype exit-status reply 0',
  });
  const t = failureText('building livepatch_x on vm', err);
  assert.equal(t.toast, 'Livepatch: building livepatch_x on vm failed: `make` failed on vm with exit code 2: (details in the log)');
  assert.ok(!t.toast.includes('\n') && !t.toast.includes('make[2]') && !t.toast.includes('debug1'));
  assert.ok(t.log.includes('make[2]: *** line 7 of a long build log'));
  assert.match(t.log, /^ssh:\ndebug1: client_input_channel_req/m);
});

test('a long one-line message is cut; a terminal command to verify stays in the toast', () => {
  const err = new SshError('host-key-unknown', `vm is not in known_hosts ${'x'.repeat(500)}`, { terminalCommand: 'ssh vm' });
  const t = failureText('loading', err);
  assert.ok(t.toast.length < 400, `${t.toast.length}`);
  assert.match(t.toast, /… Verify in a terminal: ssh vm$/);
  assert.equal(failureText('x', new Error('plain')).toast, 'Livepatch: x failed: plain');
});

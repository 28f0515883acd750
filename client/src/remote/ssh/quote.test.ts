import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from '../../../../testing/nodeTest';
import { SshError } from './errors';
import { assertModuleName, assertRemotePath, shJoin, shQuote } from './quote';
import { remoteRunCommand } from './wrappers';

const NASTY = `it's a "test" $(touch /tmp/klp-pwned) ; rm -rf /nonexistent-klp; \`id\` \\ $HOME *\n\ttab & | > x < y # end`;

test('shQuote: every word survives a real POSIX shell verbatim', () => {
  for (const w of ['', 'plain', 'a b', "it's", NASTY, '-n', '~root', '=x', '%s', 'ünïcødé', "''", '\\']) {
    const out = execFileSync('sh', ['-c', `printf '%s' ${shQuote(w)}`], { encoding: 'utf8' });
    assert.equal(out, w);
  }
  assert.equal(shQuote('/lib/modules/6.1.0/build'), '/lib/modules/6.1.0/build');
  assert.equal(shJoin(['echo', 'a b']), "echo 'a b'");
  assert.throws(() => shQuote('a\0b'), SshError);
});

test('names and paths that reach the remote shell are validated', () => {
  assert.equal(assertModuleName('livepatch-fix_1'), 'livepatch-fix_1');
  for (const bad of ['foo;rm', 'a b', '', '../x', 'x$y', 'a\nb', 'x'.repeat(56)]) assert.throws(() => assertModuleName(bad), /module name/);
  assert.equal(assertRemotePath('/root/work dir/a.patch'), '/root/work dir/a.patch');
  for (const bad of ['', 'a\nb', 'a\0b', '-rf']) assert.throws(() => assertRemotePath(bad), /remote path/);
  assert.throws(() => remoteRunCommand(['echo', 'a\0b'], { sudo: false, inputBytes: 0 }), /NUL/);
});
